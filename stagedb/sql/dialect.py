"""The ``stagedb`` sqlglot dialect and the one parse entry point the fronts use."""

from __future__ import annotations

from functools import lru_cache

from sqlglot import expressions as exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from stagedb.errors import SyntaxException
from stagedb.sql.generator import StageDBGenerator
from stagedb.sql.nodes import STAGE_STATEMENTS, StageLocation, StageOption
from stagedb.sql.parser import StageDBParser


class StageDB(MySQL):
    """MySQL extended with the stage grammar (see ``grammar/stage.ebnf``)."""

    class Tokenizer(MySQL.Tokenizer):
        """MySQL's tokenizer; ``LS`` is a synonym of ``LIST``."""

        KEYWORDS = {**MySQL.Tokenizer.KEYWORDS, "LS": TokenType.LIST}

    Parser = StageDBParser
    Generator = StageDBGenerator


_DIALECT = StageDB()
_CACHE_SIZE = 1024
_CACHEABLE_LENGTH = 4096


# Trees made only of these nodes are never changed by anyone downstream (the
# engine reads its statements; mysql-mimic rewrites only functions, columns and
# variables), so a cached one can be handed out without a copy.
_READ_ONLY_NODES = (
    *STAGE_STATEMENTS, StageLocation, StageOption,
    exp.Select, exp.Literal, exp.Alias, exp.Identifier, exp.Var, exp.Null, exp.Boolean,
    exp.Neg, exp.Limit,
)  # fmt: skip


def _shareable(tree: exp.Expression) -> bool:
    return all(isinstance(node, _READ_ONLY_NODES) for node in tree.walk())


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(sql: str) -> tuple[tuple[exp.Expression, bool], ...]:
    return tuple((tree, _shareable(tree)) for tree in _parse(sql))


def parse_statements(sql: str) -> list[exp.Expression]:
    """Parse one or more statements; raise :class:`SyntaxException` on bad SQL.

    The error names the line, the column and the offending token.  Clients
    repeat the same statements (``SELECT 1``, ``SHOW STAGES``), so trees of
    short statements are cached; callers get their own copies to change.
    """
    if len(sql) <= _CACHEABLE_LENGTH:
        return [tree if shared else tree.copy() for tree, shared in _parse_cached(sql)]
    return _parse(sql)


def _parse(sql: str) -> list[exp.Expression]:
    try:
        return [e for e in _DIALECT.parse(sql) if e is not None]
    except ParseError as error:
        raise SyntaxException(_describe_parse_error(error)) from None
    except TokenError as error:
        raise SyntaxException(f"You have an error in your SQL syntax: {error}") from None


def to_sql(expression: exp.Expression) -> str:
    """The canonical stagedb SQL text of a parsed statement."""
    return expression.sql(dialect=_DIALECT)


def _describe_parse_error(error: ParseError) -> str:
    if not error.errors:
        return f"You have an error in your SQL syntax: {error}"
    first = error.errors[0]
    near = first.get("highlight") or ""
    where = f"at line {first.get('line')}, column {first.get('col')}"
    near_text = f" near '{near}'" if near else " at the end of the statement"
    return f"You have an error in your SQL syntax{near_text} {where}: {first.get('description')}"
