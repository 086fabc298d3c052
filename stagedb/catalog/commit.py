"""Atomic commits of small catalog files on fsspec filesystems.

Two primitives, chosen per filesystem:

* ``create_exclusive``: write a whole file only if nothing is at the path.
  Exactly one of several racing writers (threads or processes) wins; a crash
  leaves either no file or the complete one.
* ``replace``: write a whole file over whatever is there, atomically.

On the local disk both are built from a complete temporary file plus
``os.link`` (fails if the target exists) or ``os.replace``.  Other
filesystems use fsspec's ``pipe_file(mode="create")``, which object stores
implement as a conditional write.
"""

from __future__ import annotations

import os
import uuid

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from stagedb.storage.paths import TEMP_MARKER


def _local_temp(fs: LocalFileSystem, path: str, data: bytes) -> str:
    directory, _, basename = path.rpartition("/")
    fs.makedirs(directory, exist_ok=True)
    temp = f"{directory}/{TEMP_MARKER}{uuid.uuid4().hex}-{basename}"
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def create_exclusive(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Create ``path`` holding ``data``; raise FileExistsError if it exists."""
    if isinstance(fs, LocalFileSystem):
        local = fs._strip_protocol(path)
        temp = _local_temp(fs, local, data)
        try:
            os.link(temp, local)
        finally:
            os.unlink(temp)
        return
    fs.makedirs(path.rpartition("/")[0], exist_ok=True)
    fs.pipe_file(path, data, mode="create")


def replace(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Write ``path`` holding ``data``, atomically replacing any previous file."""
    if isinstance(fs, LocalFileSystem):
        local = fs._strip_protocol(path)
        temp = _local_temp(fs, local, data)
        try:
            os.replace(temp, local)
        except BaseException:
            os.unlink(temp)
            raise
        return
    fs.makedirs(path.rpartition("/")[0], exist_ok=True)
    fs.pipe_file(path, data)
