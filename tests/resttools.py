"""Helpers for the REST API tests: a module-wide server, URLs, and error-body checks."""

from __future__ import annotations

import uuid
from typing import Any

import requests

SNOWFLAKE = "/api/v2/databases/stagedb/schemas/public/stages"


def unique(prefix: str = "s") -> str:
    """A stage or token name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def snowflake_error(reply: requests.Response, status: int) -> dict[str, Any]:
    """Check Snowflake's error body and request ID; return the body."""
    assert reply.status_code == status, (reply.status_code, reply.text)
    body = reply.json()
    assert set(body) == {"message", "code", "error_code", "request_id"}, body
    assert body["request_id"] == reply.headers["X-Snowflake-Request-ID"]
    assert uuid.UUID(body["request_id"])
    return dict(body)


def zilliz_error(reply: requests.Response, status: int = 200) -> dict[str, Any]:
    """Check Zilliz's failure envelope (a non-zero code and a message); return it."""
    assert reply.status_code == status, (reply.status_code, reply.text)
    body = reply.json()
    assert set(body) == {"code", "message"} and body["code"] != 0, body
    return dict(body)
