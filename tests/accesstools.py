"""Helpers for the user and privilege tests: SQL as a given user, HTTP with Basic credentials."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest
from conftest import ServerProcess

DENIED_TEXT = "PermissionDenied. Code: 1063, Text = Permission denied"


@dataclass
class HttpReply:
    """Status, headers (lower-case names) and body of an HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> tuple[int, str]:
        """(code, message) of a JSON error body."""
        payload = self.json()
        return payload["error"]["code"], payload["error"]["message"]


def http(
    url: str,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> HttpReply:
    """One HTTP request; an error status is a reply, not an exception."""
    sent = dict(headers or {})
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        sent["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return HttpReply(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpReply(error.code, _lower(error.headers), error.read())


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def upload(
    server: ServerProcess,
    stage: str,
    auth: tuple[str, str] | None,
    filename: str = "f.txt",
    data: bytes = b"hello",
) -> HttpReply:
    """Databend's upload API: one file part."""
    body = (
        b"--BOUNDARY\r\n"
        + f'Content-Disposition: form-data; name="upload"; filename="{filename}"\r\n\r\n'.encode()
        + data
        + b"\r\n--BOUNDARY--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=BOUNDARY", "stage_name": stage}
    return http(f"{server.http_url}/v1/upload_to_stage", "PUT", body, headers, auth)


def connect(server: ServerProcess, user: str, password: str) -> pymysql.connections.Connection:
    """A pymysql connection as ``user``."""
    return server.connect(user=user, password=password)


def run(server: ServerProcess, user: str, password: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement as ``user`` on a fresh connection; all rows."""
    with connect(server, user, password) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def columns_and_rows(
    server: ServerProcess, user: str, password: str, sql: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of one statement run as ``user``."""
    with connect(server, user, password) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [d[0] for d in cur.description or []], list(cur.fetchall())


def sql_error(server: ServerProcess, user: str, password: str, sql: str) -> tuple[int, str]:
    """(errno, message) of a statement that must fail."""
    with pytest.raises(pymysql.err.MySQLError) as caught:
        run(server, user, password, sql)
    errno, message = caught.value.args
    return int(errno), str(message)


def assert_denied(server: ServerProcess, user: str, password: str, sql: str) -> str:
    """The statement fails with 1142 and Databend's PermissionDenied text; the message."""
    errno, message = sql_error(server, user, password, sql)
    assert errno == 1142, message
    assert message.startswith(DENIED_TEXT), message
    return message


def login_fails(server: ServerProcess, user: str, password: str) -> None:
    """The MySQL login is refused with 1045."""
    with pytest.raises(pymysql.err.OperationalError) as caught:
        connect(server, user, password).close()
    assert caught.value.args[0] == 1045, caught.value.args
