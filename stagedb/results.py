"""What the engine answers with, independent of any protocol."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
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


@lru_cache(maxsize=65536)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))


def format_timestamp(nanoseconds: int) -> str:
    """Databend's LIST timestamp, ``2023-04-20 20:55:03.100 +0000``, of an epoch time in ns."""
    second, rest = divmod(nanoseconds, 1_000_000_000)
    return f"{_utc_second(second)}.{rest // 1_000_000:03d} +0000"
