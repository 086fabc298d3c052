"""Who may do what: the one place deciding "may user U do action A on stage S".

The engine asks at its entry points (every statement, and the file
operations the HTTP fronts call), so every front gets the same answers.

* ``root`` may do everything.
* The owner of a stage (its creator; stages from before ownership existed
  belong to root) holds every privilege on it: READ, WRITE and ownership.
* READ lets a user LIST a stage, PRESIGN DOWNLOAD from it, and download
  files; WRITE lets a user REMOVE, upload and PRESIGN UPLOAD.  DROP STAGE,
  CREATE OR REPLACE of an existing stage, and GRANT / REVOKE on a stage need
  ownership.  CREATE STAGE needs the global ``CREATE STAGE`` privilege.
* Each user's ``@~`` belongs to that user alone (no one else can name it).
* A grant on a stage counts only while that stage exists: a stage dropped and
  created again, or replaced, starts with no grants.
* A presigned URL made by stagedb acts for the user who made it, who had the
  privilege then; it works until it expires while that user still has the
  privilege (revoking it, or dropping the user, stops the URL).
"""

from __future__ import annotations

from enum import Enum

from stagedb.catalog.records import StageRecord
from stagedb.catalog.users import StageGrant, UserRecord
from stagedb.errors import PermissionDenied
from stagedb.users import ROOT, Users

READ = "READ"
WRITE = "WRITE"
STAGE_PRIVILEGES = (READ, WRITE)
"""What GRANT ... ON STAGE gives (ALL is both)."""
CREATE_STAGE = "CREATE STAGE"
GLOBAL_PRIVILEGES = (CREATE_STAGE,)
"""What GRANT ... ON *.* gives."""


class Need(Enum):
    """What an action on a stage needs."""

    ANY = "Any"  # seeing it at all: DESC STAGE, SHOW STAGES, resolving it
    READ = "Read"
    WRITE = "Write"
    OWNERSHIP = "Ownership"


def denied(user: str, privilege: str, on: str) -> PermissionDenied:
    """Databend's wording: ``Permission denied: privilege [Read] is required on ...``."""
    return PermissionDenied(
        f"Permission denied: privilege [{privilege}] is required on {on} for user '{user}'@'%'"
    )


def valid_grant(record: UserRecord, stage: StageRecord) -> StageGrant | None:
    """The user's grant on ``stage`` if it was made on this very stage."""
    grant = record.stage_grants.get(stage.name)
    if grant is None or grant.stage_created_on != stage.created_on:
        return None
    return grant


def holds(user: str, record: UserRecord | None, stage: StageRecord, need: Need) -> bool:
    """Whether ``user`` (whose catalog record is ``record``) may do ``need`` on ``stage``."""
    if user == ROOT or (record is not None and stage.owner == user):
        return True
    if record is None or need is Need.OWNERSHIP:
        return False
    grant = valid_grant(record, stage)
    if grant is None:
        return False
    return need is Need.ANY or need.name in grant.privileges


class Access:
    """Authorization checks against the current catalog."""

    def __init__(self, users: Users) -> None:
        self.users = users

    async def current(self, user: str) -> UserRecord | None:
        """The catalog record of a session's user (None for root).

        A user dropped while connected can do nothing more.
        """
        if user == ROOT:
            return None
        record = await self.users.get(user)
        if record is None:
            raise PermissionDenied(f"Permission denied: user '{user}'@'%' no longer exists")
        return record

    async def require_stage(self, user: str, stage: StageRecord, need: Need) -> None:
        """Raise PermissionDenied unless ``user`` may do ``need`` on ``stage``."""
        if user == ROOT:
            return
        if not holds(user, await self.current(user), stage, need):
            raise denied(user, need.value, f"STAGE {stage.name}")

    async def require_user_stage(self, user: str) -> None:
        """Using one's own ``@~``: only the user must still exist."""
        await self.current(user)

    async def require_global(self, user: str, privilege: str) -> None:
        """Raise PermissionDenied unless ``user`` holds a global privilege (CREATE STAGE)."""
        record = await self.current(user)
        if record is not None and privilege not in record.global_privileges:
            raise denied(user, privilege.title().replace(" ", ""), "*.*")

    def require_root(self, user: str, privilege: str) -> None:
        """User administration is root's: raise PermissionDenied for anyone else."""
        if user != ROOT:
            raise denied(user, privilege, "*.*")

    async def visible(self, user: str, stages: list[StageRecord]) -> list[StageRecord]:
        """The stages ``user`` holds any privilege on (SHOW STAGES shows no others)."""
        if user == ROOT:
            return stages
        record = await self.current(user)
        return [stage for stage in stages if holds(user, record, stage, Need.ANY)]
