"""Sorted, streaming walks of a stage's files.

A walk is depth-first in name order, a directory ``d`` sorting as ``d/``, so
that the files come out ordered by their full names while only one
directory's entries are held at a time.  The generic walk uses fsspec's
``ls``; on the local disk a walk with ``os.scandir`` does the same five times
faster (fsspec's local ``ls`` builds an info dict per entry).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from stagedb.storage.paths import is_temporary


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file in a stage: its name relative to the stage root and its metadata."""

    name: str
    size: int
    md5: str | None
    modified_ns: int
    """Last modification, in nanoseconds since the epoch (UTC)."""


def _modified_ns(info: dict[str, Any]) -> int:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return round(value * 1_000_000_000)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return int(aware.timestamp()) * 1_000_000_000 + aware.microsecond * 1000
    return 0


def _etag(info: dict[str, Any]) -> str | None:
    for key in ("ETag", "etag", "md5"):
        value = info.get(key)
        if value:
            return str(value)
    return None


def _wanted_dir(key: str, prefix: str) -> bool:
    """Whether anything below directory ``key`` (ending in ``/``) can match ``prefix``."""
    return key.startswith(prefix) or prefix.startswith(key)


def walk_sorted(fs: AbstractFileSystem, prefix: str) -> Iterator[FileEntry]:
    """Every file whose name starts with ``prefix``, in name order."""
    base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    if isinstance(fs, DirFileSystem) and isinstance(fs.fs, LocalFileSystem):
        root = fs.path.rstrip("/")
        return _walk_local(root, base, prefix, len(root) + 1)
    if isinstance(fs, DirFileSystem) and hasattr(fs.fs, "call_s3"):
        return _walk_s3(fs, prefix)
    return _walk_fsspec(fs, base, prefix)


def _walk_s3(fs: DirFileSystem, prefix: str) -> Iterator[FileEntry]:
    """S3 lists keys in UTF-8 byte order, which is name order: page through one flat
    ListObjectsV2 (1,000 keys a request), no sorting, one page in memory at a time."""
    bucket, _, root = fs.path.rstrip("/").partition("/")
    root_key = f"{root}/" if root else ""
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": root_key + prefix}
    while True:
        page = fs.fs.call_s3("list_objects_v2", **request)
        for item in page.get("Contents", []):
            name = item["Key"][len(root_key) :]
            if name.endswith("/") or is_temporary(name):
                continue  # "folder" markers and stagedb's own in-progress files
            yield FileEntry(name, int(item["Size"]), item.get("ETag"), _modified_ns(item))
        if not page.get("IsTruncated"):
            return
        request["ContinuationToken"] = page["NextContinuationToken"]


def _walk_fsspec(fs: AbstractFileSystem, directory: str, prefix: str) -> Iterator[FileEntry]:
    try:
        infos: list[dict[str, Any]] = fs.ls(directory, detail=True, refresh=True)
    except (FileNotFoundError, NotADirectoryError):
        return
    keyed: list[tuple[str, dict[str, Any]]] = []
    for info in infos:
        raw_name: str = info["name"]
        name = raw_name.strip("/")
        kind = info.get("type")
        if kind == "file" and raw_name.endswith("/"):
            continue  # an object store's "folder" marker, not a file
        if kind == "directory":
            if _wanted_dir(name + "/", prefix):
                keyed.append((name + "/", info))
        elif kind == "file" and name.startswith(prefix) and not is_temporary(name):
            keyed.append((name, info))
    keyed.sort(key=lambda item: item[0])
    for key, info in keyed:
        if key.endswith("/") and info.get("type") == "directory":
            yield from _walk_fsspec(fs, key[:-1], prefix)
        else:
            yield FileEntry(key, int(info.get("size") or 0), _etag(info), _modified_ns(info))


def _walk_local(root: str, directory: str, prefix: str, cut: int) -> Iterator[FileEntry]:
    path = f"{root}/{directory}" if directory else root
    keyed: list[tuple[str, os.DirEntry[str]]] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                name = entry.path[cut:]
                if entry.is_dir(follow_symlinks=False):
                    if _wanted_dir(name + "/", prefix):
                        keyed.append((name + "/", entry))
                elif (
                    entry.is_file(follow_symlinks=False)
                    and name.startswith(prefix)
                    and not entry.name.startswith(".stagedb-tmp-")
                ):
                    keyed.append((name, entry))
    except (FileNotFoundError, NotADirectoryError):
        return
    keyed.sort(key=lambda item: item[0])
    for key, entry in keyed:
        if key.endswith("/"):
            yield from _walk_local(root, key[:-1], prefix, cut)
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while we walked
        if stat.S_ISREG(info.st_mode):
            yield FileEntry(key, info.st_size, None, info.st_mtime_ns)
