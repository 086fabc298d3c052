"""multipart/form-data bodies parsed as they arrive, each file part streamed into a stage file.

The framing is python-multipart's push parser (the one Starlette uses): the
body is fed in pieces of any size, and each part's content comes back as
slices of those pieces, written on without another copy.  Part headers are
read with aiohttp's ``Content-Disposition`` helpers (``filename*`` included).
All of it is blocking work for a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from stagedb.errors import BadArguments, MalformedBody
from stagedb.storage.writer import StorageFile

CURL_HINT = "send each file as a part with a filename, e.g. curl -F 'upload=@/path/to/file'"

OpenFile = Callable[[str], StorageFile]
"""Starts the stage file for a part, given the part's file name."""


class MultipartFiles:
    """Receives one multipart/form-data body; every part must be a file.

    Feed the body with :meth:`feed`, then call :meth:`finish`.  A part's file
    is committed when its closing boundary arrives; on any error the part in
    progress is discarded (call :meth:`abort` if the body stops arriving).
    """

    def __init__(self, boundary: bytes, open_file: OpenFile) -> None:
        self.open_file = open_file
        self.files: list[str] = []
        self.received = 0
        self._current: StorageFile | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def feed(self, data: bytes) -> None:
        """Parse the next piece of the body."""
        self.received += len(data)
        try:
            self._parser.write(data)
        except MultipartParseError as error:
            self.abort()
            raise MalformedBody(f"Malformed multipart body: {error}") from None
        except BaseException:
            self.abort()
            raise

    def finish(self) -> list[str]:
        """Check the body ended with its closing boundary; return the files stored."""
        if not self._ended:
            self.abort()
            raise MalformedBody("The multipart body ends before its closing boundary (truncated?)")
        if not self.files:
            raise BadArguments(f"The request holds no file; {CURL_HINT}")
        return self.files

    def abort(self) -> None:
        """Discard the file of the part in progress, if any."""
        current, self._current = self._current, None
        if current is not None:
            current.discard()

    # -- parser callbacks -------------------------------------------------------

    def _part_begin(self) -> None:
        self._headers = []

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers.append((bytes(self._field), bytes(self._value)))
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        filename = self._filename()
        self._current = self.open_file(filename)
        self._name = filename

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            raise MalformedBody("Malformed multipart body: content outside a part")
        self._current.write(memoryview(data)[start:end])

    def _part_end(self) -> None:
        current, self._current = self._current, None
        if current is None:
            return
        try:
            current.commit()
        except BaseException:
            current.discard()
            raise
        self.files.append(self._name)

    def _end(self) -> None:
        self._ended = True

    def _filename(self) -> str:
        disposition = next(
            (value for field, value in self._headers if field.lower() == b"content-disposition"),
            None,
        )
        if disposition is None:
            raise BadArguments(f"A part has no filename; {CURL_HINT}")
        try:
            text = disposition.decode("utf-8")
        except UnicodeDecodeError:
            raise BadArguments("The file name is not valid UTF-8") from None
        _kind, params = parse_content_disposition(text)
        filename = content_disposition_filename(params, "filename")
        if not filename:
            raise BadArguments(f"A part has no filename; {CURL_HINT}")
        return filename
