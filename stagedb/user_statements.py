"""Running the user and privilege statements (the engine's runners for them).

CREATE / ALTER / DROP USER, GRANT, REVOKE, SHOW USERS and SHOW GRANTS.  Who
may run them is decided by ``stagedb.privileges``: user administration and
global grants are root's; a stage's owner (and root) grants on the stage;
every user may change their own password and see their own grants.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlglot import expressions as exp

from stagedb.catalog.records import StageRecord
from stagedb.catalog.users import StageGrant, UserCatalog, UserRecord
from stagedb.errors import (
    BadArguments,
    PermissionDenied,
    UnknownStage,
    UnknownUser,
    UserAlreadyExists,
)
from stagedb.passwords import http_verifier, native_verifier
from stagedb.privileges import GLOBAL_PRIVILEGES, STAGE_PRIVILEGES, Need, valid_grant
from stagedb.results import Column, ColumnType, Done, Result, Rows, format_timestamp
from stagedb.sql.user_nodes import (
    AlterUser,
    CreateUser,
    DropUser,
    GrantPrivileges,
    RevokePrivileges,
    ShowGrants,
    ShowUsers,
    UserName,
)
from stagedb.stages import check_stage_name
from stagedb.storage.files import StageFiles
from stagedb.storage.paths import user_stage_dir
from stagedb.users import ROOT

if TYPE_CHECKING:
    from stagedb.engine import Engine, SessionInfo

_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_PASSWORD_LENGTH = 1024
AUTH_TYPE = "mysql_native_password"

SHOW_USERS_COLUMNS = (
    Column("name", ColumnType.TEXT, nullable=False),
    Column("hostname", ColumnType.TEXT, nullable=False),
    Column("auth_type", ColumnType.TEXT, nullable=False),
    Column("has_password", ColumnType.BOOLEAN, nullable=False),
    Column("created_on", ColumnType.TEXT),
)


def user_account(name: str) -> str:
    """``'name'@'%'``, as MySQL writes an account."""
    return f"'{name}'@'%'"


def check_user_name(node: UserName) -> str:
    """The user a statement names; raise BadArguments (1006) for a bad name or host."""
    name = str(node.name)
    host = node.host
    if host not in (None, "%"):
        raise BadArguments(
            f"stagedb users are not tied to a host: write '{name}' or '{name}'@'%', "
            f"not '{name}'@'{host}'"
        )
    if not _USER_NAME.fullmatch(name):
        raise BadArguments(
            f"Invalid user name '{name}': a name starts with a letter or '_' and holds up to "
            f"64 letters, digits, '_', '.' and '-'"
        )
    return name


def _password(statement: exp.Expression) -> str:
    password = str(statement.args["password"].name)
    if not password:
        raise BadArguments("A user's password must not be empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadArguments(f"A password holds at most {MAX_PASSWORD_LENGTH} characters")
    return password


async def _verifiers(password: str) -> tuple[str, str]:
    """(native, http) verifiers; the slow hash runs off the event loop."""
    return native_verifier(password), await asyncio.to_thread(http_verifier, password)


def _catalog(engine: Engine) -> UserCatalog:
    catalog = engine.users.catalog
    if catalog is None:
        raise BadArguments("This server keeps no user catalog")
    return catalog


def _user_stage(engine: Engine, name: str) -> StageFiles:
    return StageFiles(engine.root.subdir(user_stage_dir(name)))


async def _create_user(engine: Engine, statement: CreateUser, session: SessionInfo) -> Result:
    engine.access.require_root(session.user, "CreateUser")
    name = check_user_name(statement.this)
    password = _password(statement)
    if name == ROOT:
        if statement.args.get("exists"):
            return Done(warnings=1)
        raise BadArguments("User 'root'@'%' already exists: its password is --root-password")
    if await engine.users.get(name) is not None and statement.args.get("exists"):
        return Done(warnings=1)
    native, http = await _verifiers(password)
    # files left by an earlier user of that name go before the new user can log in
    purge = _user_stage(engine, name).purge
    try:
        await _catalog(engine).create(UserRecord(name, native, http), prepare=purge)
    except UserAlreadyExists:
        if statement.args.get("exists"):
            return Done(warnings=1)
        raise
    return Done()


async def _alter_user(engine: Engine, statement: AlterUser, session: SessionInfo) -> Result:
    name = check_user_name(statement.this)
    if name == ROOT:
        raise BadArguments(
            "root's password is configuration: set --root-password (or STAGEDB_ROOT_PASSWORD) "
            "and restart the server"
        )
    if session.user != name:
        engine.access.require_root(session.user, "AlterUser")
    native, http = await _verifiers(_password(statement))

    def change(record: UserRecord) -> UserRecord:
        return dataclasses.replace(record, native_password=native, http_password=http)

    if await _catalog(engine).update(name, change) is None:
        if statement.args.get("exists"):
            return Done(warnings=1)
        raise UnknownUser(name)
    return Done()


async def _drop_user(engine: Engine, statement: DropUser, session: SessionInfo) -> Result:
    engine.access.require_root(session.user, "DropUser")
    name = check_user_name(statement.this)
    if name == ROOT:
        raise PermissionDenied("Permission denied: user 'root'@'%' cannot be dropped")
    catalog = _catalog(engine)
    if not await catalog.claimed(name):  # a user, or a CREATE USER that was interrupted
        if statement.args.get("exists"):
            return Done(warnings=1)
        raise UnknownUser(name)
    # emptied while the name is still taken, so that no new user of that name can have put
    # a file there yet (files a dropped user's last statements leave, CREATE USER removes)
    await _user_stage(engine, name).purge()
    if not await catalog.drop(name):  # another DROP USER won
        if statement.args.get("exists"):
            return Done(warnings=1)
        raise UnknownUser(name)
    await _hand_stages_to_root(engine, name)
    return Done()


async def _hand_stages_to_root(engine: Engine, name: str) -> None:
    """What ``name`` owns goes to root: each stage's current record, never a stale copy,
    so a stage dropped (or replaced) meanwhile is not brought back (or overwritten)."""

    def to_root(current: StageRecord) -> StageRecord | None:
        return dataclasses.replace(current, owner=ROOT) if current.owner == name else None

    for stage in await engine.catalog.all_stages():
        if stage.owner == name:
            await engine.catalog.update(stage.name, to_root)


async def _grant(engine: Engine, statement: GrantPrivileges, session: SessionInfo) -> Result:
    revoke = isinstance(statement, RevokePrivileges)
    target = check_user_name(statement.this)
    privileges = statement.privilege_names
    if privileges == ["ALL"]:
        privileges = list(STAGE_PRIVILEGES)
    stage_node = statement.args.get("stage")
    stage = None
    if stage_node is None:
        engine.access.require_root(session.user, "Grant")
    else:
        name = check_stage_name(str(stage_node.name), "shared")
        stage = await engine.catalog.get(name)
        if stage is None:
            raise UnknownStage(name)
        await engine.access.require_stage(session.user, stage, Need.OWNERSHIP)
    if target == ROOT or (stage is not None and stage.owner == target):
        if revoke:
            what = "every privilege" if stage is None else f"every privilege on stage {stage.name}"
            raise BadArguments(f"User '{target}'@'%' holds {what}; it cannot be revoked")
        return Done()  # they hold it already

    def change(record: UserRecord) -> UserRecord:
        if stage is None:
            held = set(record.global_privileges)
            held = held - set(privileges) if revoke else held | set(privileges)
            ordered = tuple(p for p in GLOBAL_PRIVILEGES if p in held)
            return dataclasses.replace(record, global_privileges=ordered)
        grant = valid_grant(record, stage)
        held = set(grant.privileges) if grant is not None else set()
        held = held - set(privileges) if revoke else held | set(privileges)
        ordered = tuple(p for p in STAGE_PRIVILEGES if p in held)
        return record.with_stage_grant(stage.name, StageGrant(ordered, stage.created_on))

    if await _catalog(engine).update(target, change) is None:
        raise UnknownUser(target)
    return Done()


async def _show_users(engine: Engine, _statement: ShowUsers, session: SessionInfo) -> Result:
    engine.access.require_root(session.user, "ShowUsers")
    rows: list[tuple[Any, ...]] = [(ROOT, "%", AUTH_TYPE, bool(engine.users.root_password), None)]
    for record in await _catalog(engine).all_users():
        if record.name != ROOT:
            rows.append((record.name, "%", AUTH_TYPE, True, _timestamp(record.created_on)))
    return Rows(SHOW_USERS_COLUMNS, rows)


async def _show_grants(engine: Engine, statement: ShowGrants, session: SessionInfo) -> Result:
    node = statement.args.get("this")
    target = session.user if node is None or isinstance(node, exp.CurrentUser) else node.name
    if target != session.user:
        engine.access.require_root(session.user, "ShowGrants")
    column = (Column(f"Grants for {target}@%", ColumnType.TEXT, nullable=False),)
    if target == ROOT:
        line = f"GRANT ALL PRIVILEGES ON *.* TO {user_account(ROOT)} WITH GRANT OPTION"
        return Rows(column, [(line,)])
    if target == session.user:
        record = await engine.access.current(target)
    else:
        record = await engine.users.get(target)
    if record is None:
        raise UnknownUser(target)
    lines = grant_lines(record, await engine.catalog.all_stages())
    return Rows(column, [(line,) for line in lines])


def grant_lines(record: UserRecord, stages: list[StageRecord]) -> list[str]:
    """SHOW GRANTS for a (non-root) user, one MySQL-shaped ``GRANT ... TO`` line each."""
    account = user_account(record.name)
    held = [p for p in GLOBAL_PRIVILEGES if p in record.global_privileges]
    lines = [f"GRANT {', '.join(held) or 'USAGE'} ON *.* TO {account}"]
    for stage in stages:
        if stage.owner == record.name:
            lines.append(f"GRANT OWNERSHIP ON STAGE {stage.name} TO {account}")
            continue
        grant = valid_grant(record, stage)
        if grant is None or not grant.privileges:
            continue
        shown = (
            "ALL" if set(grant.privileges) >= set(STAGE_PRIVILEGES) else ", ".join(grant.privileges)
        )
        lines.append(f"GRANT {shown} ON STAGE {stage.name} TO {account}")
    return lines


def _timestamp(iso: str) -> str | None:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return format_timestamp(int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000)


USER_RUNNERS: dict[type[exp.Expression], Callable[..., Awaitable[Result]]] = {
    CreateUser: _create_user,
    AlterUser: _alter_user,
    DropUser: _drop_user,
    GrantPrivileges: _grant,
    RevokePrivileges: _grant,
    ShowUsers: _show_users,
    ShowGrants: _show_grants,
}
"""The engine's runners for the user and privilege statements."""


# -- SET PASSWORD: MySQL's other way to write ALTER USER ... IDENTIFIED BY (same rules) ----

from stagedb.sql.user_nodes import SetPassword  # noqa: E402  (kept with its runner)


async def _set_password(engine: Engine, statement: SetPassword, session: SessionInfo) -> Result:
    """``SET PASSWORD [FOR user] = '...'``: the user's own password, or root's for anyone."""
    return await _alter_user(engine, statement.as_alter_user(session.user), session)


USER_RUNNERS[SetPassword] = _set_password
