"""The stages a user sees (those SHOW STAGES shows them): all, one by name, or one page.

For the fronts that need less than a whole SHOW STAGES: metadata looks one
table up by name, and the REST APIs show numbered pages.  Root sees every
stage, so its pages come straight from the catalog's sorted listing, reading
only the page's records; what another user sees depends on each stage's
owner and grants, so all stages are read and filtered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stagedb.catalog.records import StageRecord
from stagedb.errors import BadArguments, StagePermissionDenied
from stagedb.stages import check_stage_name, like_to_regex, stage_row
from stagedb.users import ROOT

if TYPE_CHECKING:
    from stagedb.engine import Engine, SessionInfo


async def visible_stages(engine: Engine, session: SessionInfo) -> list[StageRecord]:
    """Every stage the session's user sees, ordered by name."""
    return await engine.access.visible(session.user, await engine.catalog.all_stages())


async def visible_stage(engine: Engine, session: SessionInfo, name: str) -> StageRecord | None:
    """The stage ``name`` if it exists and the user sees it; None otherwise (also for
    names no stage can have).  Reads only that stage's record."""
    try:
        check_stage_name(name, "used")
    except (BadArguments, StagePermissionDenied):
        return None
    record = await engine.catalog.get(name)
    if record is None:
        return None
    shown = await engine.access.visible(session.user, [record])
    return shown[0] if shown else None


@dataclass(frozen=True)
class StagePage:
    """One page of SHOW STAGES's rows, and how many rows all pages hold."""

    rows: list[tuple[Any, ...]]
    total: int


async def stage_page(
    engine: Engine, session: SessionInfo, start: int, size: int, like: str | None = None
) -> StagePage:
    """Rows ``start`` to ``start + size`` (0-based) of ``SHOW STAGES [LIKE like]``."""
    keep = like_to_regex(like).fullmatch if like is not None else None
    if session.user == ROOT:
        records, total = await engine.catalog.page(start, size, keep)
    else:
        shown = await visible_stages(engine, session)
        if keep is not None:
            shown = [record for record in shown if keep(record.name)]
        records, total = shown[start : start + size], len(shown)
    return StagePage([stage_row(record) for record in records], total)
