"""The user catalog: one JSON record per user under ``<data>/catalog/users/``.

A record holds the user's password verifiers (see ``stagedb.passwords``; never
a password) and the privileges granted to the user.  CREATE USER is an
exclusive create, DROP USER a delete, and ALTER USER, GRANT and REVOKE a
read-modify-write (``commit.update``) of the one record, so two concurrent
GRANTs never lose each other, across servers sharing the data root too, and
neither brings back a user dropped meanwhile.

CREATE USER first claims the name with a *pending* record, which no lookup
sees (nobody can log in as it, GRANT does not find it), prepares what the user
starts with (an empty ``@~``), and only then makes the record visible; so no
one of that name can use the stage while it is being emptied.

``root`` is not stored: it is configuration (``--root-password``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
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
    pending: bool = False
    """Claimed by a CREATE USER that has not finished: invisible to every lookup."""

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
        if self.pending:
            data["pending"] = True
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
                pending=bool(data.get("pending", False)),
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
        """The user named ``name``, or None (also while its CREATE USER is unfinished)."""
        if self._local is not None:
            record = (await self._local.get(self._read_all)).get(name)
        else:
            record = await asyncio.to_thread(self._read, self._path(name))
        return record if record is not None and not record.pending else None

    async def all_users(self) -> list[UserRecord]:
        """Every stored user, ordered by name (none whose CREATE USER is unfinished)."""
        if self._local is not None:
            records = await self._local.get(self._read_all)
        else:
            records = await asyncio.to_thread(self._read_all)
        return sorted((r for r in records.values() if not r.pending), key=lambda r: r.name)

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

    async def create(
        self, record: UserRecord, prepare: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Add a user; raise UserAlreadyExists if the name is taken (atomically).

        ``prepare`` runs once the name is claimed and before anyone can see the
        user (log in, be granted to); if it fails, the claim is withdrawn.  A
        DROP USER of the claimed name meanwhile wins: the user is not created.
        """
        claim = replace(record, pending=True) if prepare is not None else record

        def create() -> None:
            try:
                commit.create_exclusive(self.fs, self._path(record.name), claim.to_json())
            except FileExistsError:
                raise UserAlreadyExists(record.name) from None

        await asyncio.to_thread(create)
        if prepare is None:
            return
        try:
            await prepare()
        except BaseException:
            await asyncio.shield(self._settle(claim, None))
            raise
        await asyncio.shield(self._settle(claim, record))  # a cancelled statement too

    async def _settle(self, claim: UserRecord, final: UserRecord | None) -> None:
        """Our own pending ``claim`` becomes ``final`` (None: removed), if it is still there."""
        path = self._path(claim.name)

        def settle() -> None:
            def ours(raw: bytes) -> bool:
                return UserRecord.from_json(raw, path) == claim

            if final is None:
                commit.delete(self.fs, path, ours)
            else:
                commit.update(self.fs, path, lambda raw: final.to_json() if ours(raw) else None)

        await asyncio.to_thread(settle)

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
            if old.pending:
                return None  # not a user yet
            new = change(old)
            result[:] = [new or old]
            return new.to_json() if new is not None else None

        found = await asyncio.to_thread(commit.update, self.fs, path, apply)
        return result[0] if found and result else None

    async def claimed(self, name: str) -> bool:
        """Whether a record holds the name: a user, or an unfinished (or interrupted) CREATE."""
        return await asyncio.to_thread(self._read, self._path(name)) is not None

    async def drop(self, name: str) -> bool:
        """Delete a user's record (also a pending one); whether there was one."""
        return await asyncio.to_thread(commit.delete, self.fs, self._path(name)) is not None
