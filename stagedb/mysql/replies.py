"""How stagedb's MySQL connections answer: COM_STATISTICS, column flags, status in the handshake.

mysql-mimic's ``Connection`` answers the protocol; this subclass adds what MySQL
clients rely on and mysql-mimic leaves out:

- COM_STATISTICS (the ``mysql`` CLI's ``\\s``, ``mysqladmin status``) gets MySQL's
  status line: ``Uptime: 42  Threads: 1  Questions: 7  ...``;
- column definitions carry NOT_NULL / UNSIGNED / BINARY / NUM flags, the
  ``binary`` character set (63) for numbers and dates and MySQL's display lengths
  (see :mod:`stagedb.mysql.column_flags`), in text and binary (prepared) result sets;
- the handshake already says SERVER_STATUS_AUTOCOMMIT, as MySQL's does;
- each connection keeps its :class:`Activity` (command, state, statement, since
  when) for SHOW PROCESSLIST, and KILL QUERY stops only a running statement,
  which ends with MySQL's 1317 "Query execution was interrupted";
- streamed result sets are sent as they are made (not gathered in memory), so a
  client that stops reading holds the statement up and ``mysql_write_timeout``
  can end it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mysql_mimic import packets, types
from mysql_mimic.connection import Connection
from mysql_mimic.constants import KillKind
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.results import ResultSet
from mysql_mimic.stream import ConnectionClosed
from mysql_mimic.types import Commands, ServerStatus
from mysql_mimic.utils import aiterate, cooperative_iterate

from stagedb.errors import QueryInterrupted, WriteTimeout
from stagedb.mysql.column_flags import column_definition

logger = logging.getLogger("mysql_mimic.connection")  # its filter keeps client errors quiet

_BATCH = 1000

COMMAND_NAMES = {
    Commands.COM_QUERY: "Query", Commands.COM_STMT_PREPARE: "Prepare",
    Commands.COM_STMT_SEND_LONG_DATA: "Long Data", Commands.COM_STMT_EXECUTE: "Execute",
    Commands.COM_STMT_FETCH: "Fetch", Commands.COM_STMT_RESET: "Reset stmt",
    Commands.COM_STMT_CLOSE: "Close stmt", Commands.COM_PING: "Ping",
    Commands.COM_CHANGE_USER: "Change user", Commands.COM_RESET_CONNECTION: "Reset Connection",
    Commands.COM_DEBUG: "Debug", Commands.COM_INIT_DB: "Init DB",
    Commands.COM_FIELD_LIST: "Field List", Commands.COM_STATISTICS: "Statistics",
    Commands.COM_PROCESS_KILL: "Kill",
}  # fmt: skip
"""MySQL's names of the commands, as SHOW PROCESSLIST's Command column shows them."""


@dataclass
class Activity:
    """What a connection is doing, for SHOW PROCESSLIST (MySQL's Command, State, Info, Time)."""

    command: str = "Connect"
    state: str = "login"
    info: str | None = None
    since: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        """Whether a command is running (KILL QUERY has something to stop)."""
        return self.command not in ("Sleep", "Connect")

    def start(self, command: str) -> None:
        """A command from the client began."""
        self.command, self.state, self.info = command, "executing", None
        self.since = time.monotonic()

    def sleep(self) -> None:
        """The connection waits for the client's next command."""
        self.command, self.state, self.info = "Sleep", "", None
        self.since = time.monotonic()


@dataclass
class ServerStats:
    """Server-wide counters shown by COM_STATISTICS."""

    started: float = field(default_factory=time.monotonic)
    questions: int = 0
    threads: int = 0

    def status_line(self) -> str:
        """MySQL 8's COM_STATISTICS answer."""
        uptime = max(1, int(time.monotonic() - self.started))
        return (
            f"Uptime: {uptime}  Threads: {self.threads}  Questions: {self.questions}  "
            f"Slow queries: 0  Opens: 0  Flush tables: 0  Open tables: 0  "
            f"Queries per second avg: {self.questions / uptime:.3f}"
        )


class ReplyingConnection(Connection):
    """mysql-mimic's connection with MySQL's answers where mysql-mimic has none or
    leaves fields out (the transport rules are in :mod:`stagedb.mysql.connection`)."""

    def __init__(self, *args: Any, stats: ServerStats, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats
        self.status_flags = ServerStatus.SERVER_STATUS_AUTOCOMMIT
        self.activity = Activity()
        self.ending = False
        """Set to close the connection once the current command is answered."""
        self._commands: dict[int, Callable[[bytes], Awaitable[None]]] = {
            Commands.COM_QUERY: self.handle_query,
            Commands.COM_STMT_PREPARE: self.handle_stmt_prepare,
            Commands.COM_STMT_SEND_LONG_DATA: self.handle_stmt_send_long_data,
            Commands.COM_STMT_EXECUTE: self.handle_stmt_execute,
            Commands.COM_STMT_FETCH: self.handle_stmt_fetch,
            Commands.COM_STMT_RESET: self.handle_stmt_reset,
            Commands.COM_STMT_CLOSE: self.handle_stmt_close,
            Commands.COM_PING: self.handle_ping,
            Commands.COM_CHANGE_USER: self.handle_change_user,
            Commands.COM_RESET_CONNECTION: self.handle_reset_connection,
            Commands.COM_DEBUG: self.handle_debug,
            Commands.COM_INIT_DB: self.handle_init_db,
            Commands.COM_FIELD_LIST: self.handle_field_list,
            Commands.COM_STATISTICS: self.handle_statistics,
            Commands.COM_PROCESS_KILL: self.handle_process_kill,
        }

    async def start(self) -> None:
        """Serve the connection, counted in COM_STATISTICS' ``Threads``.

        A client that stopped reading for ``mysql_write_timeout`` has been cut
        off (MySQL's "aborted connection"): that ends the connection, logged once.
        """
        self.stats.threads += 1
        try:
            await super().start()
        except WriteTimeout:
            logger.warning(
                "Closed MySQL connection %s: the client read nothing for the write timeout",
                self.connection_id,
            )
        finally:
            self.stats.threads -= 1

    async def command_phase(self) -> None:
        """mysql-mimic's command loop, with a table of commands that includes COM_STATISTICS.

        A client that went away mid-answer ends the connection quietly.
        """
        try:
            await self._serve_commands()
        except ConnectionError as error:
            logger.info("Connection %s lost: %s", self.connection_id, error)

    async def _serve_commands(self) -> None:
        while True:
            try:
                data = await self.stream.read()
            except ConnectionClosed:
                logger.info("Connection closed")
                return
            try:
                if data[0] == Commands.COM_QUIT:
                    return
                self.stats.questions += 1
                self.activity.start(COMMAND_NAMES.get(data[0], "Query"))
                handler = self._commands.get(data[0])
                if handler is None:
                    raise MysqlError(
                        f"Unsupported Command: {hex(data[0])}", ErrorCode.UNKNOWN_COM_ERROR
                    )
                await handler(data[1:])
            except MysqlError as error:
                if self._killed_query():  # the statement's clean-up raised on its way out
                    await self._answer_killed_query(error)
                else:
                    logger.error(error)
                    await self.stream.write(self.error(msg=error.msg, code=error.code))
            except asyncio.CancelledError:
                if self._kill != KillKind.QUERY:
                    raise
                await self._answer_killed_query(None)
            except (WriteTimeout, ConnectionError):
                raise
            except Exception as error:
                if self._killed_query():  # the statement's clean-up raised on its way out
                    await self._answer_killed_query(error)
                else:
                    logger.exception(error)
                    await self.stream.write(self.error(msg=error))
            finally:
                self.stream.reset_seq()
                self.activity.sleep()
            if self.ending:
                return

    def _killed_query(self) -> bool:
        """Whether KILL QUERY cancelled the running statement (and nothing answered it yet)."""
        task = self._task
        return self._kill == KillKind.QUERY and task is not None and task.cancelling() > 0

    async def _answer_killed_query(self, raised: Exception | None) -> None:
        """End a statement stopped by KILL QUERY with MySQL's 1317; the connection goes on."""
        if raised is None:
            logger.info("Query killed on connection %s", self.connection_id)
        else:
            logger.info(
                "Query killed on connection %s (it ended with %r)", self.connection_id, raised
            )
        if self._task is not None:
            self._task.uncancel()
        self._kill = None
        killed = QueryInterrupted()
        await self.stream.write(self.error(msg=str(killed), code=killed.errno))

    async def query(self, sql: str, query_attrs: dict[str, str]) -> ResultSet:
        """Run a statement, shown in SHOW PROCESSLIST while it runs."""
        self.activity.info = sql
        result: ResultSet = await super().query(sql, query_attrs)
        return result

    def kill(self, kind: KillKind = KillKind.CONNECTION) -> None:
        """KILL: QUERY stops only a running statement (an idle connection is left alone)."""
        if kind == KillKind.QUERY and not self.activity.busy:
            return
        super().kill(kind)

    async def handle_process_kill(self, data: bytes) -> None:
        """COM_PROCESS_KILL (``mysql_kill()``, ``mysqladmin kill``): ``KILL id``, same rules."""
        if len(data) < 4:
            raise MysqlError("Malformed COM_PROCESS_KILL packet", ErrorCode.MALFORMED_PACKET)
        target = int.from_bytes(data[:4], "little")
        await self.query(f"KILL {target}", {})
        await self.stream.write(self.ok())

    async def handle_statistics(self, data: bytes) -> None:
        """COM_STATISTICS: a human-readable status line (not an OK packet)."""
        await self.stream.write(self.stats.status_line().encode())

    def _definitions(self, result_set: ResultSet) -> list[bytes]:
        charset = self.server_charset
        return [column_definition(charset, column) for column in result_set.columns]

    async def write_text_resultset(self, result_set: ResultSet) -> None:
        """A text-protocol result set whose column definitions carry their flags."""
        header = [
            packets.make_column_count(
                capabilities=self.capabilities, column_count=len(result_set.columns)
            ),
            *self._definitions(result_set),
        ]
        if not self.deprecate_eof():
            header.append(self.eof())
        self.stream.write_many(header)

        columns = result_set.columns
        affected_rows = 0
        if isinstance(result_set.rows, list | tuple):
            affected_rows = len(result_set.rows)
            for start in range(0, affected_rows, 10_000):
                self.stream.write_text_rows(result_set.rows[start : start + 10_000], columns)
                if start + 10_000 < affected_rows:
                    await self.stream.drain()  # sent as made: memory stays bounded
                    await asyncio.sleep(0)
        else:
            batch: list[bytes] = []
            async for row in cooperative_iterate(aiterate(result_set.rows)):
                affected_rows += 1
                batch.append(packets.make_text_resultset_row(row, columns))
                if len(batch) >= _BATCH:
                    self.stream.write_many(batch)
                    batch = []
                    await self.stream.drain()  # sent as made: memory stays bounded
            if batch:
                self.stream.write_many(batch)
        await self.stream.write(self.ok_or_eof(affected_rows=affected_rows), drain=False)
        await self.stream.drain()

    async def handle_stmt_execute(self, data: bytes) -> None:
        """COM_STMT_EXECUTE: a binary-protocol result set whose columns carry their flags."""
        execute = packets.parse_com_stmt_execute(
            capabilities=self.capabilities,
            client_charset=self.client_charset,
            data=data,
            get_stmt=self.get_stmt,
        )
        execute.stmt.param_buffers = None
        result_set = await self.query(execute.sql, execute.query_attrs)
        if not result_set:
            await self.stream.write(self.ok())
            return
        await self.stream.write(types.uint_len(len(result_set.columns)))
        for definition in self._definitions(result_set):
            await self.stream.write(definition, drain=False)

        async def binary_rows() -> AsyncIterator[bytes]:
            async for row in cooperative_iterate(aiterate(result_set.rows)):
                yield packets.make_binary_resultrow(row, result_set.columns)

        rows = binary_rows()
        if execute.use_cursor:
            execute.stmt.cursor = rows
            await self.stream.write(self.ok_or_eof(flags=ServerStatus.SERVER_STATUS_CURSOR_EXISTS))
            return
        if not self.deprecate_eof():
            await self.stream.write(self.eof(), drain=False)
        async for row in rows:
            await self.stream.write(row, drain=False)
        await self.stream.write(self.ok_or_eof())
