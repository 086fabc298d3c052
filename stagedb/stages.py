"""Stage rules: names, URLs, options, and how a stage is shown (secrets masked)."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

from stagedb.catalog.records import StageRecord, StageType
from stagedb.errors import BadArguments, StagePermissionDenied
from stagedb.results import format_timestamp
from stagedb.tables.columns import STAGES_COLUMNS

USER_STAGE = "~"
_STAGE_NAME = re.compile(r"[_a-zA-Z][_$a-zA-Z0-9]*")

FILE_FORMAT_TYPES = ("CSV", "TSV", "NDJSON", "PARQUET", "JSON", "ORC", "AVRO")
FILE_FORMAT_KEYS = (
    "TYPE", "COMPRESSION", "FIELD_DELIMITER", "RECORD_DELIMITER", "SKIP_HEADER", "QUOTE",
    "ESCAPE", "NULL_DISPLAY", "NAN_DISPLAY", "ROW_TAG", "BINARY_FORMAT", "OUTPUT_HEADER",
    "ERROR_ON_COLUMN_COUNT_MISMATCH", "EMPTY_FIELD_AS", "MISSING_FIELD_AS", "NULL_FIELD_AS",
    "NULL_IF", "TRIM_SPACE", "ENCODING",
)  # fmt: skip
DEFAULT_FILE_FORMAT = {"type": "PARQUET"}

SECRET_KEYS = frozenset(  # CONNECTION keys are stored with Databend's aliases resolved
    {"access_key_id", "secret_access_key", "session_token", "account_key", "credential",
     "external_id", "sas_token"}
)  # fmt: skip

SHOW_STAGES_COLUMNS = tuple(column.name for column in STAGES_COLUMNS)
"""The names of SHOW STAGES's columns, in order (``stage_row``'s fields)."""


def check_stage_name(name: str, action: str) -> str:
    """Return ``name`` if it can name a stage; raise 2506 for ``~`` and 1006 otherwise."""
    if name == USER_STAGE:
        raise StagePermissionDenied(f"The user stage '~' cannot be {action}")
    if name.startswith("@"):
        raise BadArguments(
            f"Invalid stage name '{name}': write the name without '@' (CREATE STAGE my_stage)"
        )
    if not _STAGE_NAME.fullmatch(name):
        raise BadArguments(
            f"Invalid stage name '{name}': a name starts with a letter or '_' and holds "
            f"letters, digits, '_' and '$'"
        )
    return name


def file_format_options(options: dict[str, str]) -> dict[str, str]:
    """Check FILE_FORMAT options; return them with lower-case keys."""
    unknown = sorted(set(options) - set(FILE_FORMAT_KEYS))
    if unknown:
        raise BadArguments(
            f"Unknown FILE_FORMAT option(s) {', '.join(unknown)}; accepted: "
            + ", ".join(FILE_FORMAT_KEYS)
        )
    kind = options.get("TYPE")
    if kind is not None and kind.upper() not in FILE_FORMAT_TYPES:
        raise BadArguments(
            f"Unknown FILE_FORMAT TYPE '{kind}'; accepted: " + ", ".join(FILE_FORMAT_TYPES)
        )
    formatted = {key.lower(): value for key, value in options.items()}
    if "type" in formatted:
        formatted["type"] = formatted["type"].upper()
    return formatted or dict(DEFAULT_FILE_FORMAT)


def mask_secret(value: str) -> str:
    """Databend's masking: ``my***ey``; values of 4 characters or fewer become ``***``."""
    return "***" if len(value) <= 4 else f"{value[:2]}***{value[-2:]}"


def masked_connection(connection: dict[str, str]) -> dict[str, str]:
    """A stage's connection options with every secret masked."""
    return {k: mask_secret(v) if k in SECRET_KEYS else v for k, v in sorted(connection.items())}


_ROW_MEMO: OrderedDict[int, tuple[StageRecord, tuple[Any, ...]]] = OrderedDict()
_ROW_MEMO_SIZE = 4096


def stage_row(record: StageRecord) -> tuple[Any, ...]:
    """A stage as one SHOW STAGES / DESC STAGE row (columns: SHOW_STAGES_COLUMNS).

    Rows are memoized per record object (the catalog hands out the same
    object until the record changes), so SHOW STAGES does not re-render JSON.
    """
    memo = _ROW_MEMO.get(id(record))
    if memo is not None and memo[0] is record:
        return memo[1]
    row = _render_row(record)
    _ROW_MEMO[id(record)] = (record, row)
    if len(_ROW_MEMO) > _ROW_MEMO_SIZE:
        _ROW_MEMO.popitem(last=False)
    return row


def _render_row(record: StageRecord) -> tuple[Any, ...]:
    return (
        record.name,
        record.stage_type.value,
        record.storage_type,
        record.url,
        record.connection.get("endpoint_url"),
        any(k in SECRET_KEYS for k in record.connection),
        False,
        json.dumps(masked_connection(record.connection), sort_keys=True),
        json.dumps(record.file_format, sort_keys=True),
        f"'{record.creator}'@'%'",
        _created_on(record.created_on),
        record.comment,
        record.owner,
    )


def _created_on(iso: str) -> str | None:
    try:
        moment = datetime.fromisoformat(iso)
        return format_timestamp(int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000)
    except ValueError:
        return None


def user_stage_record(user: str) -> StageRecord:
    """The record DESC STAGE shows for ``@~``: it always exists, owned by the user."""
    return StageRecord(
        name=USER_STAGE,
        stage_type=StageType.USER,
        file_format=dict(DEFAULT_FILE_FORMAT),
        creator=user,
        created_on="",
        owner=user,
    )


def like_to_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%``, ``_``, backslash escapes) as a case-insensitive regex."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
