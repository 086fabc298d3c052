"""The ``stagedb`` sqlglot dialect and the one parse entry point the fronts use."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

from sqlglot import Token, TokenType
from sqlglot import expressions as exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ParseError, TokenError

from stagedb.errors import SyntaxException
from stagedb.sql.nodes import STAGE_STATEMENTS, StageLocation, StageOption
from stagedb.sql.redact import redact_secrets
from stagedb.sql.users import StageDBUserGenerator, StageDBUserParser


class StageDB(MySQL):
    """MySQL extended with the stage grammar (see ``grammar/stage.ebnf``)."""

    class Tokenizer(MySQL.Tokenizer):
        """MySQL's tokenizer; ``LS`` is a synonym of ``LIST``."""

        KEYWORDS: ClassVar[dict[str, TokenType]] = {
            **MySQL.Tokenizer.KEYWORDS,
            "LS": TokenType.LIST,
        }

        def tokenize(self, sql: str) -> list[Token]:
            """Tokenize; an unterminated string, identifier or comment names where it starts."""
            try:
                return super().tokenize(sql)
            except TokenError as error:
                # Where the unreadable token starts: sqlglot keeps it on its core only.
                start = getattr(self._core, "_start", None)
                if not isinstance(start, int):
                    raise
                raise TokenError(_describe_token_error(sql, start, error)) from error

    Parser = StageDBUserParser  # the stage statements plus users and privileges
    Generator = StageDBUserGenerator


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
        # sqlglot types its results as the abstract Expr; every concrete node is an Expression.
        return [e for e in _DIALECT.parse(sql) if e is not None]  # type: ignore[misc]
    except ParseError as error:
        message = _describe_parse_error(error)
    except TokenError as error:
        text = str(error)
        separator = " " if text.startswith("near ") else ": "
        message = f"You have an error in your SQL syntax{separator}{text}"
    raise SyntaxException(redact_secrets(message, sql))  # no password in an error


def to_sql(expression: exp.Expression) -> str:
    """The canonical stagedb SQL text of a parsed statement."""
    return expression.sql(dialect=_DIALECT)


def _describe_parse_error(error: ParseError) -> str:
    """MySQL's style: ``near '<the text from the offending token on>' at line L, column C``.

    C is the column where the offending token starts.
    """
    if not error.errors:
        return f"You have an error in your SQL syntax: {error}"
    first = error.errors[0]
    token = first.get("highlight") or ""
    line, end_column = first.get("line"), first.get("col") or 0
    start_column = end_column - len(token) + 1 if "\n" not in token else end_column
    near = (token + (first.get("end_context") or "")).split("\n", 1)[0][:_NEAR_LENGTH]
    near_text = f" near '{near}'" if token else " at the end of the statement"
    where = f"at line {line}, column {start_column}"
    return f"You have an error in your SQL syntax{near_text} {where}: {first.get('description')}"


_TOKEN_ERROR_POSITION = re.compile(r" from \d+:\d+$")
_NEAR_LENGTH = 30


def _describe_token_error(sql: str, start: int, error: TokenError) -> str:
    """``near '...' at line L, column C: what`` for a token that cannot be read.

    sqlglot's own message carries a context window but no usable position, and an
    unterminated comment surfaces as a bare ``IndexError``.
    """
    start = min(max(start, 0), len(sql))
    line = sql.count("\n", 0, start) + 1
    column = start - (sql.rfind("\n", 0, start) + 1) + 1
    near = sql[start:].split("\n", 1)[0][:_NEAR_LENGTH]
    cause = error.__cause__
    if sql.startswith("/*", start):
        what = "Unclosed comment: missing */"
    elif isinstance(cause, TokenError):
        what = _TOKEN_ERROR_POSITION.sub("", str(cause))
        if what.startswith("Missing "):
            what = f"Unclosed quote: {what.lower()}"
    elif isinstance(cause, IndexError):
        what = "The statement ends inside this token"
    else:
        what = f"Cannot read the token starting here ({cause or error})"
    return f"near '{near}' at line {line}, column {column}: {what}"
