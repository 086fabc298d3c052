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
from stagedb.tables.arrow import DIRECTORY_SCHEMA, STAGES_SCHEMA, rows_table


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
    columns = (
        [e.name for e in batch],
        [e.size for e in batch],
        [e.md5 for e in batch],
        [format_timestamp(e.modified_ns) for e in batch],
        [None] * len(batch),  # creator: always NULL, as in LIST
    )
    return pa.RecordBatch.from_arrays(
        [
            pa.array(values, kind)
            for values, kind in zip(columns, DIRECTORY_SCHEMA.types, strict=True)
        ],
        schema=DIRECTORY_SCHEMA,
    )


async def stages_table(engine: Engine, session: SessionInfo) -> pa.Table:
    """The ``stages`` table: SHOW STAGES's rows (secrets masked), run by the engine."""
    result = await engine.execute(ShowStages(), session)
    assert isinstance(result, Rows)
    rows = result.rows
    listed = [row async for row in rows] if isinstance(rows, AsyncIterator) else list(rows)
    return rows_table(STAGES_SCHEMA, listed)
