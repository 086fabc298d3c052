"""Column-definition metadata (flags, character set, length) as MySQL itself sends it.

mysql-mimic writes every column as utf8mb4, length 256, no flags: drivers then see
``BIGINT`` where stagedb means ``BIGINT UNSIGNED`` and every column as nullable.
Its ``ResultColumn`` is a compiled class that takes no extra attributes, so
stagedb makes its result columns here, with :func:`result_column`, which records
what stagedb knows about each (nullability, signedness) beside it; the
connection reads that back when it writes the column definitions
(:func:`column_definition`).

This module is the one cache of column metadata: one ``ResultColumn`` per
distinct column, reused by every result set, and one packet per distinct
column definition.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import IntFlag
from functools import lru_cache

from mysql_mimic import ResultColumn, packets
from mysql_mimic.charset import CharacterSet
from mysql_mimic.types import ColumnDefinition, ColumnType


class Flag(IntFlag):
    """Column-definition flags, with MySQL's values (mysql-mimic's enum has NUM_FLAG wrong)."""

    NOT_NULL_FLAG = 0x0001
    BLOB_FLAG = 0x0010
    UNSIGNED_FLAG = 0x0020
    BINARY_FLAG = 0x0080
    NUM_FLAG = 0x8000


@dataclass(frozen=True)
class ColumnInfo:
    """What stagedb knows about a result column beyond its name and type."""

    nullable: bool = True
    unsigned: bool = False


_UNKNOWN = ColumnInfo()
_LIMIT = 4096
_COLUMNS: OrderedDict[tuple[str, ColumnType, ColumnInfo], ResultColumn] = OrderedDict()
_INFOS: dict[int, ColumnInfo] = {}


def result_column(
    name: str, column_type: ColumnType, *, nullable: bool = True, unsigned: bool = False
) -> ResultColumn:
    """The result column ``name`` of ``column_type``, whose definition will say
    ``nullable`` and ``unsigned``.

    The same column comes back for the same arguments, so its definition
    packet is built once.  Only the last few thousand distinct columns are
    kept; an info is forgotten together with its column, so that a column
    stagedb did not make never looks like one it did.
    """
    info = ColumnInfo(nullable=nullable, unsigned=unsigned)
    key = (name, column_type, info)
    column = _COLUMNS.get(key)
    if column is not None:
        _COLUMNS.move_to_end(key)
        return column
    column = ResultColumn(name=name, type=column_type)
    _COLUMNS[key] = column
    _INFOS[id(column)] = info
    while len(_COLUMNS) > _LIMIT:
        _, old = _COLUMNS.popitem(last=False)
        del _INFOS[id(old)]
    return column


def info_of(column: ResultColumn) -> ColumnInfo:
    """What :func:`result_column` recorded for ``column`` (nullable, signed if nothing)."""
    return _INFOS.get(id(column), _UNKNOWN)


# Display lengths MySQL sends for its types (in characters; bytes for binary types).
_NUMERIC_LENGTHS = {
    ColumnType.TINY: 4,
    ColumnType.SHORT: 6,
    ColumnType.INT24: 9,
    ColumnType.LONG: 11,
    ColumnType.LONGLONG: 20,
    ColumnType.YEAR: 4,
    ColumnType.FLOAT: 12,
    ColumnType.DOUBLE: 22,
    ColumnType.DECIMAL: 65,
    ColumnType.NEWDECIMAL: 65,
}
_TEMPORAL_LENGTHS = {
    ColumnType.DATE: 10,
    ColumnType.NEWDATE: 10,
    ColumnType.TIME: 10,
    ColumnType.TIME2: 10,
    ColumnType.DATETIME: 26,
    ColumnType.DATETIME2: 26,
    ColumnType.TIMESTAMP: 26,
    ColumnType.TIMESTAMP2: 26,
}
_BLOBS = frozenset(
    {ColumnType.TINY_BLOB, ColumnType.BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB}
)
_SIGNED_WIDER = frozenset({ColumnType.TINY, ColumnType.SHORT, ColumnType.INT24, ColumnType.LONG})
_FLOATING = frozenset({ColumnType.FLOAT, ColumnType.DOUBLE})
#: MySQL's "not fixed" decimals for floating-point and string expressions.
_NOT_FIXED_DECIMALS = 31
_TEXT_LENGTH = 256 * 4  # mysql-mimic's 256 characters, in utf8mb4 bytes


@dataclass(frozen=True)
class Metadata:
    """The numeric fields of a column definition."""

    character_set: int
    length: int
    flags: int
    decimals: int


def metadata(
    column_type: ColumnType, character_set: CharacterSet, nullable: bool, unsigned: bool
) -> Metadata:
    """Character set, length, flags and decimals of a column, as MySQL 8 sends them.

    Numbers and dates are ``binary`` (63) with BINARY_FLAG (numbers also NUM_FLAG
    and, when so, UNSIGNED_FLAG); text keeps its character set (utf8mb4).
    """
    flags = Flag(0) if nullable else Flag.NOT_NULL_FLAG
    if column_type in _NUMERIC_LENGTHS:
        flags |= Flag.BINARY_FLAG | Flag.NUM_FLAG
        if unsigned:
            flags |= Flag.UNSIGNED_FLAG
        length = _NUMERIC_LENGTHS[column_type]
        if unsigned and column_type in _SIGNED_WIDER:
            length -= 1  # no room for the sign: INT UNSIGNED is 10 wide, INT 11
        decimals = _NOT_FIXED_DECIMALS if column_type in _FLOATING else 0
        return Metadata(CharacterSet.binary, length, int(flags), decimals)
    if column_type in _TEMPORAL_LENGTHS:
        flags |= Flag.BINARY_FLAG
        return Metadata(CharacterSet.binary, _TEMPORAL_LENGTHS[column_type], int(flags), 0)
    if column_type in _BLOBS:
        flags |= Flag.BLOB_FLAG
    if character_set == CharacterSet.binary:
        flags |= Flag.BINARY_FLAG
        return Metadata(CharacterSet.binary, 65535, int(flags), 0)
    if column_type == ColumnType.JSON:
        flags |= Flag.BLOB_FLAG | Flag.BINARY_FLAG
        return Metadata(CharacterSet.binary, 4294967295, int(flags), 0)
    return Metadata(character_set, _TEXT_LENGTH, int(flags), 0)


@lru_cache(maxsize=4096)
def _definition(
    server_charset: CharacterSet,
    name: str,
    column_type: ColumnType,
    character_set: CharacterSet,
    nullable: bool,
    unsigned: bool,
) -> bytes:
    meta = metadata(column_type, character_set, nullable, unsigned)
    return bytes(
        packets.make_column_definition_41(
            server_charset=server_charset,
            name=name,
            column_type=column_type,
            character_set=meta.character_set,
            column_length=meta.length,
            flags=ColumnDefinition(meta.flags),
            decimals=meta.decimals,
        )
    )


def column_definition(server_charset: CharacterSet, column: ResultColumn) -> bytes:
    """The ColumnDefinition41 packet of ``column``, with its flags (memoized)."""
    info = info_of(column)
    return _definition(
        server_charset,
        column.name,
        column.type,
        column.character_set,
        info.nullable,
        info.unsigned,
    )
