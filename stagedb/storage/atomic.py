"""Files that become visible only once complete: the one way stagedb writes a stage file.

An :class:`AtomicFile` is written with blocking calls from one worker thread
(never from the event loop), then committed or discarded:

- on a local disk the bytes go to a temporary sibling (``.stagedb-tmp-...``,
  never listed) that ``commit`` renames over the final name;
- in an object store they stream into a multipart upload of the final key,
  which the store makes visible only when it completes (``discard`` aborts it);
- other fsspec filesystems (e.g. ``memory://``) get a temporary sibling moved
  into place.

On Linux a local file can also be filled straight from another file
descriptor (a socket) with ``splice(2)``: the bytes move from the socket to
the page cache inside the kernel, never copied through Python.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from stagedb.storage.paths import TEMP_MARKER
from stagedb.storage.preallocate import Preallocation

PART_SIZE = 5 * 1024 * 1024
"""Bytes per part of a multipart upload to an object store (S3's minimum is 5 MiB)."""

SPLICE_SIZE = 1024 * 1024
"""Bytes moved per ``splice`` call (the largest pipe an unprivileged process gets)."""

_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, Linux only (Python >= 3.10 names it)

Buffer = bytes | bytearray | memoryview
WaitReadable = Callable[[], None]
"""Blocks until the source descriptor is readable; raises to give up (timeout, shutdown)."""


class SourceClosed(Exception):
    """The descriptor a file was being filled from reached its end too early."""


class AtomicFile(Protocol):
    """A stage file being written; visible under its name only after :meth:`commit`."""

    @property
    def size(self) -> int:
        """Bytes written so far."""

    def write(self, data: Buffer) -> None:
        """Append ``data``."""

    def commit(self) -> int:
        """Make the file visible under its name; return its size."""

    def discard(self) -> None:
        """Drop everything written; the name keeps its previous content (or none)."""


def temp_sibling(path: str) -> str:
    """A fresh temporary name in ``path``'s directory (never listed by LIST)."""
    directory, _, basename = path.rpartition("/")
    return f"{directory}/{TEMP_MARKER}{uuid.uuid4().hex}-{basename}".lstrip("/")


def local_path(fs: AbstractFileSystem, path: str) -> str | None:
    """The operating system's path of ``path`` if ``fs`` is a local directory, else None."""
    inner = getattr(fs, "fs", None)
    if not isinstance(inner, LocalFileSystem):
        return None
    joined: str = fs._join(path)
    return joined


class LocalAtomicFile:
    """A file on a local disk, written to a temporary sibling, renamed into place."""

    def __init__(self, final_path: str) -> None:
        self.final_path = final_path
        directory, _, basename = final_path.rpartition("/")
        try:
            os.makedirs(directory or ".", exist_ok=True)
        except FileExistsError:  # a file stands where a folder of the path should be
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
        self.temp_path = f"{directory}/{TEMP_MARKER}{uuid.uuid4().hex}-{basename}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self.fd = os.open(self.temp_path, flags, 0o644)
        self.size = 0
        self.blocks = Preallocation(self.fd)

    def write(self, data: Buffer) -> None:
        """Append ``data`` (all of it: short writes are continued)."""
        view = memoryview(data)
        self.blocks.before_write(self.size + len(view))
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
            self.size += written

    can_splice = hasattr(os, "splice")
    """Whether :meth:`splice_from` works here (Linux)."""

    def splice_from(self, source: int, count: int, wait_readable: WaitReadable) -> None:
        """Append exactly ``count`` bytes read from the non-blocking descriptor ``source``.

        Uses ``splice(2)`` through a pipe (no copy through user space); only
        where :attr:`can_splice`.  Raises :class:`SourceClosed` if ``source``
        ends first.
        """
        self.blocks.before_write(self.size + count, known_end=self.size + count)
        pipe_out, pipe_in = os.pipe()
        try:
            with contextlib.suppress(OSError):  # a smaller pipe only means more calls
                import fcntl

                fcntl.fcntl(pipe_in, _F_SETPIPE_SZ, SPLICE_SIZE)
            left = count
            while left > 0:
                try:
                    moved = os.splice(
                        source, pipe_in, min(left, SPLICE_SIZE),
                        flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK,
                    )  # fmt: skip
                except BlockingIOError:
                    wait_readable()
                    continue
                if moved == 0:
                    raise SourceClosed(f"the source ended {left} bytes early")
                left -= moved
                while moved:
                    stored = os.splice(pipe_out, self.fd, moved, flags=os.SPLICE_F_MOVE)
                    moved -= stored
                    self.size += stored
        finally:
            os.close(pipe_out)
            os.close(pipe_in)

    def commit(self) -> int:
        """Close the temporary file and rename it over the final name."""
        self.blocks.release_tail(self.size)
        os.close(self.fd)
        self.fd = -1
        os.replace(self.temp_path, self.final_path)
        return self.size

    def discard(self) -> None:
        """Close and delete the temporary file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)


class FsspecAtomicFile:
    """A file on any other fsspec filesystem.

    ``in_place`` (object stores): the final key is written directly, since
    the store publishes it only when the multipart upload completes.
    Otherwise a temporary sibling is moved into place.
    """

    def __init__(self, fs: AbstractFileSystem, path: str, in_place: bool) -> None:
        self.fs = fs
        self.path = path
        self.size = 0
        if in_place:
            self.temp: str | None = None
            self.handle: Any = fs.open(path, "wb", block_size=PART_SIZE)
        else:
            directory = path.rpartition("/")[0]
            fs.makedirs(directory, exist_ok=True)
            self.temp = temp_sibling(path)
            self.handle = fs.open(self.temp, "wb")

    def write(self, data: Buffer) -> None:
        """Append ``data``."""
        self.handle.write(data)
        self.size += len(data)

    def commit(self) -> int:
        """Complete the upload (or move the temporary file into place)."""
        self.handle.close()
        if self.temp is not None:
            self.fs.mv(self.temp, self.path)
        return self.size

    def discard(self) -> None:
        """Abort the upload (or delete the temporary file)."""
        if self.temp is None:
            self.handle.discard()  # aborts the multipart upload
            self.handle.closed = True  # so that close() at garbage collection cannot commit
            return
        try:
            self.handle.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.temp)
