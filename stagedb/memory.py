"""Keeping the server's memory bounded while many threads move large buffers."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the number of malloc arenas."""


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX`` would); True if applied.

    Uploads hand multi-megabyte chunks to worker threads; glibc gives each
    thread its own arena and keeps freed memory there, so peak RSS grows with
    the number of threads rather than with what is in use.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    applied = bool(mallopt(M_ARENA_MAX, arenas))
    logger.debug("malloc arenas limited to %d: %s", arenas, applied)
    return applied


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


_trim = _malloc_trim()


def release_free_memory() -> None:
    """Hand memory that malloc holds but nothing uses back to the system (glibc only).

    A large upload reads its body in megabyte pieces; glibc keeps the freed
    pieces in its arenas, so without this each upload leaves the server's
    RSS a little higher than the last.  Blocking (a few milliseconds): call
    it from a worker thread once an upload is done.
    """
    if _trim is not None:
        _trim(0)
