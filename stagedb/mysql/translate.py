"""Engine results and errors in mysql-mimic's terms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from mysql_mimic import ResultColumn, ResultSet
from mysql_mimic.errors import SQLSTATES, MysqlError
from mysql_mimic.types import ColumnType as MysqlColumnType

from stagedb.errors import (
    BadArguments,
    NoDatabaseSelected,
    PermissionDenied,
    StageAlreadyExists,
    StageDBError,
    StagePermissionDenied,
    StorageUnsupported,
    SyntaxException,
    UnknownColumn,
    UnknownDatabase,
    UnknownStage,
    UnknownTable,
)
from stagedb.mysql.column_flags import result_column
from stagedb.results import Column, ColumnType, Done, Result, Rows

if TYPE_CHECKING:
    import pyarrow as pa

# mysql-mimic looks SQLSTATEs up by errno in this table; add stagedb's errnos.
for _error in (
    SyntaxException,
    BadArguments,
    UnknownStage,
    StageAlreadyExists,
    StagePermissionDenied,
    PermissionDenied,
    StorageUnsupported,
    UnknownDatabase,
    NoDatabaseSelected,
    UnknownTable,
    UnknownColumn,
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


def _result_columns(columns: Sequence[Column]) -> list[ResultColumn]:
    """mysql-mimic columns for engine columns, with NOT_NULL / UNSIGNED flags (issue 7)."""
    return [
        result_column(
            c.name,
            _TYPES[c.type],
            nullable=c.nullable,
            unsigned=c.type is ColumnType.BIGINT_UNSIGNED,
        )
        for c in columns
    ]


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


def arrow_column_type(kind: pa.DataType) -> MysqlColumnType:
    """The MySQL column type of a result column of Arrow type ``kind`` (DuckDB's results)."""
    import pyarrow as pa  # loaded with the table machinery, not at start-up

    if pa.types.is_boolean(kind):
        return MysqlColumnType.TINY
    if pa.types.is_integer(kind):
        return _INTEGER_TYPES.get(kind.bit_width, MysqlColumnType.LONGLONG)
    if pa.types.is_floating(kind):
        return MysqlColumnType.FLOAT if kind.bit_width == 32 else MysqlColumnType.DOUBLE
    if pa.types.is_decimal(kind):
        return MysqlColumnType.NEWDECIMAL
    if pa.types.is_date(kind):
        return MysqlColumnType.DATE
    if pa.types.is_timestamp(kind):
        return MysqlColumnType.DATETIME
    if pa.types.is_time(kind) or pa.types.is_duration(kind) or pa.types.is_interval(kind):
        return MysqlColumnType.TIME
    if pa.types.is_null(kind):
        return MysqlColumnType.NULL
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return MysqlColumnType.BLOB
    return MysqlColumnType.VAR_STRING


_INTEGER_TYPES = {
    8: MysqlColumnType.TINY,
    16: MysqlColumnType.SHORT,
    32: MysqlColumnType.LONG,
    64: MysqlColumnType.LONGLONG,
}


def arrow_result_set(
    schema: pa.Schema, names: Sequence[str], rows: AsyncIterator[tuple[Any, ...]]
) -> ResultSet:
    """A streamed DuckDB result as a mysql-mimic result set; values MySQL's text
    protocol cannot carry as they are (lists, structs) go out as text."""
    import pyarrow as pa

    columns = [
        result_column(
            name,
            arrow_column_type(field.type),
            nullable=field.nullable,
            unsigned=pa.types.is_unsigned_integer(field.type),
        )
        for name, field in zip(names, schema, strict=True)
    ]
    return ResultSet(rows=_translating(rows), columns=columns)
