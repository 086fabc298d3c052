"""Databases and tables for MySQL clients: SHOW statements and information_schema.

BI tools browse a server with SHOW DATABASES / TABLES / COLUMNS / INDEX /
CREATE TABLE / TABLE STATUS and information_schema queries; the answers come
from the stage catalog (a ``stages`` table and one directory table per stage
in the configured database) plus information_schema's own tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from sqlglot import expressions as exp

from stagedb.catalog.records import StageRecord
from stagedb.engine import Engine, SessionInfo
from stagedb.errors import NoDatabaseSelected, UnknownDatabase, UnknownTable
from stagedb.mysql.infoschema import (
    SYSTEM_COLUMNS,
    charset_rows,
    collation_rows,
    engine_rows,
    help_topic,
    plugin_rows,
    system_table,
)
from stagedb.mysql.model import ENGINE, INFO_SCHEMA, TableInfo
from stagedb.stages import like_to_regex
from stagedb.tables import duck
from stagedb.tables.arrow import rows_table
from stagedb.tables.columns import (
    CHARSET,
    COLLATION,
    DIRECTORY_COLUMNS,
    STAGES_COLUMNS,
    STAGES_TABLE,
)
from stagedb.visible_stages import visible_stage, visible_stages

Answer = tuple[Sequence[Sequence[Any]], list[str]]


_SYSTEM_INFOS = [
    TableInfo(INFO_SCHEMA, name, columns, "", "SYSTEM VIEW", None, None, "utf8mb3_general_ci")
    for name, columns in sorted(SYSTEM_COLUMNS.items())
]
_STAGES_COMMENT = "Stages, as SHOW STAGES shows them (secrets masked)"


class Metadata:
    """The databases and tables one session sees."""

    def __init__(self, engine: Engine, session: SessionInfo, database_name: str) -> None:
        self.engine = engine
        self.session = session
        self.database_name = database_name

    # -- the model -------------------------------------------------------------------

    def databases(self) -> list[str]:
        """Database names, in SHOW DATABASES order."""
        return sorted([INFO_SCHEMA, self.database_name])

    def canonical_database(self, name: str) -> str:
        """``name`` as stagedb spells it; UnknownDatabase if there is no such database."""
        if name.lower() == INFO_SCHEMA:
            return INFO_SCHEMA
        if name == self.database_name:
            return name
        raise UnknownDatabase(name)

    async def tables(self, database: str | None = None) -> list[TableInfo]:
        """The tables of ``database`` (every database's when None)."""
        if database == INFO_SCHEMA:
            return list(_SYSTEM_INFOS)
        infos = [self._stages_info()]
        for record in await visible_stages(self.engine, self.session):
            if record.name != STAGES_TABLE:  # the stages table wins (DIRECTORY(@stages) works)
                infos.append(self._directory_info(record))
        infos.sort(key=lambda t: t.name)
        return infos if database is not None else [*infos, *_SYSTEM_INFOS]

    async def table(self, database: str, name: str) -> TableInfo:
        """One table; UnknownTable if there is none.  Reads only that stage's record."""
        database = self.canonical_database(database)
        if database == INFO_SCHEMA:
            folded = name.lower()
            for info in _SYSTEM_INFOS:
                if info.name.lower() == folded:
                    return info
            raise UnknownTable(database, name)
        if name == STAGES_TABLE:
            return self._stages_info()
        record = await visible_stage(self.engine, self.session, name)
        if record is None:
            raise UnknownTable(database, name)
        return self._directory_info(record)

    def _stages_info(self) -> TableInfo:
        return TableInfo(self.database_name, STAGES_TABLE, STAGES_COLUMNS, _STAGES_COMMENT)

    def _directory_info(self, record: StageRecord) -> TableInfo:
        about = f"Files of stage {record.name}"
        comment = f"{about}: {record.comment}" if record.comment else about
        return TableInfo(self.database_name, record.name, DIRECTORY_COLUMNS, comment)

    async def system_table(self, database: str, name: str) -> pa.Table:
        """A table of a database other than stagedb's own (for SELECTs)."""
        if database.lower() == "mysql" and name.lower() == "help_topic":
            return help_topic()
        database = self.canonical_database(database)
        if database == INFO_SCHEMA:
            needs_tables = name.upper() in ("TABLES", "COLUMNS", "STATISTICS",
                                            "KEY_COLUMN_USAGE", "TABLE_CONSTRAINTS")  # fmt: skip
            tables = await self.tables() if needs_tables else []
            data = system_table(name, self.databases(), tables)
            if data is not None:
                return data
        raise UnknownTable(database, name)

    # -- SHOW ------------------------------------------------------------------------

    def handles(self, show: exp.Show) -> bool:
        """Whether this module answers ``show``."""
        return show.name.upper() in _SHOW

    async def show(self, show: exp.Show, current: str | None) -> Answer:
        """The answer to a SHOW statement ``handles`` accepted."""
        rows, names = await _SHOW[show.name.upper()](self, show, current)
        like = show.args.get("like")
        if like is not None:
            regex = like_to_regex(like.name)
            rows = [row for row in rows if row[0] is not None and regex.fullmatch(str(row[0]))]
        where = show.args.get("where")
        if where is not None:
            rows = await filtered_rows(rows, names, where)
        return rows, names

    def _database(self, show: exp.Show, current: str | None) -> str:
        database = show.text("db") or current
        if not database:
            raise NoDatabaseSelected("No database selected")
        return self.canonical_database(database)

    async def _show_databases(self, _show: exp.Show, _current: str | None) -> Answer:
        return [(db,) for db in self.databases()], ["Database"]

    async def _show_tables(self, show: exp.Show, current: str | None) -> Answer:
        database = self._database(show, current)
        infos = await self.tables(database)
        names = [f"Tables_in_{database}"]
        if show.args.get("full"):
            return [(t.name, t.table_type) for t in infos], [*names, "Table_type"]
        return [(t.name,) for t in infos], names

    async def _show_columns(self, show: exp.Show, current: str | None) -> Answer:
        info = await self.table(self._database(show, current), show.text("target"))
        full = bool(show.args.get("full"))
        rows: list[tuple[Any, ...]] = []
        for c in info.columns:
            null = "YES" if c.nullable else "NO"
            if full:
                collation = info.collation if c.is_text else None
                rows.append((c.name, c.column_type, collation, null, c.key, None, "", "select",
                             c.comment))  # fmt: skip
            else:
                rows.append((c.name, c.column_type, null, c.key, None, ""))
        if full:
            return rows, ["Field", "Type", "Collation", "Null", "Key", "Default", "Extra",
                          "Privileges", "Comment"]  # fmt: skip
        return rows, ["Field", "Type", "Null", "Key", "Default", "Extra"]

    async def _show_index(self, show: exp.Show, current: str | None) -> Answer:
        info = await self.table(self._database(show, current), show.text("target"))
        rows = [
            (info.name, 0, "PRIMARY", 1, c.name, "A", None, None, None, "", "BTREE", "", "",
             "YES", None)
            for c in info.columns if c.key == "PRI"
        ]  # fmt: skip
        return rows, ["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name",
                      "Collation", "Cardinality", "Sub_part", "Packed", "Null", "Index_type",
                      "Comment", "Index_comment", "Visible", "Expression"]  # fmt: skip

    async def _show_create_table(self, show: exp.Show, current: str | None) -> Answer:
        info = await self.table(self._database(show, current), show.text("target"))
        return [(info.name, create_table_sql(info))], ["Table", "Create Table"]

    async def _show_create_database(self, show: exp.Show, _current: str | None) -> Answer:
        database = self.canonical_database(show.text("target"))
        collation = COLLATION if database != INFO_SCHEMA else "utf8mb3_general_ci"
        charset = CHARSET if database != INFO_SCHEMA else "utf8mb3"
        text = (f"CREATE DATABASE `{database}` /*!40100 DEFAULT CHARACTER SET {charset} "
                f"COLLATE {collation} */ /*!80016 DEFAULT ENCRYPTION='N' */")  # fmt: skip
        return [(database, text)], ["Database", "Create Database"]

    async def _show_table_status(self, show: exp.Show, current: str | None) -> Answer:
        infos = await self.tables(self._database(show, current))
        rows = [
            (t.name, t.engine, 10, t.row_format, None, 0, 0, 0, 0, 0, None, None, None, None,
             t.collation, None, "", t.comment)
            for t in infos
        ]  # fmt: skip
        return rows, ["Name", "Engine", "Version", "Row_format", "Rows", "Avg_row_length",
                      "Data_length", "Max_data_length", "Index_length", "Data_free",
                      "Auto_increment", "Create_time", "Update_time", "Check_time",
                      "Collation", "Checksum", "Create_options", "Comment"]  # fmt: skip

    async def _show_engines(self, _show: exp.Show, _current: str | None) -> Answer:
        return engine_rows(), ["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"]

    async def _show_charset(self, _show: exp.Show, _current: str | None) -> Answer:
        rows = [(name, description, collation, maxlen)
                for name, collation, description, maxlen in charset_rows()]  # fmt: skip
        return rows, ["Charset", "Description", "Default collation", "Maxlen"]

    async def _show_collation(self, _show: exp.Show, _current: str | None) -> Answer:
        return collation_rows(), ["Collation", "Charset", "Id", "Default", "Compiled",
                                  "Sortlen", "Pad_attribute"]  # fmt: skip

    async def _show_plugins(self, _show: exp.Show, _current: str | None) -> Answer:
        return plugin_rows(), ["Name", "Status", "Type", "Library", "License"]


_SHOW: dict[str, Callable[[Metadata, exp.Show, str | None], Any]] = {
    "DATABASES": Metadata._show_databases,
    "TABLES": Metadata._show_tables,
    "COLUMNS": Metadata._show_columns,
    "INDEX": Metadata._show_index,
    "CREATE TABLE": Metadata._show_create_table,
    "CREATE DATABASE": Metadata._show_create_database,
    "TABLE STATUS": Metadata._show_table_status,
    "ENGINES": Metadata._show_engines,
    "CHARACTER SET": Metadata._show_charset,
    "COLLATION": Metadata._show_collation,
    "PLUGINS": Metadata._show_plugins,
}


def create_table_sql(info: TableInfo) -> str:
    """MySQL's SHOW CREATE TABLE text for a table."""
    lines = []
    for c in info.columns:
        null = "NOT NULL" if not c.nullable else "DEFAULT NULL"
        comment = f" COMMENT {_quote(c.comment)}" if c.comment else ""
        lines.append(f"  `{c.name}` {c.column_type} {null}{comment}")
    keys = [c.name for c in info.columns if c.key == "PRI"]
    if keys:
        lines.append("  PRIMARY KEY (" + ",".join(f"`{k}`" for k in keys) + ")")
    charset = info.collation.split("_")[0]
    options = f"ENGINE={info.engine or ENGINE} DEFAULT CHARSET={charset} COLLATE={info.collation}"
    if info.comment:
        options += f" COMMENT={_quote(info.comment)}"
    return f"CREATE TABLE `{info.name}` (\n" + ",\n".join(lines) + f"\n) {options}"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


async def filtered_rows(
    rows: Sequence[Sequence[Any]], names: list[str], where: exp.Expression
) -> list[tuple[Any, ...]]:
    """``SHOW ... WHERE condition``: the rows the condition keeps (run on DuckDB)."""
    table = rows_table(names, rows)
    condition = where.this.sql(dialect="duckdb")
    result = await duck.run(
        f"SELECT * FROM shown WHERE {condition}", [duck.Source("shown", table.schema, table=table)]
    )
    return [row async for row in result.rows]
