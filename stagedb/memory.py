"""Keeping the server's memory bounded while many threads move large buffers."""

from __future__ import annotations

import ctypes
import logging

from stagedb.libc import libc_function

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the number of malloc arenas."""

_mallopt = libc_function("mallopt", [ctypes.c_int, ctypes.c_int])
_malloc_trim = libc_function("malloc_trim", [ctypes.c_size_t])


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX`` would); True if applied.

    Uploads hand multi-megabyte chunks to worker threads; glibc gives each
    thread its own arena and keeps freed memory there, so peak RSS grows with
    the number of threads rather than with what is in use.
    """
    if _mallopt is None:
        return False  # not glibc
    applied = bool(_mallopt(M_ARENA_MAX, arenas))
    logger.debug("malloc arenas limited to %d: %s", arenas, applied)
    return applied


def release_free_memory() -> None:
    """Hand memory that malloc holds but nothing uses back to the system (glibc only).

    A large upload reads its body in megabyte pieces; glibc keeps the freed
    pieces in its arenas, so without this each upload leaves the server's
    RSS a little higher than the last.  Blocking (a few milliseconds): call
    it from a worker thread once an upload is done.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)
