"""Writing stage files from a worker thread, for the fronts that receive bytes.

The engine hands a front a :class:`FileWriter` for a stage it resolved (and
checked); the front opens one :class:`StorageFile` per file it receives and
writes, commits or discards it with blocking calls from its worker thread.
Storage failures surface as StorageOther.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from stagedb.errors import ClientDisconnected, StorageOther
from stagedb.storage.atomic import (
    AtomicFile,
    Buffer,
    SourceClosed,
    WaitReadable,
    copy_from_descriptor,
)
from stagedb.storage.files import StageFiles
from stagedb.storage.paths import check_file_path


class StorageFile:
    """A stage file being written (see storage.atomic), with storage failures as StorageOther."""

    def __init__(self, path: str, target: AtomicFile) -> None:
        self.path = path
        self.target = target

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self.target.size

    def write(self, data: Buffer) -> None:
        """Append ``data`` (blocking)."""
        with self._storage_errors():
            self.target.write(data)

    def fill_from(self, source: int, count: int, wait_readable: WaitReadable) -> None:
        """Append ``count`` bytes read from descriptor ``source`` (blocking)."""
        with self._storage_errors():
            try:
                fill = getattr(self.target, "fill_from", None)
                if fill is not None:
                    fill(source, count, wait_readable)
                else:
                    copy_from_descriptor(self.target, source, count, wait_readable)
            except (SourceClosed, ConnectionError):
                raise ClientDisconnected("The upload ended before all its bytes arrived") from None

    def commit(self) -> int:
        """Make the file visible; return its size (blocking)."""
        with self._storage_errors():
            return self.target.commit()

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
