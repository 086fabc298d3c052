"""The user catalog: one JSON record per user under ``<data>/catalog/users/``.

A record holds the user's password verifiers (see ``stagedb.passwords``; never
a password) and the privileges granted to the user.  CREATE USER is an
exclusive create, DROP USER a delete, and ALTER USER, GRANT and REVOKE a
read-modify-write (``commit.update``) of the one record, so two concurrent
GRANTs never lose each other, across servers sharing the data root too.

``root`` is not stored: it is configuration (``--root-password``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from stagedb.catalog import commit
from stagedb.catalog.freshness import DirectoryCache
from stagedb.errors import CatalogCorrupt, UserAlreadyExists
from stagedb.storage.filesystems import DataRoot

FORMAT_VERSION = 1
_SUFFIX = ".json"


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class StageGrant:
    """Privileges on one stage; valid only while the stage has ``stage_created_on``.

    A stage dropped and created again (or replaced) is a new stage: grants on
    the old one no longer count.
    """

    privileges: tuple[str, ...]
    stage_created_on: str


@dataclass(frozen=True)
class UserRecord:
    """A user as the catalog keeps it. The verifiers are secrets: never show them."""

    name: str
    native_password: str = field(repr=False)
    http_password: str = field(repr=False)
    global_privileges: tuple[str, ...] = ()
    stage_grants: dict[str, StageGrant] = field(default_factory=dict)
    created_on: str = field(default_factory=_now)

    def with_stage_grant(self, stage: str, grant: StageGrant | None) -> UserRecord:
        """This record with the grant on ``stage`` set (None: removed)."""
        grants = dict(self.stage_grants)
        if grant is None or not grant.privileges:
            grants.pop(stage, None)
        else:
            grants[stage] = grant
        return replace(self, stage_grants=grants)

    def to_json(self) -> bytes:
        """Serialize for the catalog file."""
        data: dict[str, Any] = {
            "name": self.name,
            "native_password": self.native_password,
            "http_password": self.http_password,
            "global_privileges": list(self.global_privileges),
            "stage_grants": {
                stage: {"privileges": list(g.privileges), "stage_created_on": g.stage_created_on}
                for stage, g in sorted(self.stage_grants.items())
            },
            "created_on": self.created_on,
            "format_version": FORMAT_VERSION,
        }
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> UserRecord:
        """Read a catalog file back; raise CatalogCorrupt naming ``source`` if unreadable."""
        try:
            data: dict[str, Any] = json.loads(raw)
            return cls(
                name=data["name"],
                native_password=data["native_password"],
                http_password=data["http_password"],
                global_privileges=tuple(data.get("global_privileges", ())),
                stage_grants={
                    stage: StageGrant(tuple(g["privileges"]), g["stage_created_on"])
                    for stage, g in data.get("stage_grants", {}).items()
                },
                created_on=data.get("created_on", ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CatalogCorrupt(f"Catalog record {source} cannot be read: {error}") from None


class UserCatalog:
    """User records on the data root's filesystem."""

    def __init__(self, root: DataRoot) -> None:
        self.fs = root.fs
        self.directory = root.full_path("catalog/users")
        self.fs.makedirs(self.directory, exist_ok=True)
        self._local: DirectoryCache[dict[str, UserRecord]] | None = (
            DirectoryCache(self.fs._strip_protocol(self.directory))
            if isinstance(self.fs, LocalFileSystem)
            else None
        )  # on the local disk, records are read again only when the directory changed

    def _path(self, name: str) -> str:
        return f"{self.directory}/{name}{_SUFFIX}"

    async def get(self, name: str) -> UserRecord | None:
        """The user named ``name``, or None."""
        if self._local is not None:
            return (await self._local.get(self._read_all)).get(name)
        return await asyncio.to_thread(self._read, self._path(name))

    async def all_users(self) -> list[UserRecord]:
        """Every stored user, ordered by name."""
        if self._local is not None:
            records = await self._local.get(self._read_all)
        else:
            records = await asyncio.to_thread(self._read_all)
        return sorted(records.values(), key=lambda r: r.name)

    def _read(self, path: str) -> UserRecord | None:
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return UserRecord.from_json(raw, path)

    def _read_all(self) -> dict[str, UserRecord]:
        try:
            paths = self.fs.ls(self.directory, detail=False, refresh=True)
        except FileNotFoundError:
            paths = []
        records: dict[str, UserRecord] = {}
        for path in paths:
            if path.endswith(_SUFFIX) and not path.rsplit("/", 1)[-1].startswith("."):
                record = self._read(path)
                if record is not None:
                    records[record.name] = record
        return records

    async def create(self, record: UserRecord) -> None:
        """Add a user; raise UserAlreadyExists if the name is taken (atomically)."""

        def create() -> None:
            try:
                commit.create_exclusive(self.fs, self._path(record.name), record.to_json())
            except FileExistsError:
                raise UserAlreadyExists(record.name) from None

        await asyncio.to_thread(create)

    async def update(
        self, name: str, change: Callable[[UserRecord], UserRecord | None]
    ) -> UserRecord | None:
        """Apply ``change`` to the user's record atomically; the new record, None if no user.

        ``change`` may run more than once (on S3, when another writer got in
        between) and returns None to leave the record as it is.
        """
        path = self._path(name)
        result: list[UserRecord] = []

        def apply(raw: bytes) -> bytes | None:
            old = UserRecord.from_json(raw, path)
            new = change(old)
            result[:] = [new or old]
            return new.to_json() if new is not None else None

        found = await asyncio.to_thread(commit.update, self.fs, path, apply)
        return result[0] if found and result else None

    async def drop(self, name: str) -> bool:
        """Delete a user's record; whether there was one."""

        def drop() -> bool:
            try:
                self.fs.rm_file(self._path(name))
            except FileNotFoundError:
                return False
            return True

        return await asyncio.to_thread(drop)
