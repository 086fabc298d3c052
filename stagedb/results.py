"""What the engine answers with, independent of any protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ColumnType(Enum):
    """Column types the fronts know how to send."""

    TEXT = "VARCHAR"
    BIGINT_UNSIGNED = "BIGINT UNSIGNED"
    BOOLEAN = "BOOLEAN"


@dataclass(frozen=True)
class Column:
    """A result column."""

    name: str
    type: ColumnType = ColumnType.TEXT
    nullable: bool = True


@dataclass
class Rows:
    """A result set; ``rows`` may stream (async iterator) or be a list."""

    columns: Sequence[Column]
    rows: AsyncIterator[tuple[Any, ...]] | Sequence[tuple[Any, ...]]


@dataclass
class Done:
    """A statement that returns no rows."""

    affected_rows: int = 0
    warnings: int = 0


Result = Rows | Done
