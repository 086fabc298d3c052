"""Arrow data for stagedb's tables, read through the engine.

A directory table streams: the stage's listing comes in batches (sorted by
name) and each batch becomes one Arrow record batch, built column by column.
Going through ``Engine.stage_files`` means a directory table sees exactly what
LIST sees, with the same checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pyarrow as pa

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import StageDBError, StorageOther
from stagedb.results import Rows, format_timestamp
from stagedb.sql.nodes import ShowStages
from stagedb.storage.files import StageFiles
from stagedb.storage.listing import FileEntry
from stagedb.tables.columns import DIRECTORY_SCHEMA, STAGES_SCHEMA


async def open_directory(engine: Engine, stage: str, session: SessionInfo) -> StageFiles:
    """The files of ``stage``; raises at once (unknown stage, no privilege)."""
    return await engine.stage_files(stage, session)


async def directory_batches(files: StageFiles, prefix: str = "") -> AsyncIterator[list[FileEntry]]:
    """The stage's files whose names start with ``prefix``, in listing batches.

    ``directory_record_batch`` turns a batch into Arrow; the query runner does
    that in its own thread, off the event loop.
    """
    try:
        async for batch in files.iter_files(prefix):
            yield batch
    except StageDBError:
        raise
    except OSError as error:
        raise StorageOther(f"Listing failed: {error.strerror or error}") from None


def directory_record_batch(batch: list[FileEntry]) -> pa.RecordBatch:
    """A listing batch as an Arrow record batch of LIST's columns, built column by column."""
    return pa.RecordBatch.from_arrays(
        [
            pa.array([e.name for e in batch], pa.string()),
            pa.array([e.size for e in batch], pa.uint64()),
            pa.array([e.md5 for e in batch], pa.string()),
            pa.array([format_timestamp(e.modified_ns) for e in batch], pa.string()),
            pa.nulls(len(batch), pa.string()),
        ],
        schema=DIRECTORY_SCHEMA,
    )


async def stages_table(engine: Engine, session: SessionInfo) -> pa.Table:
    """The ``stages`` table: SHOW STAGES's rows (secrets masked), run by the engine."""
    result = await engine.execute(ShowStages(), session)
    assert isinstance(result, Rows)
    rows = result.rows
    listed = [row async for row in rows] if isinstance(rows, AsyncIterator) else list(rows)
    columns = list(zip(*listed, strict=True)) if listed else [()] * len(STAGES_SCHEMA)
    return pa.Table.from_arrays(
        [
            pa.array(list(values), field.type)
            for values, field in zip(columns, STAGES_SCHEMA, strict=True)
        ],
        schema=STAGES_SCHEMA,
    )


async def stage_names(engine: Engine, session: SessionInfo) -> list[str]:
    """The names of the catalogued stages, in name order (each is a directory table)."""
    table = await stages_table(engine, session)
    return sorted(table.column("name").to_pylist())
