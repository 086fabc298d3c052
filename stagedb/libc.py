"""C library functions that Python does not wrap, reached through ctypes."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any


def libc_function(name: str, argtypes: list[Any], restype: Any = ctypes.c_int) -> Any | None:
    """The C library's function ``name`` (errno kept for ``ctypes.get_errno``), or None.

    None where there is no such function: another C library (musl lacks
    ``mallopt``), or no C library found at all.
    """
    path = ctypes.util.find_library("c")
    if path is None:
        return None
    try:
        function = getattr(ctypes.CDLL(path, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = restype
    return function
