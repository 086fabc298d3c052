"""JSON bodies as Databend writes them: compact, no spaces after separators, raw UTF-8."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from stagedb.errors import AuthenticateFailure, StageDBError

_compact = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)


def json_bytes(data: Any) -> bytes:
    """``data`` as compact JSON in UTF-8 (never failing on text that is not valid Unicode)."""
    return _compact(data).encode("utf-8", "backslashreplace")


def json_response(data: Any, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return _json_body(json_bytes(data), status)


def error_bytes(code: int, message: str) -> bytes:
    """Databend's error body, ``{"error": {"code": ..., "message": ...}}``, as bytes."""
    return json_bytes({"error": {"code": code, "message": message}})


def error_body(code: int, message: str, status: int) -> web.Response:
    """Databend's error body as a response with HTTP ``status``."""
    return _json_body(error_bytes(code, message), status)


def _json_body(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def error_response(error: StageDBError) -> web.Response:
    """The error body of a stagedb error, with its HTTP status."""
    response = error_body(error.code, error.message, error.http_status)
    if isinstance(error, AuthenticateFailure):
        response.headers["WWW-Authenticate"] = 'Basic realm="stagedb"'
    return response
