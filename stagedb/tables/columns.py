"""The columns of LIST and SHOW STAGES: the one definition of each.

The engine's LIST and SHOW STAGES results take their columns from here
(``result_columns``), and so do the SQL tables that show the same data: a
directory table has LIST's columns (same names, types and formats), the
``stages`` table SHOW STAGES's.  Text compares byte by byte (``utf8mb4_bin``):
file and stage names are case-sensitive, so ``LIKE`` is too.

This module loads no pyarrow (the engine imports it at start-up); the Arrow
forms (``DIRECTORY_SCHEMA``, ``STAGES_SCHEMA``) live in ``stagedb.tables.arrow``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stagedb.results import Column, ColumnType

if TYPE_CHECKING:
    pass

CHARSET = "utf8mb4"
COLLATION = "utf8mb4_bin"
STAGES_TABLE = "stages"


@dataclass(frozen=True)
class TableColumn:
    """A column as information_schema and SHOW COLUMNS describe it."""

    name: str
    column_type: str
    """MySQL's full type: ``varchar(1024)``, ``bigint unsigned``, ``bigint``, ``tinyint(1)``."""
    nullable: bool = True
    key: str = ""
    comment: str = ""

    @property
    def data_type(self) -> str:
        """The type without length or attributes: ``varchar``, ``bigint``."""
        return self.column_type.split("(")[0].split(" ")[0]

    @property
    def max_length(self) -> int | None:
        """A varchar's length in characters; None for other types."""
        if self.data_type != "varchar":
            return None
        return int(self.column_type.split("(")[1].rstrip(")"))

    @property
    def is_text(self) -> bool:
        """Whether the column holds text (and so has a character set and collation)."""
        return self.data_type in ("varchar", "text")

    @property
    def numeric_precision(self) -> int | None:
        """Digits of an integer column, as information_schema reports them."""
        return {"bigint": 20 if "unsigned" in self.column_type else 19, "tinyint": 3}.get(
            self.data_type
        )


def _text(
    name: str, length: int, nullable: bool = True, key: str = "", comment: str = ""
) -> TableColumn:
    return TableColumn(name, f"varchar({length})", nullable, key, comment)


DIRECTORY_COLUMNS = (
    _text("name", 1024, nullable=False, key="PRI", comment="file name, relative to the stage root"),
    TableColumn("size", "bigint unsigned", False, comment="size in bytes"),
    _text("md5", 64, comment="the storage's ETag (quotes included on S3); NULL when it has none"),
    _text("last_modified", 32, nullable=False, comment="'YYYY-MM-DD HH:MM:SS.mmm +0000' (UTC)"),
    _text("creator", 128, comment="always NULL, as in LIST"),
)
"""LIST's columns, which are a directory table's."""

STAGES_COLUMNS = (
    _text("name", 255, nullable=False, key="PRI"),
    _text("stage_type", 16, nullable=False, comment="Internal or External"),
    _text("storage_type", 16),
    _text("url", 1024),
    _text("endpoint", 1024),
    TableColumn("has_credentials", "tinyint(1)"),
    TableColumn("has_encryption_key", "tinyint(1)"),
    _text("storage_params", 4096, comment="JSON, secrets masked"),
    _text("file_format_options", 4096, comment="JSON"),
    _text("creator", 255),
    _text("created_on", 32),
    _text("comment", 1024),
    _text("owner", 255),
)
"""SHOW STAGES's (and DESC STAGE's) columns, which are the ``stages`` table's (secrets masked)."""

_RESULT_TYPES = {"bigint unsigned": ColumnType.BIGINT_UNSIGNED, "tinyint(1)": ColumnType.BOOLEAN}


def result_columns(columns: tuple[TableColumn, ...]) -> tuple[Column, ...]:
    """The engine's result columns for ``columns`` (text, BIGINT UNSIGNED or BOOLEAN)."""
    return tuple(
        Column(c.name, ColumnType.TEXT if c.is_text else _RESULT_TYPES[c.column_type], c.nullable)
        for c in columns
    )
