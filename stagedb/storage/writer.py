"""Writing stage files from a worker thread, for the fronts that receive bytes.

The engine hands a front a :class:`FileWriter` for a stage it resolved (and
checked); the front opens one :class:`StorageFile` per file it receives and
writes, commits or discards it with blocking calls from its worker thread.
Storage failures surface as StorageOther.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import TracebackType

from stagedb.errors import ClientDisconnected, StageChangedDuringUpload, StorageOther
from stagedb.storage.atomic import (
    AtomicFile,
    Buffer,
    LocalAtomicFile,
    SourceClosed,
    WaitReadable,
)
from stagedb.storage.files import StageFiles
from stagedb.storage.paths import check_file_path


class StorageFile:
    """A stage file being written (see storage.atomic), with storage failures as StorageOther.

    Use it as a context manager: leaving the block by an exception before
    :meth:`commit` discards the file.
    """

    def __init__(self, path: str, target: AtomicFile) -> None:
        self.path = path
        self.target = target
        self.committed = False

    def __enter__(self) -> StorageFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None and not self.committed:
            self.discard()

    @property
    def can_splice(self) -> bool:
        """Whether :meth:`splice_from` works for this file (a local disk, on Linux)."""
        return isinstance(self.target, LocalAtomicFile) and self.target.can_splice

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self.target.size

    def write(self, data: Buffer) -> None:
        """Append ``data`` (blocking)."""
        with self._storage_errors():
            self.target.write(data)

    def splice_from(self, source: int, count: int, wait_readable: WaitReadable) -> None:
        """Append ``count`` bytes from descriptor ``source`` inside the kernel (blocking).

        Only where :attr:`can_splice`; a source that ends early is ClientDisconnected.
        """
        with self._storage_errors():
            try:
                assert isinstance(self.target, LocalAtomicFile)
                self.target.splice_from(source, count, wait_readable)
            except (SourceClosed, ConnectionError):
                raise ClientDisconnected("The upload ended before all its bytes arrived") from None

    def commit(self) -> int:
        """Make the file visible; return its size (blocking)."""
        with self._storage_errors():
            try:
                size = self.target.commit()
            except FileNotFoundError:  # only DROP / CREATE OR REPLACE delete files being written
                raise StageChangedDuringUpload(
                    f"The upload of '{self.path}' was cancelled: its stage was dropped or "
                    f"replaced meanwhile"
                ) from None
        self.committed = True
        return size

    def discard(self) -> None:
        """Drop the file (blocking)."""
        self.target.discard()

    @contextlib.contextmanager
    def _storage_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise StorageOther(f"Writing '{self.path}' failed: {error.strerror or error}") from None


@dataclass(frozen=True)
class FileWriter:
    """Starts atomic files in one stage; blocking, for a worker thread."""

    files: StageFiles

    def open(self, path: str) -> StorageFile:
        """Start writing ``path``; it becomes visible only when committed."""
        check_file_path(path)
        try:
            return StorageFile(path, self.files.open_atomic(path))
        except OSError as error:
            raise StorageOther(f"Writing '{path}' failed: {error.strerror or error}") from None

    async def write_stream(self, path: str, chunks: AsyncIterator[bytes]) -> int:
        """Store ``path`` from ``chunks`` (each write in a worker thread); return its size.

        It becomes visible only once complete; on any failure, cancellation
        included, nothing of it remains.
        """
        target = await asyncio.to_thread(self.open, path)
        try:
            async for chunk in chunks:
                await asyncio.to_thread(target.write, chunk)
            return await asyncio.to_thread(target.commit)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(target.discard))
            raise
