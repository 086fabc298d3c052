"""Path rules: what a path inside a stage may look like, and where stages live."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from stagedb.errors import BadArguments

TEMP_MARKER = ".stagedb-tmp-"
"""Basename prefix of files being written; never listed, never visible as data."""


def check_relative_path(path: str, what: str = "path") -> str:
    """Return ``path`` if it stays inside its stage, else raise BadArguments (1006).

    Rejected: ``..`` components, NUL bytes, backslashes and absolute paths.
    """
    if "\x00" in path:
        raise BadArguments(f"The {what} must not contain a NUL byte")
    if "\\" in path:
        raise BadArguments(f"The {what} '{path}' must not contain a backslash")
    if path.startswith("/"):
        raise BadArguments(f"The {what} '{path}' must be relative to the stage")
    if ".." in path.split("/"):
        raise BadArguments(f"The {what} '{path}' must not contain a '..' component")
    return path


def check_file_path(path: str) -> str:
    """Return ``path`` if it can name a file in a stage (relative, no ``.``/``..``, no folder)."""
    check_relative_path(path, "file name")
    if not path or path.endswith("/") or "//" in path or "." in path.split("/"):
        raise BadArguments(f"'{path}' does not name a file")
    if is_temporary(path):
        raise BadArguments(f"File names starting with '{TEMP_MARKER}' are reserved")
    return path


def is_temporary(name: str) -> bool:
    """Whether a stored name is one of stagedb's own in-progress files."""
    return name.rsplit("/", 1)[-1].startswith(TEMP_MARKER)


INTERNAL_STAGES = "stage/internal"
"""Where named internal stages keep their files, relative to the data root."""


def new_files_dir(name: str) -> str:
    """A directory name for a new incarnation of internal stage ``name``: ``<name>.<id>``.

    Stage names cannot hold a dot, so these never meet the plain ``<name>``
    directories of stages created before incarnations had their own.
    """
    return f"{name}.{uuid.uuid4().hex[:16]}"


def internal_stage_dir(name: str, files_dir: str | None = None) -> str:
    """Where a named internal stage keeps its files, relative to the data root.

    Each incarnation of a stage (CREATE, CREATE OR REPLACE) has a directory
    of its own (``files_dir``), so a file that a late upload stores into a
    dropped or replaced stage never shows in the next stage of that name.
    Records from before that (no ``files_dir``) use the stage's name.
    """
    return f"{INTERNAL_STAGES}/{files_dir or name}"


def user_stage_dir(user: str) -> str:
    """Where a user's ``@~`` keeps its files, relative to the data root."""
    return f"stage/user/{quote(user, safe='')}"
