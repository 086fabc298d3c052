"""One stage's files: sorted streaming listings, removal and atomic writes.

All filesystem calls run in worker threads, so the event loop never waits on
the disk or the network.  Listings stream in batches, sorted by name, and hold
at most one directory's entries at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from fsspec import AbstractFileSystem

from stagedb.storage.listing import FileEntry, walk_sorted
from stagedb.storage.paths import TEMP_MARKER, check_relative_path, is_temporary

BATCH_SIZE = 2000
"""Entries handed from the listing thread to the event loop at a time."""

REMOVE_BATCH_SIZE = 1000
"""Files deleted per storage call."""

READ_CHUNK = 1024 * 1024
"""Bytes read from storage per call when streaming a file out."""


@dataclass(frozen=True, slots=True)
class RemoveFailure:
    """A file REMOVE could not delete, with the storage's reason."""

    name: str
    reason: str


class StageFiles:
    """The files of one stage, on a filesystem rooted at the stage's root."""

    def __init__(self, fs: AbstractFileSystem) -> None:
        self.fs = fs

    # -- listing ----------------------------------------------------------------

    async def iter_files(self, prefix: str = "") -> AsyncIterator[list[FileEntry]]:
        """Yield batches of files whose names start with ``prefix``, sorted by name.

        ``prefix`` is a raw prefix, as in Databend: ``p/a`` matches ``p/ab.csv``
        and ``p/ab/cd.csv``.  Directories and stagedb's temporary files are
        never listed.
        """
        check_relative_path(prefix)
        batches = self._sorted_batches(prefix)
        while True:
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                return
            yield batch

    def _sorted_batches(self, prefix: str) -> Iterator[list[FileEntry]]:
        batch: list[FileEntry] = []
        for entry in walk_sorted(self.fs, prefix):
            batch.append(entry)
            if len(batch) >= BATCH_SIZE:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- removal ----------------------------------------------------------------

    async def remove(
        self, prefix: str = "", pattern: re.Pattern[str] | None = None
    ) -> tuple[list[str], list[RemoveFailure]]:
        """Delete the files LIST would show for ``prefix`` and ``pattern``.

        Returns the names removed and the names that could not be removed.
        """
        removed: list[str] = []
        failures: list[RemoveFailure] = []
        pending: list[str] = []
        async for batch in self.iter_files(prefix):
            pending.extend(
                e.name for e in batch if pattern is None or pattern.fullmatch(e.name[len(prefix) :])
            )
            while len(pending) >= REMOVE_BATCH_SIZE:
                chunk, pending = pending[:REMOVE_BATCH_SIZE], pending[REMOVE_BATCH_SIZE:]
                await self._remove_chunk(chunk, removed, failures)
        if pending:
            await self._remove_chunk(pending, removed, failures)
        return removed, failures

    async def _remove_chunk(
        self, names: list[str], removed: list[str], failures: list[RemoveFailure]
    ) -> None:
        def delete() -> None:
            for name in names:
                try:
                    self.fs.rm_file(name)
                except FileNotFoundError:
                    removed.append(name)  # gone already: the goal is reached
                except OSError as error:
                    failures.append(RemoveFailure(name, error.strerror or str(error)))
                else:
                    removed.append(name)

        await asyncio.to_thread(delete)

    async def purge(self) -> None:
        """Delete every file of the stage (DROP of an internal stage)."""

        def delete_all() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm("", recursive=True)

        await asyncio.to_thread(delete_all)

    # -- reading ----------------------------------------------------------------

    async def size(self, path: str) -> int:
        """The size of file ``path``; FileNotFoundError if it is not a file of the stage."""
        check_relative_path(path, "file name")
        info = await asyncio.to_thread(self.fs.info, path)
        if info.get("type") != "file" or is_temporary(path):
            raise FileNotFoundError(path)
        return int(info.get("size") or 0)

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``start`` to ``end`` (exclusive) of ``path`` in READ_CHUNK pieces."""
        check_relative_path(path, "file name")
        handle = await asyncio.to_thread(self.fs.open, path, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    # -- writing ----------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> int:
        """Write a file atomically: it becomes visible only once complete.

        The bytes go to a temporary sibling that is renamed over ``path`` at the
        end; on any failure (including cancellation) the temporary is deleted.
        Returns the number of bytes written.
        """
        check_relative_path(path, "file name")
        directory, _, basename = path.rpartition("/")
        temp = f"{directory}/{TEMP_MARKER}{uuid.uuid4().hex}-{basename}".lstrip("/")
        await asyncio.to_thread(self.fs.makedirs, directory, exist_ok=True)
        handle = await asyncio.to_thread(self.fs.open, temp, "wb")
        size = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
                size += len(chunk)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(self.fs.mv, temp, path)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self._discard, handle, temp))
            raise
        return size

    def _discard(self, handle: Any, temp: str) -> None:
        try:
            handle.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(temp)
