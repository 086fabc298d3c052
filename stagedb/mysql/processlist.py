"""The MySQL port's connections as MySQL shows them: SHOW [FULL] PROCESSLIST,
information_schema.PROCESSLIST, and KILL [CONNECTION | QUERY] id.

Each connection keeps an :class:`~stagedb.mysql.replies.Activity` (its command,
state, statement and since when); this module turns the live connections of
the server into MySQL's rows.  MySQL's rule for who sees and kills what holds:
root (the only user with global power) sees and kills every connection, any
other user only the connections logged in as themselves.  Statements are
shown with their passwords and credentials masked.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mysql_mimic import ResultColumn, ResultSet
from mysql_mimic.constants import KillKind
from mysql_mimic.errors import SQLSTATES
from mysql_mimic.types import ColumnType

from stagedb.errors import KillDenied, QueryInterrupted, UnknownThread
from stagedb.mysql.column_flags import result_column
from stagedb.sql.redact import redact_statement
from stagedb.users import ROOT

if TYPE_CHECKING:
    import pyarrow as pa

    from stagedb.mysql.replies import Activity

for _error in (UnknownThread, KillDenied, QueryInterrupted):
    SQLSTATES.setdefault(_error.errno, _error.sqlstate.encode())

UNAUTHENTICATED = "unauthenticated user"
"""MySQL's User of a connection that has not logged in yet."""
SHORT_INFO = 100
"""SHOW PROCESSLIST (without FULL) shows the first 100 characters of a statement."""


class Process(Protocol):
    """What this module reads off a MySQL connection (a StageConnection)."""

    connection_id: int
    host: str
    activity: Activity

    @property
    def user(self) -> str | None:
        """The logged-in user (None before login)."""

    @property
    def database(self) -> str | None:
        """The current database."""

    def kill(self, kind: KillKind = KillKind.CONNECTION) -> None:
        """Stop the running statement (QUERY) or the whole connection."""

    def drop(self) -> None:
        """Stop the connection and close its socket at once."""


@dataclass(frozen=True)
class ProcessRow:
    """One row of SHOW PROCESSLIST."""

    id: int
    user: str
    host: str
    db: str | None
    command: str
    time: int
    state: str | None
    info: str | None

    def values(self, full: bool) -> tuple[Any, ...]:
        """The row's values, Info cut to 100 characters unless ``full``."""
        info = self.info if full or self.info is None else self.info[:SHORT_INFO]
        return (self.id, self.user, self.host, self.db, self.command, self.time, self.state, info)


def may_see(viewer: str, process: Process) -> bool:
    """Whether ``viewer`` sees (and may kill) ``process``: root all, others their own."""
    return viewer == ROOT or (process.user is not None and process.user == viewer)


def process_rows(processes: Iterable[Process], viewer: str) -> list[ProcessRow]:
    """The rows ``viewer`` sees, by connection id."""
    now = time.monotonic()
    rows = []
    for process in processes:
        if not may_see(viewer, process):
            continue
        activity = process.activity
        info = redact_statement(activity.info) if activity.info is not None else None
        rows.append(
            ProcessRow(
                id=process.connection_id,
                user=process.user or UNAUTHENTICATED,
                host=process.host,
                db=process.database,
                command=activity.command,
                time=max(0, int(now - activity.since)),
                state=activity.state,
                info=info,
            )
        )
    rows.sort(key=lambda row: row.id)
    return rows


COLUMN_NAMES = ("Id", "User", "Host", "db", "Command", "Time", "State", "Info")


def _columns() -> list[ResultColumn]:
    text, number = ColumnType.VAR_STRING, ColumnType.LONGLONG
    kinds = (number, text, text, text, text, ColumnType.LONG, text, text)
    not_null = {"Id", "User", "Host", "Command", "Time"}
    return [
        result_column(name, kind, nullable=name not in not_null, unsigned=name == "Id")
        for name, kind in zip(COLUMN_NAMES, kinds, strict=True)
    ]


_COLUMNS = _columns()


def processlist_result(rows: list[ProcessRow], full: bool) -> ResultSet:
    """SHOW [FULL] PROCESSLIST's result set."""
    return ResultSet(rows=[row.values(full) for row in rows], columns=_COLUMNS)


def processlist_table(rows: list[ProcessRow]) -> pa.Table:
    """information_schema.PROCESSLIST (full statements), for SELECTs."""
    from stagedb.mysql.infoschema import SYSTEM_COLUMNS  # loads pyarrow: not at start-up
    from stagedb.tables.arrow import arrow_schema, rows_table

    schema = arrow_schema(SYSTEM_COLUMNS["PROCESSLIST"])
    return rows_table(schema, [row.values(full=True) for row in rows])


def killable(processes: Iterable[Process], killer: str, target: int) -> Process:
    """Connection ``target``, which ``killer`` may KILL.

    UnknownThread (1094) if there is no such connection, KillDenied (1095) if it
    is another user's and ``killer`` is not root.
    """
    process = next((p for p in processes if p.connection_id == target), None)
    if process is None:
        raise UnknownThread(target)
    if not may_see(killer, process):
        raise KillDenied(target)
    return process
