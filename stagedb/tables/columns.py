"""The columns of stagedb's tables, in MySQL's and Arrow's terms.

A directory table has LIST's columns (same names, types and formats); the
``stages`` table has SHOW STAGES's.  Text compares byte by byte
(``utf8mb4_bin``): file and stage names are case-sensitive, so ``LIKE`` is too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

CHARSET = "utf8mb4"
COLLATION = "utf8mb4_bin"
STAGES_TABLE = "stages"


@dataclass(frozen=True)
class TableColumn:
    """A column as information_schema and SHOW COLUMNS describe it."""

    name: str
    column_type: str
    """MySQL's full type, ``varchar(1024)`` or ``bigint unsigned``."""
    arrow_type: pa.DataType
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
    return TableColumn(name, f"varchar({length})", pa.string(), nullable, key, comment)


DIRECTORY_COLUMNS = (
    _text("name", 1024, nullable=False, key="PRI", comment="file name, relative to the stage root"),
    TableColumn("size", "bigint unsigned", pa.uint64(), False, comment="size in bytes"),
    _text("md5", 64, comment="the storage's ETag (quotes included on S3); NULL when it has none"),
    _text("last_modified", 32, nullable=False, comment="'YYYY-MM-DD HH:MM:SS.mmm +0000' (UTC)"),
    _text("creator", 128, comment="always NULL, as in LIST"),
)
"""A directory table's columns: LIST's."""

STAGES_COLUMNS = (
    _text("name", 255, nullable=False, key="PRI"),
    _text("stage_type", 16, nullable=False, comment="Internal or External"),
    _text("storage_type", 16),
    _text("url", 1024),
    _text("endpoint", 1024),
    TableColumn("has_credentials", "tinyint(1)", pa.bool_()),
    TableColumn("has_encryption_key", "tinyint(1)", pa.bool_()),
    _text("storage_params", 4096, comment="JSON, secrets masked"),
    _text("file_format_options", 4096, comment="JSON"),
    _text("creator", 255),
    _text("created_on", 32),
    _text("comment", 1024),
    _text("owner", 255),
)
"""The ``stages`` table's columns: SHOW STAGES's (secrets masked)."""


def arrow_schema(columns: tuple[TableColumn, ...]) -> pa.Schema:
    """The Arrow schema of a table with ``columns``."""
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in columns])


DIRECTORY_SCHEMA = arrow_schema(DIRECTORY_COLUMNS)
STAGES_SCHEMA = arrow_schema(STAGES_COLUMNS)
