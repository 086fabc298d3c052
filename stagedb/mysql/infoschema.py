"""information_schema's tables (and a few other system tables) as Arrow tables.

Built per query from the catalog, with MySQL 8's conventions: upper-case
column names, 1-based ``ORDINAL_POSITION``, ``DATA_TYPE`` without a length and
``COLUMN_TYPE`` with it, real character set and collation names.  The query
itself runs on DuckDB like any other SELECT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from mysql_mimic.charset import CharacterSet, Collation

from stagedb.mysql.model import ENGINE, INFO_SCHEMA, TableInfo
from stagedb.mysql.words import RESERVED_WORDS, UNRESERVED_WORDS
from stagedb.tables.arrow import arrow_schema, rows_table
from stagedb.tables.columns import CHARSET, COLLATION, TableColumn

_S, _I = "varchar(64)", "bigint"

# name -> (column, type) in MySQL 8's order
_SPECS: dict[str, tuple[tuple[str, str], ...]] = {
    "SCHEMATA": (
        ("CATALOG_NAME", _S), ("SCHEMA_NAME", _S), ("DEFAULT_CHARACTER_SET_NAME", _S),
        ("DEFAULT_COLLATION_NAME", _S), ("SQL_PATH", _S), ("DEFAULT_ENCRYPTION", _S),
    ),
    "TABLES": (
        ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S), ("TABLE_TYPE", _S),
        ("ENGINE", _S), ("VERSION", _I), ("ROW_FORMAT", _S), ("TABLE_ROWS", _I),
        ("AVG_ROW_LENGTH", _I), ("DATA_LENGTH", _I), ("MAX_DATA_LENGTH", _I),
        ("INDEX_LENGTH", _I), ("DATA_FREE", _I), ("AUTO_INCREMENT", _I), ("CREATE_TIME", _S),
        ("UPDATE_TIME", _S), ("CHECK_TIME", _S), ("TABLE_COLLATION", _S), ("CHECKSUM", _I),
        ("CREATE_OPTIONS", _S), ("TABLE_COMMENT", _S),
    ),
    "COLUMNS": (
        ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S), ("COLUMN_NAME", _S),
        ("ORDINAL_POSITION", _I), ("COLUMN_DEFAULT", _S), ("IS_NULLABLE", _S),
        ("DATA_TYPE", _S), ("CHARACTER_MAXIMUM_LENGTH", _I), ("CHARACTER_OCTET_LENGTH", _I),
        ("NUMERIC_PRECISION", _I), ("NUMERIC_SCALE", _I), ("DATETIME_PRECISION", _I),
        ("CHARACTER_SET_NAME", _S), ("COLLATION_NAME", _S), ("COLUMN_TYPE", _S),
        ("COLUMN_KEY", _S), ("EXTRA", _S), ("PRIVILEGES", _S), ("COLUMN_COMMENT", _S),
        ("GENERATION_EXPRESSION", _S), ("SRS_ID", _I),
    ),
    "STATISTICS": (
        ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S), ("NON_UNIQUE", _I),
        ("INDEX_SCHEMA", _S), ("INDEX_NAME", _S), ("SEQ_IN_INDEX", _I), ("COLUMN_NAME", _S),
        ("COLLATION", _S), ("CARDINALITY", _I), ("SUB_PART", _I), ("PACKED", _S),
        ("NULLABLE", _S), ("INDEX_TYPE", _S), ("COMMENT", _S), ("INDEX_COMMENT", _S),
        ("IS_VISIBLE", _S), ("EXPRESSION", _S),
    ),
    "KEY_COLUMN_USAGE": (
        ("CONSTRAINT_CATALOG", _S), ("CONSTRAINT_SCHEMA", _S), ("CONSTRAINT_NAME", _S),
        ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S), ("COLUMN_NAME", _S),
        ("ORDINAL_POSITION", _I), ("POSITION_IN_UNIQUE_CONSTRAINT", _I),
        ("REFERENCED_TABLE_SCHEMA", _S), ("REFERENCED_TABLE_NAME", _S),
        ("REFERENCED_COLUMN_NAME", _S),
    ),
    "TABLE_CONSTRAINTS": (
        ("CONSTRAINT_CATALOG", _S), ("CONSTRAINT_SCHEMA", _S), ("CONSTRAINT_NAME", _S),
        ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S), ("CONSTRAINT_TYPE", _S), ("ENFORCED", _S),
    ),
    "REFERENTIAL_CONSTRAINTS": (
        ("CONSTRAINT_CATALOG", _S), ("CONSTRAINT_SCHEMA", _S), ("CONSTRAINT_NAME", _S),
        ("UNIQUE_CONSTRAINT_CATALOG", _S), ("UNIQUE_CONSTRAINT_SCHEMA", _S),
        ("UNIQUE_CONSTRAINT_NAME", _S), ("MATCH_OPTION", _S), ("UPDATE_RULE", _S),
        ("DELETE_RULE", _S), ("TABLE_NAME", _S), ("REFERENCED_TABLE_NAME", _S),
    ),
    "VIEWS": (
        ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S),
        ("VIEW_DEFINITION", _S), ("CHECK_OPTION", _S), ("IS_UPDATABLE", _S), ("DEFINER", _S),
        ("SECURITY_TYPE", _S), ("CHARACTER_SET_CLIENT", _S), ("COLLATION_CONNECTION", _S),
    ),
    "ROUTINES": (
        ("SPECIFIC_NAME", _S), ("ROUTINE_CATALOG", _S), ("ROUTINE_SCHEMA", _S),
        ("ROUTINE_NAME", _S), ("ROUTINE_TYPE", _S), ("DATA_TYPE", _S),
        ("CHARACTER_MAXIMUM_LENGTH", _I), ("CHARACTER_OCTET_LENGTH", _I),
        ("NUMERIC_PRECISION", _I), ("NUMERIC_SCALE", _I), ("DATETIME_PRECISION", _I),
        ("CHARACTER_SET_NAME", _S), ("COLLATION_NAME", _S), ("DTD_IDENTIFIER", _S),
        ("ROUTINE_BODY", _S), ("ROUTINE_DEFINITION", _S), ("EXTERNAL_NAME", _S),
        ("EXTERNAL_LANGUAGE", _S), ("PARAMETER_STYLE", _S), ("IS_DETERMINISTIC", _S),
        ("SQL_DATA_ACCESS", _S), ("SQL_PATH", _S), ("SECURITY_TYPE", _S), ("CREATED", _S),
        ("LAST_ALTERED", _S), ("SQL_MODE", _S), ("ROUTINE_COMMENT", _S), ("DEFINER", _S),
        ("CHARACTER_SET_CLIENT", _S), ("COLLATION_CONNECTION", _S), ("DATABASE_COLLATION", _S),
    ),
    "PARAMETERS": (
        ("SPECIFIC_CATALOG", _S), ("SPECIFIC_SCHEMA", _S), ("SPECIFIC_NAME", _S),
        ("ORDINAL_POSITION", _I), ("PARAMETER_MODE", _S), ("PARAMETER_NAME", _S),
        ("DATA_TYPE", _S), ("CHARACTER_MAXIMUM_LENGTH", _I), ("CHARACTER_OCTET_LENGTH", _I),
        ("NUMERIC_PRECISION", _I), ("NUMERIC_SCALE", _I), ("DATETIME_PRECISION", _I),
        ("CHARACTER_SET_NAME", _S), ("COLLATION_NAME", _S), ("DTD_IDENTIFIER", _S),
        ("ROUTINE_TYPE", _S),
    ),
    "TRIGGERS": (
        ("TRIGGER_CATALOG", _S), ("TRIGGER_SCHEMA", _S), ("TRIGGER_NAME", _S),
        ("EVENT_MANIPULATION", _S), ("EVENT_OBJECT_CATALOG", _S), ("EVENT_OBJECT_SCHEMA", _S),
        ("EVENT_OBJECT_TABLE", _S), ("ACTION_ORDER", _I), ("ACTION_CONDITION", _S),
        ("ACTION_STATEMENT", _S), ("ACTION_ORIENTATION", _S), ("ACTION_TIMING", _S),
        ("CREATED", _S), ("SQL_MODE", _S), ("DEFINER", _S),
    ),
    "EVENTS": (
        ("EVENT_CATALOG", _S), ("EVENT_SCHEMA", _S), ("EVENT_NAME", _S), ("DEFINER", _S),
        ("TIME_ZONE", _S), ("EVENT_BODY", _S), ("EVENT_DEFINITION", _S), ("EVENT_TYPE", _S),
        ("STATUS", _S), ("EVENT_COMMENT", _S),
    ),
    "PARTITIONS": (
        ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S),
        ("PARTITION_NAME", _S), ("SUBPARTITION_NAME", _S), ("PARTITION_ORDINAL_POSITION", _I),
        ("PARTITION_METHOD", _S), ("PARTITION_EXPRESSION", _S), ("PARTITION_DESCRIPTION", _S),
        ("TABLE_ROWS", _I), ("PARTITION_COMMENT", _S),
    ),
    "KEYWORDS": (("WORD", _S), ("RESERVED", _I)),
    "ENGINES": (
        ("ENGINE", _S), ("SUPPORT", _S), ("COMMENT", _S), ("TRANSACTIONS", _S), ("XA", _S),
        ("SAVEPOINTS", _S),
    ),
    "CHARACTER_SETS": (
        ("CHARACTER_SET_NAME", _S), ("DEFAULT_COLLATE_NAME", _S), ("DESCRIPTION", _S),
        ("MAXLEN", _I),
    ),
    "COLLATIONS": (
        ("COLLATION_NAME", _S), ("CHARACTER_SET_NAME", _S), ("ID", _I), ("IS_DEFAULT", _S),
        ("IS_COMPILED", _S), ("SORTLEN", _I), ("PAD_ATTRIBUTE", _S),
    ),
    "PLUGINS": (
        ("PLUGIN_NAME", _S), ("PLUGIN_VERSION", _S), ("PLUGIN_STATUS", _S),
        ("PLUGIN_TYPE", _S), ("PLUGIN_TYPE_VERSION", _S), ("PLUGIN_LIBRARY", _S),
        ("PLUGIN_LIBRARY_VERSION", _S), ("PLUGIN_AUTHOR", _S), ("PLUGIN_DESCRIPTION", _S),
        ("PLUGIN_LICENSE", _S), ("LOAD_OPTION", _S),
    ),
    "USER_PRIVILEGES": (
        ("GRANTEE", _S), ("TABLE_CATALOG", _S), ("PRIVILEGE_TYPE", _S), ("IS_GRANTABLE", _S),
    ),
    "SCHEMA_PRIVILEGES": (
        ("GRANTEE", _S), ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("PRIVILEGE_TYPE", _S),
        ("IS_GRANTABLE", _S),
    ),
    "TABLE_PRIVILEGES": (
        ("GRANTEE", _S), ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S),
        ("PRIVILEGE_TYPE", _S), ("IS_GRANTABLE", _S),
    ),
    "COLUMN_PRIVILEGES": (
        ("GRANTEE", _S), ("TABLE_CATALOG", _S), ("TABLE_SCHEMA", _S), ("TABLE_NAME", _S),
        ("COLUMN_NAME", _S), ("PRIVILEGE_TYPE", _S), ("IS_GRANTABLE", _S),
    ),
    "PROCESSLIST": (
        ("ID", _I), ("USER", _S), ("HOST", _S), ("DB", _S), ("COMMAND", _S), ("TIME", _I),
        ("STATE", _S), ("INFO", _S),
    ),
}  # fmt: skip

_HELP_TOPIC = (
    ("help_topic_id", _I), ("name", _S), ("help_category_id", _I), ("description", _S),
    ("example", _S), ("url", _S),
)  # fmt: skip
"""mysql.help_topic, which mycli reads for completions: empty here."""


def _columns_of(spec: tuple[tuple[str, str], ...]) -> tuple[TableColumn, ...]:
    return tuple(TableColumn(name, column_type) for name, column_type in spec)


SYSTEM_COLUMNS = {name: _columns_of(spec) for name, spec in _SPECS.items()}
"""information_schema's tables (upper-case names) and their columns."""
_SCHEMAS = {name: arrow_schema(columns) for name, columns in SYSTEM_COLUMNS.items()}
_HELP_TOPIC_SCHEMA = arrow_schema(_columns_of(_HELP_TOPIC))

_CHARSET_INFO = {
    "utf8mb4": ("UTF-8 Unicode", 4), "utf8mb3": ("UTF-8 Unicode", 3),
    "utf8": ("UTF-8 Unicode", 3), "latin1": ("cp1252 West European", 1),
    "ascii": ("US ASCII", 1), "binary": ("Binary pseudo charset", 1),
    "ucs2": ("UCS-2 Unicode", 2), "utf16": ("UTF-16 Unicode", 4),
    "utf16le": ("UTF-16LE Unicode", 4), "utf32": ("UTF-32 Unicode", 4),
}  # fmt: skip


def charset_rows() -> list[tuple[Any, ...]]:
    """CHARACTER_SETS rows: name, default collation, description, maxlen."""
    rows = []
    for charset in sorted(CharacterSet, key=lambda c: c.name):
        description, maxlen = _CHARSET_INFO.get(charset.name, (charset.name, 1))
        rows.append((charset.name, charset.default_collation.name, description, maxlen))
    return rows


def collation_rows() -> list[tuple[Any, ...]]:
    """COLLATIONS rows: name, charset, id, is_default, is_compiled, sortlen, pad_attribute."""
    rows = []
    for collation in sorted(Collation, key=lambda c: c.name):
        charset = collation.charset
        default = "Yes" if charset.default_collation is collation else ""
        pad = "NO PAD" if "_0900_" in collation.name else "PAD SPACE"
        rows.append((collation.name, charset.name, int(collation), default, "Yes", 1, pad))
    return rows


def engine_rows() -> list[tuple[Any, ...]]:
    """ENGINES rows."""
    return [
        (
            ENGINE,
            "DEFAULT",
            "stagedb directory tables: read-only, queried with DuckDB",
            "NO",
            "NO",
            "NO",
        )
    ]


def plugin_rows() -> list[tuple[Any, ...]]:
    """SHOW PLUGINS rows: name, status, type, library, license."""
    return [
        ("mysql_native_password", "ACTIVE", "AUTHENTICATION", None, "GPL"),
        (ENGINE, "ACTIVE", "STORAGE ENGINE", None, "Apache-2.0"),
    ]


def system_table(
    name: str, databases: Sequence[str], tables: Sequence[TableInfo]
) -> pa.Table | None:
    """information_schema table ``name`` (any case) over ``tables``; None if there is none."""
    key = name.upper()
    schema = _SCHEMAS.get(key)
    if schema is None:
        return None
    build = _ROWS.get(key)
    return rows_table(schema, build(databases, tables) if build is not None else [])


def help_topic() -> pa.Table:
    """The (empty) mysql.help_topic table."""
    return rows_table(_HELP_TOPIC_SCHEMA, [])


_Rows = Callable[[Sequence[str], Sequence[TableInfo]], list[tuple[Any, ...]]]
"""How a table's rows are made from the databases and the tables."""

_INFO_SCHEMA_CHARSET = ("utf8mb3", "utf8mb3_general_ci")
"""information_schema's own character set and collation, as in MySQL 8."""


def _schemata(databases: Sequence[str], _tables: Sequence[TableInfo]) -> list[tuple[Any, ...]]:
    return [
        (
            "def",
            db,
            *((CHARSET, COLLATION) if db != INFO_SCHEMA else _INFO_SCHEMA_CHARSET),
            None,
            "NO",
        )
        for db in databases
    ]


def _tables(_databases: Sequence[str], tables: Sequence[TableInfo]) -> list[tuple[Any, ...]]:
    return [
        ("def", t.database, t.name, t.table_type, t.engine, 10, t.row_format, None, 0, 0, 0, 0, 0,
         None, None, None, None, t.collation, None, "", t.comment)
        for t in tables
    ]  # fmt: skip


def _columns(_databases: Sequence[str], tables: Sequence[TableInfo]) -> list[tuple[Any, ...]]:
    rows = []
    for t in tables:
        for position, c in enumerate(t.columns, start=1):
            text = c.is_text
            rows.append((
                "def", t.database, t.name, c.name, position, None, "YES" if c.nullable else "NO",
                c.data_type, c.max_length, c.max_length * 4 if c.max_length else None,
                c.numeric_precision, 0 if c.numeric_precision is not None else None, None,
                CHARSET if text else None, t.collation if text else None, c.column_type, c.key,
                "", "select", c.comment, "", None,
            ))  # fmt: skip
    return rows


def _statistics(_databases: Sequence[str], tables: Sequence[TableInfo]) -> list[tuple[Any, ...]]:
    return [
        ("def", t.database, t.name, 0, t.database, "PRIMARY", 1, c.name, "A", None, None, None,
         "", "BTREE", "", "", "YES", None)
        for t in tables for c in t.columns if c.key == "PRI"
    ]  # fmt: skip


def _key_column_usage(
    _databases: Sequence[str], tables: Sequence[TableInfo]
) -> list[tuple[Any, ...]]:
    return [
        ("def", t.database, "PRIMARY", "def", t.database, t.name, c.name, 1, None, None, None, None)
        for t in tables for c in t.columns if c.key == "PRI"
    ]  # fmt: skip


def _table_constraints(
    _databases: Sequence[str], tables: Sequence[TableInfo]
) -> list[tuple[Any, ...]]:
    return [
        ("def", t.database, "PRIMARY", t.database, t.name, "PRIMARY KEY", "YES")
        for t in tables if any(c.key == "PRI" for c in t.columns)
    ]  # fmt: skip


def _keywords(_databases: Sequence[str], _tables: Sequence[TableInfo]) -> list[tuple[Any, ...]]:
    return sorted([(w, 1) for w in RESERVED_WORDS] + [(w, 0) for w in UNRESERVED_WORDS])


def _plugins(_d: Sequence[str], _t: Sequence[TableInfo]) -> list[tuple[Any, ...]]:
    return [
        (name, "1.0", status, kind, "1.0", library, None, "stagedb", None, license_, "ON")
        for name, status, kind, library, license_ in plugin_rows()
    ]


def _fixed(rows: Callable[[], list[tuple[Any, ...]]]) -> _Rows:
    """A table whose rows do not depend on the databases and tables."""
    return lambda _databases, _tables: rows()


_ROWS: dict[str, _Rows] = {
    "SCHEMATA": _schemata,
    "TABLES": _tables,
    "COLUMNS": _columns,
    "STATISTICS": _statistics,
    "KEY_COLUMN_USAGE": _key_column_usage,
    "TABLE_CONSTRAINTS": _table_constraints,
    "KEYWORDS": _keywords,
    "COLLATIONS": _fixed(collation_rows),
    "CHARACTER_SETS": _fixed(charset_rows),
    "ENGINES": _fixed(engine_rows),
    "PLUGINS": _plugins,
}
