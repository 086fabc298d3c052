"""Knowing, cheaply, that a local catalog directory has not changed.

Every catalog change (create, replace, drop) adds, renames or removes a
directory entry, which updates the directory's modification time.  A
snapshot taken while the directory had mtime ``m`` is still current if the
mtime is still ``m`` -- provided the snapshot was taken well after ``m``:
file-system timestamps come from a coarse clock, so two changes within one
tick can share an mtime (git calls this the "racy" case).  Snapshots taken
within ``RACY_NS`` of the mtime are therefore never trusted.

Checking costs one ``stat`` of a directory that is in the kernel's cache; it
replaces a trip to a worker thread (about a millisecond under load) on every
SHOW STAGES, LIST and DESC.  Only the local disk gets this; other
filesystems are read on every statement.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

RACY_NS = 100_000_000
"""How long after a change a snapshot must have been taken to be trusted (0.1 s)."""

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """What was read, the directory's mtime before reading, and when reading began."""

    value: T
    mtime_ns: int
    taken_ns: int


class DirectoryVersion:
    """The modification time of one local directory, as a change detector."""

    def __init__(self, path: str) -> None:
        self.path = path

    def current(self) -> int:
        """The directory's mtime in nanoseconds (-1 if it is missing)."""
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return -1

    def begin(self) -> tuple[int, int]:
        """Call before reading the directory: ``(mtime_ns, taken_ns)`` for the snapshot."""
        return self.current(), time.time_ns()

    def still_current(self, snapshot: Snapshot[T] | None) -> bool:
        """Whether nothing can have changed since ``snapshot`` was read."""
        if snapshot is None:
            return False
        if snapshot.taken_ns - snapshot.mtime_ns <= RACY_NS:
            return False
        return self.current() == snapshot.mtime_ns


class DirectoryCache(Generic[T]):
    """A value read from one local directory, read again only once the directory changed."""

    def __init__(self, path: str) -> None:
        self.version = DirectoryVersion(path)
        self._snapshot: Snapshot[T] | None = None

    async def get(self, read: Callable[[], T]) -> T:
        """The cached value, or ``read()`` (in a worker thread) if it may be stale."""
        snapshot = self._snapshot
        if snapshot is not None and self.version.still_current(snapshot):
            return snapshot.value
        mtime_ns, taken_ns = self.version.begin()
        value = await asyncio.to_thread(read)
        self._snapshot = Snapshot(value, mtime_ns, taken_ns)
        return value
