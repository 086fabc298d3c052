"""The stage catalog: stage records kept as files, committed atomically."""

from stagedb.catalog.records import StageRecord, StageType
from stagedb.catalog.stages import StageCatalog

__all__ = ["StageCatalog", "StageRecord", "StageType"]
