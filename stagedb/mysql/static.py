"""Answering constant SELECTs (``SELECT 1``, ``SELECT @@version_comment``) directly.

Clients send these on every connect and as health checks.  By the time this
runs, mysql-mimic has replaced variables and information functions with
literals, so a SELECT of literals only needs its values read off the tree;
anything else goes on to mysql-mimic's own static-query path.
"""

from __future__ import annotations

from typing import Any

from sqlglot import expressions as exp

_MODIFIERS = frozenset(exp.Select.arg_types) - {"expressions", "limit", "hint"}


class _NotConstant(Exception):
    pass


def _value(node: exp.Expression) -> Any:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        return node.to_py()
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return 1 if node.this else 0
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_number:
        return -float(node.this.to_py()) if "." in node.this.name else -int(node.this.name)
    raise _NotConstant


def _column_name(node: exp.Expression) -> str:
    """MySQL names a column after its expression's text."""
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Boolean):
        return "TRUE" if node.this else "FALSE"
    return "-" + _column_name(node.this)  # exp.Neg of a number literal


def constant_select(expression: exp.Expression) -> tuple[list[tuple[Any, ...]], list[str]] | None:
    """Rows and column names of a SELECT of constants, or None if it is not one."""
    if not isinstance(expression, exp.Select):
        return None
    args = expression.args
    if any(args.get(name) for name in _MODIFIERS):
        return None
    try:
        values = tuple(
            _value(e.this if isinstance(e, exp.Alias) else e) for e in expression.expressions
        )
        limit = args.get("limit")
        count = 1
        if limit is not None:
            if limit.args.get("offset") is not None:
                return None
            count = 1 if int(_value(limit.expression)) > 0 else 0
    except (_NotConstant, TypeError, ValueError):
        return None
    names = [_column_name(e) for e in expression.expressions]
    return [values] * count, names
