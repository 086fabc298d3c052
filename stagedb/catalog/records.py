"""What the catalog stores about a stage, and its JSON form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from stagedb.errors import CatalogCorrupt

FORMAT_VERSION = 1


class StageType(StrEnum):
    """Databend's stage kinds, as SHOW STAGES spells them."""

    INTERNAL = "Internal"
    EXTERNAL = "External"
    USER = "User"


@dataclass(frozen=True)
class StageRecord:
    """A stage as the catalog keeps it. ``connection`` holds secrets: never show it raw."""

    name: str
    stage_type: StageType
    url: str | None = None
    connection: dict[str, str] = field(default_factory=dict)
    file_format: dict[str, str] = field(default_factory=dict)
    comment: str | None = None
    creator: str = "root"
    created_on: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    owner: str = "root"
    """Who holds every privilege on the stage (records from before owners existed: root)."""
    files_dir: str | None = None
    """An internal stage's own directory under ``stage/internal/`` (see storage.paths);
    None for external stages and for records from before incarnations had one."""

    @property
    def storage_type(self) -> str | None:
        """The URL scheme of an external stage; None for internal ones."""
        if self.url is None:
            return None
        return self.url.split("://", 1)[0].lower()

    def to_json(self) -> bytes:
        """Serialize for the catalog file."""
        data = asdict(self)
        data["stage_type"] = self.stage_type.value
        data["format_version"] = FORMAT_VERSION
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> StageRecord:
        """Read a catalog file back; raise CatalogCorrupt naming ``source`` if unreadable."""
        try:
            data: dict[str, Any] = json.loads(raw)
            data.pop("format_version", None)
            data["stage_type"] = StageType(data["stage_type"])
            return cls(**data)
        except (ValueError, KeyError, TypeError) as error:
            raise CatalogCorrupt(f"Catalog record {source} cannot be read: {error}") from None
