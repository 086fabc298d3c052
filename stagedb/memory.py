"""Keeping the server's memory bounded while many threads move large buffers."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

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
