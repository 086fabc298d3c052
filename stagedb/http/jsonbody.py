"""JSON bodies as Databend writes them: compact, no spaces after separators, raw UTF-8."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from stagedb.errors import AuthenticateFailure, StageDBError

_compact = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A compact JSON response (never failing on text that is not valid Unicode)."""
    body = _compact(data).encode("utf-8", "backslashreplace")
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def error_body(code: int, message: str, status: int) -> web.Response:
    """Databend's error body, ``{"error": {"code": ..., "message": ...}}``."""
    return json_response({"error": {"code": code, "message": message}}, status=status)


def error_response(error: StageDBError) -> web.Response:
    """The error body of a stagedb error, with its HTTP status."""
    response = error_body(error.code, error.message, error.http_status)
    if isinstance(error, AuthenticateFailure):
        response.headers["WWW-Authenticate"] = 'Basic realm="stagedb"'
    return response
