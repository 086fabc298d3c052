"""One stage's files: sorted streaming listings, removal and atomic writes.

All filesystem calls run in worker threads, so the event loop never waits on
the disk or the network.  Listings stream in batches, sorted by name, and hold
at most one directory's entries at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from fsspec import AbstractFileSystem

from stagedb.storage.atomic import AtomicFile, FsspecAtomicFile, LocalAtomicFile, local_path
from stagedb.storage.listing import FileEntry, walk_sorted
from stagedb.storage.paths import check_relative_path, is_temporary

BATCH_SIZE = 2000
"""Entries handed from the listing thread to the event loop at a time."""

REMOVE_BATCH_SIZE = 1000
"""Files deleted per storage call."""

OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "az", "adl"})
"""fsspec protocols of stores whose uploads become visible only once complete."""

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
        bulk = getattr(self.fs.fs, "call_s3", None)
        if bulk is not None:
            await asyncio.to_thread(self._delete_objects, bulk, names, removed, failures)
            return

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

    def _delete_objects(
        self, call_s3: Any, names: list[str], removed: list[str], failures: list[RemoveFailure]
    ) -> None:
        """One DeleteObjects request (up to 1,000 keys) with per-key results."""
        bucket, _, root = self.fs.path.partition("/")
        keys = {f"{root}/{name}".lstrip("/"): name for name in names}
        answer = call_s3(
            "delete_objects",
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        failed = {error["Key"]: error for error in answer.get("Errors", [])}
        for key, name in keys.items():
            if key in failed:
                error = failed[key]
                failures.append(RemoveFailure(name, f"{error.get('Code')}: {error.get('Message')}"))
            else:
                removed.append(name)
        self.fs.fs.invalidate_cache()

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

    async def read(
        self, path: str, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
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

    @property
    def is_object_store(self) -> bool:
        """Whether the stage lives in an object store (S3, GCS, Azure), which publishes an
        object only when its upload completes; other filesystems get temporary files."""
        protocols = self.fs.fs.protocol
        names = {protocols} if isinstance(protocols, str) else set(protocols)
        return bool(names & OBJECT_STORE_PROTOCOLS)

    def open_atomic(self, path: str) -> AtomicFile:
        """Start writing ``path``; blocking: call it, and use the file, in a worker thread."""
        check_relative_path(path, "file name")
        local = local_path(self.fs, path)
        if local is not None:
            return LocalAtomicFile(local)
        return FsspecAtomicFile(self.fs, path, in_place=self.is_object_store)

    async def presigned_url(
        self, path: str, upload: bool, expire_seconds: int, content_type: str | None
    ) -> str | None:
        """The object store's own presigned URL for ``path``; None if it has none."""
        sign = getattr(self.fs.fs, "url", None)
        if not self.is_object_store or sign is None:
            return None
        params: dict[str, Any] = {"ContentType": content_type} if content_type and upload else {}
        url: str = await asyncio.to_thread(
            sign,
            self.fs._join(path),
            expires=expire_seconds,
            client_method="put_object" if upload else "get_object",
            **params,
        )
        return url
