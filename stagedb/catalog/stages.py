"""The stage catalog: one JSON record per stage under ``<data>/catalog/stages/``.

One file per stage makes every change a single atomic storage operation:
CREATE is an exclusive create, CREATE OR REPLACE an atomic exchange, DROP a
delete, and a change of one field (a dropped user's stages going to root) a
conditional read-modify-write that never brings back a stage dropped
meanwhile (see ``commit``: compare-and-swap on S3, a file lock every process
honours on the local disk).  No state is kept in a process, so several
stagedb processes sharing one data root stay consistent, and each sees the
others' changes at once: every read goes to storage, except that on the
local disk a snapshot is reused while the directory provably has not changed
(see ``freshness``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from stagedb.catalog import commit
from stagedb.catalog.freshness import DirectoryVersion, Snapshot
from stagedb.catalog.records import StageRecord
from stagedb.errors import StageAlreadyExists
from stagedb.storage.filesystems import DataRoot
from stagedb.storage.paths import is_temporary

_SUFFIX = ".json"


def _signature(info: dict[str, Any]) -> tuple[Any, ...]:
    """What tells that a record file changed without reading it."""
    return (
        info.get("size"),
        info.get("mtime") or info.get("LastModified") or info.get("created"),
        info.get("ETag") or info.get("etag") or info.get("ino"),
    )


class StageCatalog:
    """Stage records on the data root's filesystem."""

    def __init__(self, root: DataRoot) -> None:
        self.fs = root.fs
        self.directory = root.full_path("catalog/stages")
        self.fs.makedirs(self.directory, exist_ok=True)
        self._cache: dict[str, tuple[tuple[Any, ...], StageRecord]] = {}
        self._version = (
            DirectoryVersion(self.fs._strip_protocol(self.directory))
            if isinstance(self.fs, LocalFileSystem)
            else None
        )
        self._snapshot: Snapshot[dict[str, StageRecord]] | None = None

    def _path(self, name: str) -> str:
        return f"{self.directory}/{name}{_SUFFIX}"

    async def get(self, name: str) -> StageRecord | None:
        """The stage named ``name``, or None."""
        if self._version is not None:
            return (await self._local_records()).get(name)
        return await asyncio.to_thread(self._get, name)

    def _get(self, name: str) -> StageRecord | None:
        path = self._path(name)
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return StageRecord.from_json(raw, path)

    async def all_stages(self) -> list[StageRecord]:
        """Every stage, ordered by name."""
        if self._version is not None:
            return list((await self._local_records()).values())
        return await asyncio.to_thread(self._list)

    async def _local_records(self) -> dict[str, StageRecord]:
        assert self._version is not None
        snapshot = self._snapshot
        if self._version.still_current(snapshot):
            assert snapshot is not None
            return snapshot.value
        mtime_ns, taken_ns = self._version.begin()
        records = {r.name: r for r in await asyncio.to_thread(self._list)}
        self._snapshot = Snapshot(records, mtime_ns, taken_ns)
        return records

    def _list(self) -> list[StageRecord]:
        try:
            infos = self.fs.ls(self.directory, detail=True, refresh=True)
        except FileNotFoundError:
            infos = []
        fresh: dict[str, tuple[tuple[Any, ...], StageRecord]] = {}
        for info in infos:
            path = info["name"]
            if info.get("type") != "file" or not path.endswith(_SUFFIX) or is_temporary(path):
                continue
            signature = _signature(info)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == signature:
                fresh[path] = cached
                continue
            try:
                raw = self.fs.cat_file(path)
            except FileNotFoundError:
                continue  # dropped while we listed
            fresh[path] = (signature, StageRecord.from_json(raw, path))
        self._cache = fresh
        return sorted((record for _, record in fresh.values()), key=lambda r: r.name)

    async def create(self, record: StageRecord) -> None:
        """Add a stage; raise StageAlreadyExists if the name is taken (atomically)."""

        def create() -> None:
            try:
                commit.create_exclusive(self.fs, self._path(record.name), record.to_json())
            except FileExistsError:
                raise StageAlreadyExists(record.name) from None

        await asyncio.to_thread(create)

    async def replace(self, record: StageRecord) -> StageRecord | None:
        """Add or overwrite a stage atomically; return the record this very write replaced."""
        path = self._path(record.name)

        def replace() -> StageRecord | None:
            old = commit.exchange(self.fs, path, record.to_json())
            return StageRecord.from_json(old, path) if old is not None else None

        return await asyncio.to_thread(replace)

    async def update(
        self, name: str, change: Callable[[StageRecord], StageRecord | None]
    ) -> StageRecord | None:
        """Apply ``change`` to the stage's current record atomically; the record written.

        None if there is no such stage (a stage dropped meanwhile stays dropped)
        or ``change`` returned None (leave it as it is).  ``change`` may run more
        than once (on S3, when another writer got in between).
        """
        path = self._path(name)
        written: list[StageRecord | None] = [None]

        def apply(raw: bytes) -> bytes | None:
            new = change(StageRecord.from_json(raw, path))
            written[0] = new
            return new.to_json() if new is not None else None

        found = await asyncio.to_thread(commit.update, self.fs, path, apply)
        return written[0] if found else None

    async def drop(self, name: str) -> StageRecord | None:
        """Delete a stage's record; return it, or None if there was none."""
        path = self._path(name)

        def drop() -> StageRecord | None:
            old = commit.delete(self.fs, path)
            return StageRecord.from_json(old, path) if old is not None else None

        return await asyncio.to_thread(drop)
