"""Failures of the storage and of DuckDB, as the MySQL and HTTP fronts answer them, and the
side port's one error middleware choosing each route family's body.

An unreadable local stage is made with a directory replaced by a symlink to
itself (listing it fails with ELOOP): ``chmod 000`` would not stop the tests
when they run as root.  An unwritable one is a directory replaced by a file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pymysql
import pytest
import requests
from conftest import ServerProcess
from resttools import SNOWFLAKE, snowflake_error, zilliz_error
from test_http_upload import curl_upload
from test_presign import presign

MIB = 1024 * 1024


def external_stage(server: ServerProcess, name: str, location: Path) -> None:
    server.query(f"CREATE STAGE {name} URL = 'file://{location}/'")


def mysql_error(conn: pymysql.connections.Connection, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as caught, conn.cursor() as cur:
        cur.execute(sql)
        cur.fetchall()
    return caught.value.args[0], caught.value.args[1]


def still_usable(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 'still here'")
        assert cur.fetchall() == (("still here",),)


def databend_error(reply: requests.Response) -> dict[str, object]:
    """The ``error`` object of Databend's error body."""
    body = reply.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message"}, error
    return dict(error)


# -- StorageOther: listing ----------------------------------------------------------------


def test_listing_a_stage_that_cannot_be_read_is_storage_other(
    server: ServerProcess, external_dir: Path
) -> None:
    (external_dir / "a.csv").write_text("a\n")
    external_stage(server, "looped", external_dir)
    assert [row[0] for row in server.query("LIST @looped")] == ["a.csv"]
    shutil.rmtree(external_dir)
    os.symlink(external_dir, external_dir)  # ELOOP for everyone, root included

    with server.connect() as conn:
        for sql in ("LIST @looped", "SELECT name FROM stagedb.looped"):
            errno, message = mysql_error(conn, sql)
            assert errno == 1105, message
            assert message.startswith("StorageOther. Code: 4000, Text = Listing failed: ")
            assert "symbolic links" in message
            still_usable(conn)

    reply = requests.get(f"{server.http_url}{SNOWFLAKE}/looped/files", timeout=30)
    error = snowflake_error(reply, 502)
    assert error["code"] == "4000" and error["error_code"] == "StorageOther"
    assert "Listing failed" in str(error["message"])


# -- StorageOther: writing ----------------------------------------------------------------


@pytest.fixture
def blocked_stage(server: ServerProcess, external_dir: Path) -> Path:
    """External stage ``blocked`` whose directory became a file after CREATE STAGE."""
    external_stage(server, "blocked", external_dir)
    external_dir.rmdir()
    external_dir.write_bytes(b"not a directory")
    return external_dir


def test_upload_into_a_stage_that_cannot_be_written_is_storage_other(
    server: ServerProcess, blocked_stage: Path, tmp_path: Path
) -> None:
    (tmp_path / "b.csv").write_text("b\n")
    reply = curl_upload(server, "blocked", "upload=@b.csv", cwd=tmp_path)
    assert reply.status == 502, reply.body
    code, message = reply.error()
    assert code == 4000
    assert message == "Writing 'b.csv' failed: Not a directory"
    assert blocked_stage.read_bytes() == b"not a directory"  # nothing written
    assert server.query("SELECT 1") == [(1,)]


@pytest.mark.parametrize("size", [10, 5 * MIB], ids=["streamed", "direct"])
def test_presigned_put_into_a_stage_that_cannot_be_written_is_storage_other(
    server: ServerProcess, blocked_stage: Path, size: int
) -> None:
    signed = presign(server, "PRESIGN UPLOAD @blocked/c.bin")
    reply = requests.put(signed.url, data=b"c" * size, timeout=60)
    assert reply.status_code == 502, reply.text
    error = databend_error(reply)
    assert error["code"] == 4000
    assert str(error["message"]).startswith("Writing 'c.bin' failed: ")
    if size >= 4 * MIB:  # read around aiohttp's parser: the connection must not be reused
        assert reply.headers.get("Connection") == "close"
    assert blocked_stage.read_bytes() == b"not a directory"


# -- DuckDB errors ------------------------------------------------------------------------


def test_unknown_function_in_a_table_query_is_a_mysql_error(server: ServerProcess) -> None:
    server.query("CREATE STAGE fn_stage")
    with server.connect() as conn:
        errno, message = mysql_error(conn, "SELECT no_such_fn(name) FROM stagedb.stages")
        assert errno == 1105
        assert message.startswith("SemanticError. Code: 1065, Text = ")
        assert "no_such_fn" in message and "\n" not in message
        still_usable(conn)
        with conn.cursor() as cur:  # and the tables still answer on it
            cur.execute("SELECT name FROM stagedb.stages")
            assert ("fn_stage",) in cur.fetchall()


# -- one middleware, a body per route family ------------------------------------------------


def test_each_route_family_answers_unknown_paths_in_its_own_body(server: ServerProcess) -> None:
    base = server.http_url
    databend = requests.get(f"{base}/v1/no-such-thing", timeout=30)
    assert databend.status_code == 404
    assert databend_error(databend) == {"code": 1006, "message": "Not Found"}
    assert "X-Snowflake-Request-ID" not in databend.headers

    snowflake = snowflake_error(requests.get(f"{base}/api/v2/no-such-thing", timeout=30), 404)
    assert "No such endpoint: /api/v2/no-such-thing" in str(snowflake["message"])

    zilliz = zilliz_error(requests.get(f"{base}/v2/stages/a/b/c", timeout=30), 404)
    assert zilliz["code"] == 1006 and "No such endpoint" in str(zilliz["message"])
    assert "X-Snowflake-Request-ID" not in requests.get(f"{base}/v2/stages", timeout=30).headers

    wrong = requests.delete(f"{base}/v1/health", timeout=30)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET,HEAD"
    assert databend_error(wrong)["message"] == "Method Not Allowed"
