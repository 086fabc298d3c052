"""Engine results and errors in mysql-mimic's terms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from mysql_mimic import ResultColumn, ResultSet
from mysql_mimic.errors import SQLSTATES, MysqlError
from mysql_mimic.types import ColumnType as MysqlColumnType

from stagedb.errors import (
    BadArguments,
    PermissionDenied,
    StageAlreadyExists,
    StageDBError,
    StagePermissionDenied,
    StorageUnsupported,
    SyntaxException,
    UnknownStage,
)
from stagedb.mysql.columns import describe
from stagedb.results import Column, ColumnType, Done, Result, Rows

# mysql-mimic looks SQLSTATEs up by errno in this table; add stagedb's errnos.
for _error in (
    SyntaxException,
    BadArguments,
    UnknownStage,
    StageAlreadyExists,
    StagePermissionDenied,
    PermissionDenied,
    StorageUnsupported,
):
    SQLSTATES.setdefault(_error.errno, _error.sqlstate.encode())

_TYPES = {
    ColumnType.TEXT: MysqlColumnType.VAR_STRING,
    ColumnType.BIGINT_UNSIGNED: MysqlColumnType.LONGLONG,
    ColumnType.BOOLEAN: MysqlColumnType.TINY,
}


def to_mysql_error(error: StageDBError) -> MysqlError:
    """The MySQL error packet contents for an engine error."""
    return MysqlError(str(error), code=error.errno)


_COLUMNS_MEMO: dict[int, tuple[Sequence[Column], list[ResultColumn]]] = {}


def _result_columns(columns: Sequence[Column]) -> list[ResultColumn]:
    """mysql-mimic columns for engine columns, memoized per (constant) column list."""
    memo = _COLUMNS_MEMO.get(id(columns))
    if memo is not None and memo[0] is columns:
        return memo[1]
    converted = [
        # issue 7, connection side: NOT_NULL / UNSIGNED flags in the column definitions
        describe(
            ResultColumn(name=c.name, type=_TYPES[c.type]),
            nullable=c.nullable,
            unsigned=c.type is ColumnType.BIGINT_UNSIGNED,
        )
        for c in columns
    ]
    if isinstance(columns, tuple) and len(_COLUMNS_MEMO) < 256:
        _COLUMNS_MEMO[id(columns)] = (columns, converted)
    return converted


def to_result_set(result: Result) -> ResultSet | None:
    """An engine result as a mysql-mimic result set (None: an OK packet)."""
    if isinstance(result, Done):
        return None
    assert isinstance(result, Rows)
    columns = _result_columns(result.columns)
    rows = result.rows
    if isinstance(rows, AsyncIterator):
        rows = _translating(rows)
    return ResultSet(rows=rows, columns=columns)


async def _translating(rows: AsyncIterator[tuple[Any, ...]]) -> AsyncIterator[tuple[Any, ...]]:
    """Stream rows; an engine error mid-stream goes out as a MySQL error."""
    try:
        async for row in rows:
            yield row
    except StageDBError as error:
        raise to_mysql_error(error) from None
