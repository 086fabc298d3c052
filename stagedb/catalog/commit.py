"""Atomic commits of small catalog files on fsspec filesystems.

Three primitives, chosen per filesystem:

* ``create_exclusive``: write a whole file only if nothing is at the path.
  Exactly one of several racing writers (threads or processes) wins; a crash
  leaves either no file or the complete one.
* ``replace``: write a whole file over whatever is there, atomically.
* ``update``: read-modify-write one file without losing a concurrent update
  (see its docstring).

On the local disk both are built from a complete temporary file plus
``os.link`` (fails if the target exists) or ``os.replace``.  On S3 both are
conditional ``PutObject`` calls: ``If-None-Match: *`` to create, and for a
replace a compare-and-swap on the ETag just read (``If-Match``), retried
while other writers get in between -- so a write is never silently lost to
a concurrent one, across any number of processes.  Other filesystems use
fsspec's ``pipe_file(mode="create")``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from stagedb.storage import s3
from stagedb.storage.paths import TEMP_MARKER

S3_ATTEMPTS = 12
"""Conditional writes tried on S3 before giving up on a key other writers keep changing."""


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
    if s3.is_s3(fs):
        _s3_commit(fs, path, data, exclusive=True)
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
    if s3.is_s3(fs):
        _s3_commit(fs, path, data, exclusive=False)
        return
    fs.makedirs(path.rpartition("/")[0], exist_ok=True)
    fs.pipe_file(path, data)


def _s3_commit(fs: AbstractFileSystem, path: str, data: bytes, *, exclusive: bool) -> None:
    """Conditional writes on S3, retried (with jittered backoff) when another writer won.

    ``exclusive``: create only (FileExistsError if there is an object);
    otherwise a compare-and-swap on the ETag read just before writing.
    """
    for attempt in range(S3_ATTEMPTS):
        if exclusive:
            if s3.conditional_put(fs, path, data, None):
                return
            if s3.etag(fs, path) is not None:
                raise FileExistsError(path)
        elif s3.conditional_put(fs, path, data, s3.etag(fs, path)):
            return
        time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
    raise OSError(f"'{path}' kept changing under {S3_ATTEMPTS} attempts to write it; try again")


# -- read-modify-write (user records: a GRANT must not lose a concurrent one) -------------

_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def update(fs: AbstractFileSystem, path: str, change: Callable[[bytes], bytes | None]) -> bool:
    """Atomically replace the file at ``path`` by ``change(old contents)``.

    ``change`` returning None leaves the file alone.  Returns False if there is
    no file (nothing is written).  On S3 this is a compare-and-swap on the ETag,
    retried while other writers get in between; on the local disk the read and
    the replace run under an exclusive ``flock`` of the directory's ``.lock``
    file, which every stagedb process on the machine honours; elsewhere under a
    lock of this process only.
    """
    if s3.is_s3(fs):
        for attempt in range(S3_ATTEMPTS):
            tag = s3.etag(fs, path)
            if tag is None:
                return False
            new = change(fs.cat_file(path))
            if new is None or s3.conditional_put(fs, path, new, tag):
                return True
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
        raise OSError(f"'{path}' kept changing under {S3_ATTEMPTS} attempts to write it; try again")
    with _exclusive(fs, path):
        try:
            old = fs.cat_file(path)
        except FileNotFoundError:
            return False
        new = change(old)
        if new is not None:
            replace(fs, path, new)
        return True


@contextlib.contextmanager
def _exclusive(fs: AbstractFileSystem, path: str) -> Iterator[None]:
    directory = path.rpartition("/")[0]
    if isinstance(fs, LocalFileSystem):
        local = fs._strip_protocol(directory)
        os.makedirs(local, exist_ok=True)
        with open(f"{local}/.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    with _PROCESS_LOCKS_GUARD:
        lock = _PROCESS_LOCKS.setdefault(directory, threading.Lock())
    with lock:
        yield
