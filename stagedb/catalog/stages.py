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
import posixpath
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
        fresh: dict[str, tuple[tuple[Any, ...], StageRecord]] = {}
        for info in self._record_infos():
            entry = self._read(info)
            if entry is not None:
                fresh[info["name"]] = entry
        self._cache = fresh
        return sorted((record for _, record in fresh.values()), key=lambda r: r.name)

    def _record_infos(self) -> list[dict[str, Any]]:
        """The listing's entries of record files (no temporary files), unsorted."""
        try:
            infos = self.fs.ls(self.directory, detail=True, refresh=True)
        except FileNotFoundError:
            return []
        return [
            info
            for info in infos
            if info.get("type") == "file"
            and info["name"].endswith(_SUFFIX)
            and not is_temporary(info["name"])
        ]

    def _read(self, info: dict[str, Any]) -> tuple[tuple[Any, ...], StageRecord] | None:
        """The record a listed file holds, from the cache while its signature is unchanged;
        None if it was dropped since it was listed."""
        path = info["name"]
        signature = _signature(info)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == signature:
            return cached
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return signature, StageRecord.from_json(raw, path)

    # -- one page of the sorted listing --------------------------------------------------

    _page_names: tuple[dict[str, StageRecord], list[str]] | None = None
    """The local snapshot's names in order, with the snapshot's records they came from."""

    async def page(
        self, start: int, size: int, keep: Callable[[str], object] | None = None
    ) -> tuple[list[StageRecord], int]:
        """Stages ``start`` to ``start + size`` (0-based, in name order) of those whose name
        ``keep`` accepts (all when None), and how many it accepts in all.

        Only the page's records are read: on the local disk they come from the
        snapshot; elsewhere one listing gives the names, then the page's records
        are read (unchanged ones from the cache).  A record dropped meanwhile is
        left out of the page.
        """
        if self._version is None:
            return await asyncio.to_thread(self._page, start, size, keep)
        records = await self._local_records()
        memo = self._page_names
        if memo is None or memo[0] is not records:
            memo = self._page_names = (records, list(records))  # the snapshot is in name order
        names = memo[1] if keep is None else [name for name in memo[1] if keep(name)]
        return [records[name] for name in names[start : start + size]], len(names)

    def _page(
        self, start: int, size: int, keep: Callable[[str], object] | None
    ) -> tuple[list[StageRecord], int]:
        by_name = {posixpath.basename(i["name"])[: -len(_SUFFIX)]: i for i in self._record_infos()}
        names = sorted(name for name in by_name if keep is None or keep(name))
        page: list[StageRecord] = []
        for name in names[start : start + size]:
            entry = self._read(by_name[name])
            if entry is not None:
                self._cache[by_name[name]["name"]] = entry
                page.append(entry[1])
        return page, len(names)

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
