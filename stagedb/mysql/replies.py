"""How stagedb's MySQL connections answer: COM_STATISTICS, column flags, status in the handshake.

mysql-mimic's ``Connection`` answers the protocol; this subclass adds what MySQL
clients rely on and mysql-mimic leaves out:

- COM_STATISTICS (the ``mysql`` CLI's ``\\s``, ``mysqladmin status``) gets MySQL's
  status line: ``Uptime: 42  Threads: 1  Questions: 7  ...``;
- column definitions carry NOT_NULL / UNSIGNED / BINARY / NUM flags, the
  ``binary`` character set (63) for numbers and dates and MySQL's display lengths
  (see :mod:`stagedb.mysql.column_flags`), in text and binary (prepared) result sets;
- the handshake already says SERVER_STATUS_AUTOCOMMIT, as MySQL's does.
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

from stagedb.mysql.column_flags import column_definition

logger = logging.getLogger("mysql_mimic.connection")  # its filter keeps client errors quiet

_BATCH = 1000


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
        }

    async def start(self) -> None:
        """Serve the connection, counted in COM_STATISTICS' ``Threads``."""
        self.stats.threads += 1
        try:
            await super().start()
        finally:
            self.stats.threads -= 1

    async def command_phase(self) -> None:
        """mysql-mimic's command loop, with a table of commands that includes COM_STATISTICS."""
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
                handler = self._commands.get(data[0])
                if handler is None:
                    raise MysqlError(
                        f"Unsupported Command: {hex(data[0])}", ErrorCode.UNKNOWN_COM_ERROR
                    )
                await handler(data[1:])
            except MysqlError as error:
                logger.error(error)
                await self.stream.write(self.error(msg=error.msg, code=error.code))
            except asyncio.CancelledError:
                if self._kill != KillKind.QUERY:  # type: ignore[has-type]
                    raise
                logger.info("Query killed on connection %s", self.connection_id)
                if self._task is not None:
                    self._task.uncancel()
                await self.stream.write(
                    self.error(msg="Query was killed", code=ErrorCode.SESSION_WAS_KILLED)
                )
                self._kill = None
            except Exception as error:
                logger.exception(error)
                await self.stream.write(self.error(msg=error))
            finally:
                self.stream.reset_seq()

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
                    await asyncio.sleep(0)
        else:
            batch: list[bytes] = []
            async for row in cooperative_iterate(aiterate(result_set.rows)):
                affected_rows += 1
                batch.append(packets.make_text_resultset_row(row, columns))
                if len(batch) >= _BATCH:
                    self.stream.write_many(batch)
                    batch = []
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
