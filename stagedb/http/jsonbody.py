"""JSON bodies as Databend writes them: compact, no spaces after separators."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

_compact = functools.partial(json.dumps, separators=(",", ":"))


def json_response(data: Any, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return web.json_response(data, status=status, dumps=_compact)
