"""A mysql-mimic session speaking the stagedb dialect.

mysql-mimic keeps doing what it does well (SET, SHOW VARIABLES, USE); stagedb
adds one middleware in front that hands stage statements to the engine,
parses with the stagedb dialect so that syntax errors reach the client as
1064, and answers constant SELECTs (``SELECT 1``, ``SELECT @@version_comment``)
without sqlglot's executor.  Tables (the ``stages`` table, directory tables,
information_schema) replace mysql-mimic's information_schema: SELECTs run on
DuckDB over Arrow data (stagedb.tables) and SHOW statements about databases
and tables are answered from the catalog (stagedb.mysql.metadata).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar

from mysql_mimic import Session
from mysql_mimic.constants import KillKind
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.results import AllowedResult
from mysql_mimic.session import Middleware, Query
from mysql_mimic.types import ServerStatus
from sqlglot import TokenType
from sqlglot import expressions as exp
from sqlglot.executor import execute

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import BadArguments, InvalidConfig, QueryInterrupted, StageDBError
from stagedb.mysql import processlist
from stagedb.mysql.model import INFO_SCHEMA
from stagedb.mysql.static import constant_select
from stagedb.mysql.translate import to_mysql_error, to_result_set
from stagedb.sql import StageDB, parse_statements

if TYPE_CHECKING:
    import pyarrow as pa

    from stagedb.mysql.metadata import Metadata

# The table machinery (stagedb.mysql.metadata, stagedb.tables.plan) loads pyarrow,
# ~50 MiB of memory: it is imported on the first statement that reads a table or
# browses metadata, so a server that only moves files never pays for it.

logger = logging.getLogger(__name__)

VERSION_COMMENT = "stagedb - stages over the MySQL protocol"


class StageSession(Session):
    """One client connection's session."""

    dialect = StageDB
    database_name: ClassVar[str] = "stagedb"
    """The database holding the ``stages`` table and the directory tables (configurable)."""

    def __init__(self, engine: Engine, server_version: str) -> None:
        super().__init__()
        self.engine = engine
        self.variables.set("version", f"8.0.36-stagedb-{server_version}", force=True)
        self.variables.set("version_comment", VERSION_COMMENT, force=True)
        replaced: dict[str, Middleware] = {
            "_static_query_middleware": self._constant_select_middleware,
            "_info_schema_middleware": self._table_middleware,
        }
        self.middlewares: list[Middleware] = [
            self._stage_middleware,
            *(replaced.get(m.__name__, m) for m in self.middlewares),
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
        """SELECTs of literals are answered here; any other SELECT, with or without a
        FROM, goes on to DuckDB (``_table_middleware``), not to sqlglot's executor."""
        answer = constant_select(q.expression)
        if answer is not None:
            return answer
        return await q.next()

    # -- tables ---------------------------------------------------------------------

    @property
    def _session_info(self) -> SessionInfo:
        return SessionInfo(user=self.username or "")

    @property
    def metadata(self) -> Metadata:
        """The databases and tables this session sees."""
        from stagedb.mysql.metadata import Metadata

        return Metadata(self.engine, self._session_info, self.database_name)

    async def use(self, database: str) -> None:
        """``USE db`` / COM_INIT_DB: only an existing database (1049 otherwise)."""
        try:
            self.database = self.metadata.canonical_database(database)
        except StageDBError as error:
            raise to_mysql_error(error) from None

    def _set_variable(self, setitem: exp.SetItem) -> None:
        """``SET x = <expression>``: constant expressions are worked out first, so that
        Connector/J's ``sql_mode = concat(@@sql_mode, ',STRICT_TRANS_TABLES')`` works."""
        assignment = setitem.this
        value = assignment.expression
        if isinstance(assignment, exp.EQ) and not isinstance(
            value, (exp.Literal, exp.Null, exp.Boolean, exp.Column, exp.Var, exp.Neg)
        ):
            try:
                result = execute(exp.select(value.copy()))
            except Exception as error:  # sqlglot's executor raises many kinds
                raise MysqlError(
                    f"Cannot work out the value of {value.sql(dialect=StageDB)}: {error}",
                    code=ErrorCode.WRONG_VALUE_FOR_VAR,
                ) from None
            constant = result.rows[0][0] if result.rows else None
            literal: exp.Expression = (
                exp.null() if constant is None else exp.Literal.string(str(constant))
            )
            if isinstance(constant, (int, float)) and not isinstance(constant, bool):
                literal = exp.Literal.number(constant)
            assignment.set("expression", literal)
        super()._set_variable(setitem)

    async def _show(self, expression: exp.Show) -> AllowedResult:
        if expression.name.upper() == "PROCESSLIST":
            rows = self._process_rows()
            return processlist.processlist_result(rows, full=bool(expression.args.get("full")))
        metadata = self.metadata
        if metadata.handles(expression):
            return await metadata.show(expression, self.database)
        answer = await super()._show(expression)
        where = expression.args.get("where")
        if where is not None and isinstance(answer, tuple):  # SHOW VARIABLES WHERE ...
            from stagedb.mysql.metadata import filtered_rows

            rows, names = answer
            return await filtered_rows(rows, [str(n) for n in names], where), names
        return answer

    async def _table_middleware(self, q: Query) -> AllowedResult:
        """SELECTs over stagedb's tables and information_schema, run on DuckDB."""
        reads_tables = isinstance(q.expression, exp.Query)  # a SELECT or a set operation
        if not reads_tables:
            return await q.next()
        from stagedb.mysql.translate import arrow_result_set
        from stagedb.tables.plan import QueryContext, run_select

        metadata = self.metadata

        async def other_table(database: str, name: str) -> pa.Table:
            if database.lower() == INFO_SCHEMA and name.upper() == "PROCESSLIST":
                return processlist.processlist_table(self._process_rows())
            return await metadata.system_table(database, name)

        context = QueryContext(
            engine=self.engine,
            session=self._session_info,
            database_name=self.database_name,
            current_database=self.database,
            other_table=other_table,
        )
        result = await run_select(q.expression, context)
        names = _column_names(q.expression, [field.name for field in result.schema], q.sql)
        return arrow_result_set(result.schema, names, result.rows)

    # -- SHOW PROCESSLIST and KILL ----------------------------------------------------

    def _process_rows(self) -> list[processlist.ProcessRow]:
        """The server's MySQL connections this session's user may see."""
        return processlist.process_rows(self.connection.control.connections(), self.username or "")

    async def _kill_middleware(self, q: Query) -> AllowedResult:
        """``KILL [CONNECTION | QUERY] id``: root kills any connection, others their own."""
        if not isinstance(q.expression, exp.Kill):
            return await q.next()
        target = q.expression.this
        if not (isinstance(target, exp.Literal) and target.is_int):
            raise BadArguments("KILL takes a connection id, as SHOW PROCESSLIST shows it")
        query = q.expression.text("kind").upper() == "QUERY"
        connection = self.connection
        process = processlist.killable(
            connection.control.connections(), self.username or "", int(target.name)
        )
        if process is connection:  # as MySQL: this statement is interrupted ...
            self.connection.ending = not query  # ... and KILL CONNECTION ends the session
            raise QueryInterrupted()
        if query:
            process.kill(KillKind.QUERY)
        else:
            process.drop()
        return [], []

    async def query(self, expression: exp.Expression, sql: str, attrs: dict[str, str]) -> Any:
        """Statements no middleware answered: stagedb does not run them."""
        raise MysqlError(
            f"stagedb does not support this statement: {expression.key.upper()} "
            f"(stage statements are listed in grammar/stage.ebnf)",
            code=ErrorCode.NOT_SUPPORTED_YET,
        )


_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def check_database_name(name: str) -> str:
    """``name`` if it can name stagedb's database; InvalidConfig otherwise."""
    if not _DATABASE_NAME.fullmatch(name) or name.lower() in ("information_schema", "mysql"):
        raise InvalidConfig(
            f"Invalid database name '{name}': use letters, digits, '_' and '$' (not starting "
            "with a digit), and not information_schema or mysql"
        )
    return name


def _column_names(expression: exp.Expression, engine_names: list[str], sql: str) -> list[str]:
    """MySQL's column names: an alias, a column's own name, or the expression as written."""
    if not isinstance(expression, exp.Select):
        return engine_names
    projections = expression.expressions
    if len(projections) != len(engine_names) or any(
        isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
        for p in projections
    ):
        return engine_names
    written = _projection_texts(sql)
    if written is None or len(written) != len(projections):
        written = [p.sql(dialect=StageDB) for p in projections]
    names = []
    for projection, engine_name, text in zip(projections, engine_names, written, strict=True):
        if isinstance(projection, exp.Alias):
            names.append(projection.alias)
        elif isinstance(projection, exp.Column):
            names.append(engine_name)
        else:
            names.append(text)
    return names


_PROJECTION_ENDS = frozenset(
    {TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.ORDER_BY, TokenType.LIMIT,
     TokenType.HAVING, TokenType.UNION, TokenType.INTO, TokenType.SEMICOLON, TokenType.FOR,
     TokenType.WINDOW}
)  # fmt: skip
_SELECT_MODIFIERS = frozenset({"DISTINCT", "ALL", "DISTINCTROW", "HIGH_PRIORITY", "STRAIGHT_JOIN"})


def _projection_texts(sql: str) -> list[str] | None:
    """The text of each projection of a statement ``SELECT a, f(b) ...`` as the client
    wrote it (MySQL names a column after it); None if ``sql`` is not one such SELECT."""
    try:
        tokens = StageDB().tokenize(sql)
    except Exception:  # the statement parsed already; be safe all the same
        return None
    if not tokens or tokens[0].token_type != TokenType.SELECT:
        return None
    ends = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SEMICOLON]
    if ends and any(t.token_type != TokenType.SEMICOLON for t in tokens[ends[0] :]):
        return None  # several statements: which one is running is not known here
    position = 1
    while position < len(tokens) and (
        tokens[position].text.upper() in _SELECT_MODIFIERS
        or tokens[position].text.upper().startswith("SQL_")
    ):
        position += 1
    texts: list[str] = []
    depth, first = 0, position
    for index in range(position, len(tokens) + 1):
        token = tokens[index] if index < len(tokens) else None
        kind = token.token_type if token is not None else None
        if (
            token is None
            or (depth == 0 and kind in _PROJECTION_ENDS)
            or (depth == 0 and kind == TokenType.COMMA)
        ):
            if index == first:
                return None
            texts.append(sql[tokens[first].start : tokens[index - 1].end + 1])
            first = index + 1
            if kind != TokenType.COMMA:
                break
        elif kind in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
        elif kind in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth -= 1
    return texts
