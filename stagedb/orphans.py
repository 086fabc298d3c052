"""Internal stage directories that no stage refers to, deleted when the server starts.

A dropped or replaced internal stage's files are deleted after its record
(see ``Engine._purge_dropped``).  An upload that was still running then
finishes into a directory no stage refers to: invisible, but taking space.
So do directories whose deletion failed, and the name-only directories of
stages created before incarnations had directories of their own.  The sweep
removes them all.

It is safe beside other servers sharing the data root: the directories are
listed *before* the records, and a stage's record is always written before
its first file, so every directory listed that belongs to a live stage has
its record in the list read afterwards.
"""

from __future__ import annotations

import asyncio
import logging

from stagedb.catalog.records import StageType
from stagedb.catalog.stages import StageCatalog
from stagedb.storage.filesystems import DataRoot
from stagedb.storage.paths import INTERNAL_STAGES

logger = logging.getLogger(__name__)


def _stage_directories(root: DataRoot) -> set[str]:
    """The directory names under ``stage/internal/``, as storage has them now."""
    parent = root.full_path(INTERNAL_STAGES)
    try:
        entries = root.fs.ls(parent, detail=True, refresh=True)  # s3fs caches listings
    except FileNotFoundError:
        return set()
    return {
        str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
        for entry in entries
        if entry.get("type") == "directory"
    }


async def remove_orphan_stage_dirs(root: DataRoot, catalog: StageCatalog) -> list[str]:
    """Delete the internal stage directories no stage record refers to; return their names."""
    present = await asyncio.to_thread(_stage_directories, root)
    if not present:
        return []
    used = {
        record.files_dir or record.name
        for record in await catalog.all_stages()
        if record.stage_type is StageType.INTERNAL
    }
    orphans = sorted(present - used)
    for name in orphans:
        try:
            await asyncio.to_thread(
                root.fs.rm, root.full_path(f"{INTERNAL_STAGES}/{name}"), recursive=True
            )
        except FileNotFoundError:
            continue  # another server swept it first
        except OSError as error:
            logger.warning("Could not delete the orphaned stage directory %s: %s", name, error)
    if orphans:
        logger.info("Deleted %d orphaned internal stage directories", len(orphans))
    return orphans
