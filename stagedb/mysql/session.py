"""A mysql-mimic session speaking the stagedb dialect.

mysql-mimic keeps doing what it does well (SET, SHOW VARIABLES, USE,
information_schema); stagedb adds one middleware in front that hands stage
statements to the engine, parses with the stagedb dialect so that syntax
errors reach the client as 1064, and answers constant SELECTs (``SELECT 1``,
``SELECT @@version_comment``) without sqlglot's executor.
"""

from __future__ import annotations

import logging
from typing import Any

from mysql_mimic import Session
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.results import AllowedResult
from mysql_mimic.session import Middleware, Query
from mysql_mimic.types import ServerStatus
from sqlglot import expressions as exp

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import StageDBError
from stagedb.mysql.static import constant_select
from stagedb.mysql.translate import to_mysql_error, to_result_set
from stagedb.sql import StageDB, parse_statements

logger = logging.getLogger(__name__)

VERSION_COMMENT = "stagedb - stages over the MySQL protocol"


class StageSession(Session):
    """One client connection's session."""

    dialect = StageDB

    def __init__(self, engine: Engine, server_version: str) -> None:
        super().__init__()
        self.engine = engine
        self.variables.set("version", f"8.0.36-stagedb-{server_version}", force=True)
        self.variables.set("version_comment", VERSION_COMMENT, force=True)
        self.middlewares: list[Middleware] = [
            self._stage_middleware,
            *(
                self._constant_select_middleware if m == self._static_query_middleware else m
                for m in self.middlewares
            ),
        ]

    async def init(self, connection: Any) -> None:
        """Set up the session; a connection that did not authenticate is closed here.

        mysql-mimic has already sent the client its 1045 error and would go on
        to the command phase: close the socket instead, so no command is ever
        served on it.
        """
        await super().init(connection)
        if not self.username:
            connection.stream.writer.transport.abort()
            raise ConnectionAbortedError("login refused")
        connection.status_flags |= ServerStatus.SERVER_STATUS_AUTOCOMMIT

    def _parse(self, sql: str) -> list[exp.Expression]:
        try:
            return parse_statements(sql)
        except StageDBError as error:
            raise to_mysql_error(error) from None

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> AllowedResult:
        """Run the client's statements; engine errors go out with their own errno."""
        try:
            return await super().handle_query(sql, attrs)
        except StageDBError as error:
            raise to_mysql_error(error) from None

    async def _stage_middleware(self, q: Query) -> AllowedResult:
        if not self.engine.handles(q.expression):
            return await q.next()
        result = await self.engine.execute(q.expression, SessionInfo(user=self.username or ""))
        return to_result_set(result)

    async def _constant_select_middleware(self, q: Query) -> AllowedResult:
        answer = constant_select(q.expression)
        if answer is not None:
            return answer
        return await self._static_query_middleware(q)

    async def query(self, expression: exp.Expression, sql: str, attrs: dict[str, str]) -> Any:
        """Statements no middleware answered: stagedb does not run them."""
        raise MysqlError(
            f"stagedb does not support this statement: {expression.key.upper()} "
            f"(stage statements are listed in grammar/stage.ebnf)",
            code=ErrorCode.NOT_SUPPORTED_YET,
        )
