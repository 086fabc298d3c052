"""The ``stagedb`` sqlglot dialect and the one parse entry point the fronts use."""

from __future__ import annotations

from sqlglot import expressions as exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from stagedb.errors import SyntaxException
from stagedb.sql.generator import StageDBGenerator
from stagedb.sql.parser import StageDBParser


class StageDB(MySQL):
    """MySQL extended with the stage grammar (see ``grammar/stage.ebnf``)."""

    class Tokenizer(MySQL.Tokenizer):
        """MySQL's tokenizer; ``LS``, ``REMOVE`` and ``RM`` start stage commands."""

        KEYWORDS = {
            **MySQL.Tokenizer.KEYWORDS,
            "LS": TokenType.LIST,
            "REMOVE": TokenType.COMMAND,
            "RM": TokenType.COMMAND,
        }

    Parser = StageDBParser
    Generator = StageDBGenerator


_DIALECT = StageDB()


def parse_statements(sql: str) -> list[exp.Expression]:
    """Parse one or more statements; raise :class:`SyntaxException` on bad SQL.

    The error names the line, the column and the offending token.
    """
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
