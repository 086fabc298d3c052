"""What the MySQL front shows as databases and tables."""

from __future__ import annotations

from dataclasses import dataclass

from stagedb.tables.columns import COLLATION, TableColumn

ENGINE = "STAGEDB"
INFO_SCHEMA = "information_schema"


@dataclass(frozen=True)
class TableInfo:
    """A table as SHOW TABLES, SHOW COLUMNS and information_schema describe it."""

    database: str
    name: str
    columns: tuple[TableColumn, ...]
    comment: str = ""
    table_type: str = "BASE TABLE"
    engine: str | None = ENGINE
    row_format: str | None = "Dynamic"
    collation: str = COLLATION

    def column(self, name: str) -> TableColumn | None:
        """The column called ``name`` (case-insensitive, as in MySQL)."""
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)
