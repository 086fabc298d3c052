"""Running a SELECT on DuckDB over Arrow data, streaming in and out.

One in-memory DuckDB database serves the whole process, locked down (no file
or network access, no extensions, no Python variable lookups, configuration
locked); every query gets its own cursor (a connection) where its tables are
registered as Arrow sources.  Streamed sources are record-batch readers whose
batches come from async iterators on the event loop: DuckDB's threads wait
on the loop for the next batch, and the results come back a batch at a time.
DuckDB calls never run on the event loop's thread.

A query's cursor is released (interrupted and closed, in a DuckDB thread)
when its rows end, fail, or are closed (``DuckResult.aclose``), and also when
the result is abandoned unfinished: the rows were never read, or the client
went away mid-result (see ``cursors``).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stagedb.errors import QueryError, StageDBError, UnknownColumn
from stagedb.tables.cursors import QueryCursor

if TYPE_CHECKING:
    import duckdb

RESULT_BATCH_ROWS = 2048
"""Rows per result batch handed from DuckDB to the event loop."""

# MySQL functions sqlglot does not translate to DuckDB, as DuckDB macros.
_MACROS = (
    "substring_index(s, d, n) AS CASE WHEN n > 0 THEN array_to_string(string_split(s, d)[1:n], d)"
    " WHEN n < 0 THEN array_to_string(string_split(s, d)[n:], d) ELSE '' END",
    "timediff(a, b) AS CAST(a AS TIMESTAMP) - CAST(b AS TIMESTAMP)",
    # MySQL's %i and %s are minutes and seconds; a negative time keeps its sign
    "time_format(t, f) AS CASE WHEN t < INTERVAL 0 SECOND THEN '-' || strftime(TIMESTAMP "
    "'2000-01-01' - t, replace(replace(f, '%i', '%M'), '%s', '%S')) ELSE strftime(TIMESTAMP "
    "'2000-01-01' + t, replace(replace(f, '%i', '%M'), '%s', '%S')) END",
)


_DATABASE: list[duckdb.DuckDBPyConnection] = []  # one, once made
_DATABASE_LOCK = threading.Lock()


def _database() -> duckdb.DuckDBPyConnection:
    """The process's DuckDB database, made on first use: importing DuckDB costs ~90 MiB
    of memory, which a server that never runs a SELECT over a table does not pay.
    Called from DuckDB's worker threads, hence the lock."""
    with _DATABASE_LOCK:
        if not _DATABASE:
            _DATABASE.append(_connect())
        return _DATABASE[0]


def _connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    database = duckdb.connect(
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "python_enable_replacements": False,
            "lock_configuration": True,
        }
    )
    for macro in _MACROS:
        database.execute(f"CREATE MACRO {macro}")
    return database


# Separate from asyncio's default executor (where the listings run), so that
# queries waiting for listing batches can never starve the listings.
_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stagedb-duckdb")


@dataclass
class Source:
    """A table a query reads: a whole Arrow table, or a stream of record batches."""

    name: str
    schema: pa.Schema
    table: pa.Table | None = None
    batches: AsyncIterator[Any] | None = None
    to_arrow: Callable[[Any], pa.RecordBatch] | None = None
    """Turns an item of ``batches`` into a record batch (in DuckDB's thread); None: as is."""


@dataclass
class _Failure:
    """The first error a streamed source raised (DuckDB only passes on its text)."""

    error: BaseException | None = None


@dataclass
class DuckResult:
    """A running query: its result schema and its rows, as an async iterator.

    Reading the rows to the end releases the query's cursor, and so does
    ``aclose`` or leaving ``async with``; a result left unfinished releases it
    once it is garbage or the task that ran the query ends.
    """

    schema: pa.Schema
    rows: AsyncIterator[tuple[Any, ...]]
    _cursor: QueryCursor | None = field(repr=False, default=None)

    async def aclose(self) -> None:
        """Stop the query and release its cursor (the rows end)."""
        close = getattr(self.rows, "aclose", None)
        if close is not None:
            await close()
        if self._cursor is not None:
            await self._cursor.aclose()

    async def __aenter__(self) -> DuckResult:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


async def run(sql: str, sources: list[Source]) -> DuckResult:
    """Run DuckDB ``sql`` (a SELECT) over ``sources``; raise at once if it cannot start."""
    loop = asyncio.get_running_loop()
    failure = _Failure()
    handle = QueryCursor(
        await loop.run_in_executor(_EXECUTOR, lambda: _database().cursor()), _EXECUTOR
    )
    cursor = handle.cursor

    def start() -> pa.RecordBatchReader:
        for source in sources:
            if source.table is not None:
                cursor.register(source.name, source.table)
            else:
                assert source.batches is not None
                batches = _blocking(source.batches, source.to_arrow, loop, failure)
                cursor.register(
                    source.name, pa.RecordBatchReader.from_batches(source.schema, batches)
                )
        return cursor.sql(sql).to_arrow_reader(RESULT_BATCH_ROWS)

    try:
        reader = await loop.run_in_executor(_EXECUTOR, _translated(start, failure))
    except BaseException:
        await handle.aclose()
        raise
    rows = _rows(reader, handle, failure)
    handle.release_with(rows)  # rows never read to their end: released once they are garbage
    return DuckResult(reader.schema, rows, handle)


async def _rows(
    reader: pa.RecordBatchReader, cursor: QueryCursor, failure: _Failure
) -> AsyncIterator[tuple[Any, ...]]:
    loop = asyncio.get_running_loop()

    def next_rows() -> list[tuple[Any, ...]] | None:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return None
        columns = [_python_values(column) for column in batch.columns]
        return list(zip(*columns, strict=True))

    try:
        while True:
            rows = await loop.run_in_executor(_EXECUTOR, _translated(next_rows, failure))
            if rows is None:
                return
            for row in rows:
                yield row
    finally:
        await cursor.aclose()


def _python_values(column: pa.Array) -> list[Any]:
    """A result column as Python values; an interval (TIMEDIFF) as a timedelta (MySQL TIME)."""
    if pa.types.is_interval(column.type):
        return [
            None
            if value is None
            else timedelta(days=value.days, microseconds=value.nanoseconds // 1000)
            for value in column.to_pylist()
        ]
    return list(column.to_pylist())


def _blocking(
    batches: AsyncIterator[Any],
    to_arrow: Callable[[Any], pa.RecordBatch] | None,
    loop: asyncio.AbstractEventLoop,
    failure: _Failure,
) -> Iterator[pa.RecordBatch]:
    """The batches of an async iterator, for a DuckDB thread (never the loop's own)."""

    async def next_batch() -> Any:
        return await anext(batches, None)

    try:
        while True:
            try:
                batch = asyncio.run_coroutine_threadsafe(next_batch(), loop).result()
            except BaseException as error:
                failure.error = failure.error or error
                raise
            if batch is None:
                return
            yield to_arrow(batch) if to_arrow is not None else batch
    finally:
        if not loop.is_closed():
            asyncio.run_coroutine_threadsafe(_aclose(batches), loop)


async def _aclose(batches: AsyncIterator[pa.RecordBatch]) -> None:
    close = getattr(batches, "aclose", None)
    if close is not None:
        await close()


_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_HINT = re.compile(r"\n.*", re.DOTALL)


def _translated(call: Any, failure: _Failure) -> Any:
    """``call`` with DuckDB's errors turned into stagedb's (a source's own error first)."""

    def run_translated() -> Any:
        import duckdb

        try:
            return call()
        except duckdb.Error as error:
            if isinstance(failure.error, StageDBError):
                raise failure.error from None
            raise query_error(error) from None

    return run_translated


def query_error(error: duckdb.Error) -> StageDBError:
    """A DuckDB error as the error a MySQL user expects."""
    text = str(error)
    missing = _MISSING_COLUMN.search(text)
    if missing:
        return UnknownColumn(f"Unknown column '{missing.group(1)}' in 'field list'")
    first_line = _HINT.sub("", text)
    return QueryError(first_line)
