"""Atomic commits of small catalog files on fsspec filesystems.

Three primitives, chosen per filesystem:

* ``create_exclusive``: write a whole file only if nothing is at the path.
  Exactly one of several racing writers (threads or processes) wins; a crash
  leaves either no file or the complete one.
* ``replace``: write a whole file over whatever is there, atomically.
* ``update``: read-modify-write one file without losing a concurrent update
  (see its docstring).
* ``exchange``: write a whole file and return what it replaced -- the very
  contents replaced, not an earlier read.
* ``delete``: remove a file and return what it held.

``update``, ``exchange`` and ``delete`` are conditional on the current file:
on S3 by compare-and-swap on the ETag, elsewhere by running under one lock
(see ``update``), so an update never brings back a file deleted meanwhile.

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
        _backoff(attempt)
    raise _kept_changing(path)


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))


def _kept_changing(path: str) -> OSError:
    return OSError(f"'{path}' kept changing under {S3_ATTEMPTS} attempts to write it; try again")


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
            try:
                new = change(fs.cat_file(path))
                if new is None or s3.conditional_put(fs, path, new, tag):
                    return True
            except FileNotFoundError:
                pass  # deleted since the ETag was read: the next round says so
            _backoff(attempt)
        raise _kept_changing(path)
    with _exclusive(fs, path):
        try:
            old = fs.cat_file(path)
        except FileNotFoundError:
            return False
        new = change(old)
        if new is not None:
            replace(fs, path, new)
        return True


def exchange(fs: AbstractFileSystem, path: str, data: bytes) -> bytes | None:
    """Write ``path`` holding ``data`` atomically; return the contents it replaced (None: none).

    The contents returned are the ones this write replaced, even when other
    writers race: on S3 the write is conditional on the ETag of what was read,
    elsewhere the read and the write run under ``update``'s lock.
    """
    if s3.is_s3(fs):
        for attempt in range(S3_ATTEMPTS):
            tag = s3.etag(fs, path)
            try:
                old: bytes | None = fs.cat_file(path) if tag is not None else None
                if s3.conditional_put(fs, path, data, tag):
                    return old
            except FileNotFoundError:
                pass  # deleted since the ETag was read
            _backoff(attempt)
        raise _kept_changing(path)
    with _exclusive(fs, path):
        while True:
            try:
                current: bytes = fs.cat_file(path)
            except FileNotFoundError:
                try:
                    create_exclusive(fs, path, data)  # creators take no lock: one may win
                except FileExistsError:
                    continue
                return None
            replace(fs, path, data)  # the file exists: only a holder of the lock removes it
            return current


def delete(
    fs: AbstractFileSystem, path: str, only_if: Callable[[bytes], bool] | None = None
) -> bytes | None:
    """Remove ``path`` (if ``only_if`` approves its contents); return what it held.

    None if there was no file, or ``only_if`` said no.  Elsewhere than on S3
    the read and the removal run under ``update``'s lock, so that an update or
    an exchange cannot bring the file back.  On S3 an update is conditional on
    the ETag and fails on a deleted object, but a replacement landing between
    this read and the removal is what is removed.
    """

    def remove() -> bytes | None:
        try:
            old: bytes = fs.cat_file(path)
            if only_if is not None and not only_if(old):
                return None
            fs.rm_file(path)
        except FileNotFoundError:
            return None
        return old

    if s3.is_s3(fs):
        if s3.etag(fs, path) is None:  # S3 deletes missing keys without an error
            return None
        return remove()
    with _exclusive(fs, path):
        return remove()


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
