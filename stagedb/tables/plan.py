"""Turning a MySQL SELECT over stagedb's tables into a DuckDB query with Arrow sources.

Every table reference is resolved (``stagedb.<stage>``, ``stagedb.stages``,
``DIRECTORY(@stage)``, or a table the caller provides, such as
information_schema's), replaced by a registered source under the same alias,
and the tree is written out in DuckDB's dialect by sqlglot.  A directory
table filtered with ``name LIKE 'prefix%'`` (or ``name = '...'``) lists only
the files under that prefix: the filter stays in the query, so the answer
is the same, only faster.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import expressions as exp

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import (
    BadArguments,
    NoDatabaseSelected,
    QueryError,
    UnknownDatabase,
    UnknownStage,
    UnknownTable,
)
from stagedb.sql.nodes import DirectoryTable
from stagedb.storage.files import StageFiles
from stagedb.storage.paths import check_relative_path
from stagedb.tables import duck
from stagedb.tables.arrow import DIRECTORY_SCHEMA, STAGES_SCHEMA
from stagedb.tables.columns import STAGES_TABLE
from stagedb.tables.sources import (
    directory_batches,
    directory_record_batch,
    open_directory,
    stages_table,
)

OtherTable = Callable[[str, str], Awaitable[pa.Table]]
"""Resolves a table of another database (``information_schema``); raises if there is none."""


@dataclass(frozen=True)
class QueryContext:
    """Who runs a query and what its unqualified names mean."""

    engine: Engine
    session: SessionInfo
    database_name: str
    """The name of the database holding ``stages`` and the directory tables."""
    current_database: str | None
    other_table: OtherTable


async def run_select(expression: exp.Expression, context: QueryContext) -> duck.DuckResult:
    """Run a SELECT (MySQL dialect) over stagedb's tables."""
    tree = expression.copy()
    _escape_like_patterns(tree)
    _convert_timezones(tree)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    sources: list[duck.Source] = []
    for node in list(tree.find_all(exp.Table, DirectoryTable)):
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in ctes:
            continue
        source, alias = await _source_for(node, tree, context, len(sources))
        if source is None:
            continue
        sources.append(source)
        replacement = exp.Table(this=exp.to_identifier(source.name, quoted=True))
        replacement.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        node.replace(replacement)
    for column in tree.find_all(exp.Column):
        column.set("db", None)
        column.set("catalog", None)
    return await duck.run(tree.sql(dialect="duckdb"), sources)


async def _source_for(
    node: exp.Expression, tree: exp.Expression, context: QueryContext, number: int
) -> tuple[duck.Source | None, str]:
    if isinstance(node, DirectoryTable):
        location = node.location
        files = await open_directory(context.engine, location.stage, context.session)
        prefix = _pushed_prefix(node, node.alias, location.path)
        return _directory(f"directory_{number}", files, prefix), node.alias or location.stage
    assert isinstance(node, exp.Table)
    if not isinstance(node.this, exp.Identifier) or node.args.get("catalog"):
        raise QueryError(f"Unsupported table reference: {node.sql(dialect='mysql')}")
    table = node.name
    alias = node.alias or table
    database = node.text("db") or None
    if database is None and table.upper() == "DUAL":
        _drop_dual(node)
        return None, alias
    database = database or context.current_database
    if database is None:
        raise NoDatabaseSelected(
            f"No database selected: write {context.database_name}.{table}, or USE "
            f"{context.database_name} first"
        )
    name = f"{table}_{number}"
    if database == context.database_name:
        if table == STAGES_TABLE:
            stages = await stages_table(context.engine, context.session)
            return duck.Source(name, STAGES_SCHEMA, table=stages), alias
        try:
            files = await open_directory(context.engine, table, context.session)
        except (UnknownStage, BadArguments):
            raise UnknownTable(database, table) from None
        return _directory(name, files, _pushed_prefix(node, alias, "")), alias
    data = await context.other_table(database, table)
    return duck.Source(name, data.schema, table=data), alias


def _directory(name: str, files: StageFiles, prefix: str) -> duck.Source:
    """A directory table's source: the listing under ``prefix``, streamed."""
    batches = directory_batches(files, prefix)
    return duck.Source(name, DIRECTORY_SCHEMA, batches=batches, to_arrow=directory_record_batch)


def _drop_dual(node: exp.Table) -> None:
    """``FROM DUAL`` is MySQL's way of writing no FROM clause."""
    parent = node.parent
    if isinstance(parent, exp.From) and isinstance(parent.parent, exp.Select):
        parent.parent.set("from_", None)
    else:
        raise UnknownDatabase("DUAL")


def _escape_like_patterns(tree: exp.Expression) -> None:
    """MySQL's LIKE escapes with a backslash by default; DuckDB's only when told."""
    for like in list(tree.find_all(exp.Like)):
        pattern = like.expression
        if (
            isinstance(pattern, exp.Literal)
            and "\\" in pattern.name
            and not isinstance(like.parent, exp.Escape)
        ):
            like.replace(exp.Escape(this=like.copy(), expression=exp.Literal.string("\\")))


_OFFSET = re.compile(r"([+-])(\d{1,2}):(\d{2})")


def _zone(zone: exp.Expression) -> int | str | None:
    """A MySQL time zone literal: a fixed offset in seconds ('+02:00', 'UTC'), or the name
    of a zone with rules ('Europe/Paris': DuckDB's ICU knows it, or says it does not);
    None if it is not a literal."""
    if not (isinstance(zone, exp.Literal) and zone.is_string):
        return None
    name = zone.name
    match = _OFFSET.fullmatch(name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)
    if name.upper() in ("UTC", "SYSTEM", "GMT"):
        return 0
    return name


def _shifted(stamp: exp.Expression, seconds: int) -> exp.Expression:
    if not seconds:
        return stamp
    shift = exp.Interval(this=exp.Literal.number(seconds), unit=exp.var("SECOND"))
    return exp.Add(this=stamp, expression=shift)


def _timezone(name: str, value: exp.Expression) -> exp.Expression:
    """DuckDB's ``timezone(name, value)``: a local time in ``name`` to the instant
    (TIMESTAMPTZ), or an instant to the local time in ``name``, by the zone's rules
    at that very instant (ICU, in DuckDB's threads)."""
    return exp.Anonymous(this="timezone", expressions=[exp.Literal.string(name), value])


def _convert_timezones(tree: exp.Expression) -> None:
    """MySQL's CONVERT_TZ(ts, from, to) with literal zones.  Two fixed offsets: a shift by
    their difference (DuckDB's AT TIME ZONE knows no '+02:00').  A named zone: its offset
    at each row's own instant (summer or winter time), through DuckDB's ``timezone``; a
    name ICU does not know is DuckDB's error.  Zones that are not literals are left to
    sqlglot's translation."""
    for node in list(tree.find_all(exp.ConvertTimezone)):
        source = _zone(node.args.get("source_tz") or exp.Literal.string("UTC"))
        target = _zone(node.args["target_tz"])
        if source is None or target is None:
            continue
        stamp = exp.cast(node.args["timestamp"].copy(), exp.DataType.Type.TIMESTAMP)
        if isinstance(source, int) and isinstance(target, int):
            node.replace(_shifted(stamp, target - source))
            continue
        if isinstance(source, str):
            instant = _timezone(source, stamp)
        else:
            instant = _timezone("UTC", _shifted(stamp, -source))
        if isinstance(target, str):
            node.replace(_timezone(target, instant))
        else:
            node.replace(_shifted(_timezone("UTC", instant), target))


# -- prefix push-down ------------------------------------------------------------


def _pushed_prefix(node: exp.Expression, alias: str, base: str) -> str:
    """The listing prefix for a directory table: ``base``, or longer if the WHERE allows."""
    select = node.parent.parent if isinstance(node.parent, exp.From) else None
    if not isinstance(select, exp.Select) or select.args.get("joins"):
        return base
    where = select.args.get("where")
    if where is None:
        return base
    best = base
    for condition in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        prefix = _condition_prefix(condition, alias)
        if prefix is not None and prefix.startswith(best) and _valid_prefix(prefix):
            best = prefix
    return best


def _condition_prefix(condition: exp.Expr, alias: str) -> str | None:
    if not isinstance(condition, (exp.Like, exp.EQ)):
        return None
    column, value = condition.this, condition.expression
    if not (isinstance(column, exp.Column) and column.name == "name"):
        return None
    if column.table and column.table != alias:
        return None
    if not (isinstance(value, exp.Literal) and value.is_string):
        return None
    if isinstance(condition, exp.EQ):
        return value.name
    return _like_prefix(value.name)


def _like_prefix(pattern: str) -> str:
    """The literal text a LIKE pattern starts with (backslash escapes, as in MySQL)."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char in "%_":
            break
        if char == "\\":
            char = next(chars, "\\")
        out.append(char)
    return "".join(out)


def _valid_prefix(prefix: str) -> bool:
    try:
        check_relative_path(prefix)
    except BadArguments:
        return False
    return True
