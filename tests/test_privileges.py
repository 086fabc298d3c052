"""Privileges: the same answers on every front (MySQL, upload API, presigned URLs, REST).

The matrix below runs every action as every kind of user against one stage
owned by ``alice``; each case says whether the action must be allowed.  A
refusal is errno 1142 with Databend's ``PermissionDenied. Code: 1063`` text on
MySQL, and 403 with code 1063 over HTTP.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest
from accesstools import (
    DENIED_TEXT,
    HttpReply,
    assert_denied,
    columns_and_rows,
    http,
    run,
    sql_error,
    upload,
)
from conftest import ServerProcess, start_server

ROOT = ("root", "")
PASSWORDS = {
    "root": "",
    "alice": "alice-pw",  # owns the stage (and may create stages)
    "reader": "reader-pw",  # READ
    "writer": "writer-pw",  # WRITE
    "both": "both-pw",  # ALL
    "nobody": "nobody-pw",  # nothing
}
STAGE = "shared"
SEED = "seed.txt"


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("privileges") / "data"
    server = start_server(str(data))
    try:
        for user, password in PASSWORDS.items():
            if user != "root":
                run(server, *ROOT, f"CREATE USER {user} IDENTIFIED BY '{password}'")
        run(server, *ROOT, "CREATE USER dummy IDENTIFIED BY 'dummy-pw'")
        run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO alice")
        alice = ("alice", PASSWORDS["alice"])
        run(server, *alice, f"CREATE STAGE {STAGE}")
        run(server, *alice, f"GRANT READ ON STAGE {STAGE} TO reader")
        run(server, *alice, f"GRANT WRITE ON STAGE {STAGE} TO writer")
        run(server, *alice, f"GRANT ALL ON STAGE {STAGE} TO both")
        assert upload(server, STAGE, alice, SEED, b"seed").status == 200
        yield server
    finally:
        server.stop()


# -- the actions, each run as one user: True if allowed, False if refused as it should be --


def sql_allowed(server: ServerProcess, user: str, sql: str) -> bool:
    try:
        run(server, user, PASSWORDS[user], sql)
    except pymysql.err.MySQLError as error:
        errno, message = error.args
        assert errno == 1142 and message.startswith(DENIED_TEXT), message
        return False
    return True


def http_allowed(status: int, body: bytes) -> bool:
    if status == 403:
        assert json.loads(body)["error"]["code"] == 1063
        return False
    assert status == 200, body
    return True


def list_files(server: ServerProcess, user: str) -> bool:
    return sql_allowed(server, user, f"LIST @{STAGE}")


def remove_files(server: ServerProcess, user: str) -> bool:
    return sql_allowed(server, user, f"REMOVE @{STAGE}/no-such-file-{uuid.uuid4().hex}")


def presign_download_sql(server: ServerProcess, user: str) -> bool:
    return sql_allowed(server, user, f"PRESIGN DOWNLOAD @{STAGE}/{SEED}")


def presign_upload_sql(server: ServerProcess, user: str) -> bool:
    return sql_allowed(server, user, f"PRESIGN UPLOAD @{STAGE}/up-{user}.txt")


def describe(server: ServerProcess, user: str) -> bool:
    return sql_allowed(server, user, f"DESC STAGE {STAGE}")


def show_stages(server: ServerProcess, user: str) -> bool:
    rows = run(server, user, PASSWORDS[user], "SHOW STAGES")
    return STAGE in [row[0] for row in rows]


def drop_stage(server: ServerProcess, user: str) -> bool:
    name = f"victim_{uuid.uuid4().hex[:8]}"
    run(server, "alice", PASSWORDS["alice"], f"CREATE STAGE {name}")
    run(server, "alice", PASSWORDS["alice"], f"GRANT ALL ON STAGE {name} TO both")
    allowed = sql_allowed(server, user, f"DROP STAGE {name}")
    remaining = [row[0] for row in run(server, *ROOT, "SHOW STAGES")]
    assert (name not in remaining) == allowed
    return allowed


def replace_stage(server: ServerProcess, user: str) -> bool:
    name = f"victim_{uuid.uuid4().hex[:8]}"
    run(server, "alice", PASSWORDS["alice"], f"CREATE STAGE {name}")
    run(server, "alice", PASSWORDS["alice"], f"GRANT ALL ON STAGE {name} TO both")
    return sql_allowed(server, user, f"CREATE OR REPLACE STAGE {name} COMMENT = 'new'")


def grant_on_stage(server: ServerProcess, user: str) -> bool:
    return sql_allowed(server, user, f"GRANT READ ON STAGE {STAGE} TO dummy")


def upload_api(server: ServerProcess, user: str) -> bool:
    reply = upload(server, STAGE, (user, PASSWORDS[user]), f"api-{user}.txt")
    return http_allowed(reply.status, reply.body)


def presigned_download(server: ServerProcess, user: str) -> bool:
    """Make the URL as the user (needs READ), then use it with no credentials."""
    if not presign_download_sql(server, user):
        return False
    ((_, _, url),) = run(server, user, PASSWORDS[user], f"PRESIGN @{STAGE}/{SEED}")
    reply = http(url)
    assert reply.status == 200 and reply.body == b"seed"
    return True


def presigned_upload(server: ServerProcess, user: str) -> bool:
    """Make the URL as the user (needs WRITE), then PUT through it with no credentials."""
    if not presign_upload_sql(server, user):
        return False
    path = f"presigned-{user}.txt"
    ((_, _, url),) = run(server, user, PASSWORDS[user], f"PRESIGN UPLOAD @{STAGE}/{path}")
    reply = http(url, "PUT", b"via presigned")
    assert reply.status == 200, reply
    assert path in [row[0] for row in run(server, *ROOT, f"LIST @{STAGE}")]
    return True


REST_STAGES = "/api/v2/databases/stagedb/schemas/public/stages"


def rest_allowed(reply: HttpReply) -> bool:
    """The Snowflake-style REST family: 403 with its own error body, or 200."""
    if reply.status == 403:
        body = reply.json()
        assert set(body) >= {"message", "code", "error_code", "request_id"}, body
        assert "PermissionDenied" in body["message"], body
        return False
    assert reply.status == 200, reply
    return True


def rest_list_files(server: ServerProcess, user: str) -> bool:
    url = f"{server.http_url}{REST_STAGES}/{STAGE}/files"
    return rest_allowed(http(url, auth=(user, PASSWORDS[user])))


def rest_presign_upload(server: ServerProcess, user: str) -> bool:
    url = f"{server.http_url}{REST_STAGES}/{STAGE}/files/rest-{user}.txt:presigned-url"
    body = json.dumps({"mode": "upload"}).encode()
    headers = {"Content-Type": "application/json"}
    return rest_allowed(http(url, "POST", body, headers, auth=(user, PASSWORDS[user])))


def rest_delete_stage(server: ServerProcess, user: str) -> bool:
    name = f"victim_{uuid.uuid4().hex[:8]}"
    run(server, "alice", PASSWORDS["alice"], f"CREATE STAGE {name}")
    run(server, "alice", PASSWORDS["alice"], f"GRANT ALL ON STAGE {name} TO both")
    url = f"{server.http_url}{REST_STAGES}/{name}"
    allowed = rest_allowed(http(url, "DELETE", auth=(user, PASSWORDS[user])))
    remaining = [row[0] for row in run(server, *ROOT, "SHOW STAGES")]
    assert (name not in remaining) == allowed
    return allowed


ACTIONS: dict[str, Callable[[ServerProcess, str], bool]] = {
    "sql LIST": list_files,
    "sql REMOVE": remove_files,
    "sql PRESIGN DOWNLOAD": presign_download_sql,
    "sql PRESIGN UPLOAD": presign_upload_sql,
    "sql DESC STAGE": describe,
    "sql SHOW STAGES": show_stages,
    "sql DROP STAGE": drop_stage,
    "sql CREATE OR REPLACE": replace_stage,
    "sql GRANT": grant_on_stage,
    "http upload API": upload_api,
    "presigned download (make + use)": presigned_download,
    "presigned upload (make + use)": presigned_upload,
    "rest list files": rest_list_files,
    "rest presigned upload URL": rest_presign_upload,
    "rest delete stage": rest_delete_stage,
}

READ_ACTIONS = {
    "sql LIST",
    "sql PRESIGN DOWNLOAD",
    "presigned download (make + use)",
    "rest list files",
}
WRITE_ACTIONS = {
    "sql REMOVE",
    "sql PRESIGN UPLOAD",
    "http upload API",
    "presigned upload (make + use)",
    "rest presigned upload URL",
}
SEE_ACTIONS = {"sql DESC STAGE", "sql SHOW STAGES"}
OWNER_ACTIONS = {"sql DROP STAGE", "sql CREATE OR REPLACE", "sql GRANT", "rest delete stage"}
assert set(ACTIONS) == READ_ACTIONS | WRITE_ACTIONS | SEE_ACTIONS | OWNER_ACTIONS

ALLOWED = {
    "root": set(ACTIONS),
    "alice": set(ACTIONS),
    "reader": READ_ACTIONS | SEE_ACTIONS,
    "writer": WRITE_ACTIONS | SEE_ACTIONS,
    "both": READ_ACTIONS | WRITE_ACTIONS | SEE_ACTIONS,
    "nobody": set(),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("user", list(PASSWORDS))
def test_privilege_matrix(matrix_server: ServerProcess, user: str, action: str) -> None:
    expected = action in ALLOWED[user]
    assert ACTIONS[action](matrix_server, user) is expected


# -- single behaviours --------------------------------------------------------------------


def create_users(server: ServerProcess, *names: str) -> None:
    for name in names:
        run(server, *ROOT, f"CREATE USER {name} IDENTIFIED BY '{name}-pw'")


def as_user(name: str) -> tuple[str, str]:
    return name, f"{name}-pw"


def test_refusals_name_the_privilege_on_both_ports(server: ServerProcess) -> None:
    create_users(server, "bob")
    run(server, *ROOT, "CREATE STAGE s")
    message = assert_denied(server, *as_user("bob"), "LIST @s")
    assert message == (
        "PermissionDenied. Code: 1063, Text = Permission denied: privilege [Read] is required "
        "on STAGE s for user 'bob'@'%'."
    )
    assert "[Write] is required on STAGE s" in assert_denied(server, *as_user("bob"), "REMOVE @s")
    assert "[Ownership] is required on STAGE s" in assert_denied(
        server, *as_user("bob"), "DROP STAGE s"
    )
    assert "[CreateStage] is required on *.*" in assert_denied(
        server, *as_user("bob"), "CREATE STAGE t"
    )
    reply = upload(server, "s", as_user("bob"))
    assert reply.status == 403
    assert reply.error() == (
        1063,
        "Permission denied: privilege [Write] is required on STAGE s for user 'bob'@'%'",
    )
    # an unknown stage is still an unknown stage
    assert sql_error(server, *as_user("bob"), "LIST @nope")[0] == 1051
    assert upload(server, "nope", as_user("bob")).status == 404


def test_create_stage_needs_the_global_privilege_and_makes_an_owner(server: ServerProcess) -> None:
    create_users(server, "bob")
    assert_denied(server, *as_user("bob"), "CREATE STAGE bobs")
    run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO bob")
    run(server, *as_user("bob"), "CREATE STAGE bobs")
    columns, rows = columns_and_rows(server, *ROOT, "SHOW STAGES")
    row = dict(zip(columns, rows[0], strict=True))
    assert (row["name"], row["owner"], row["creator"]) == ("bobs", "bob", "'bob'@'%'")
    run(server, *ROOT, "REVOKE CREATE STAGE ON *.* FROM bob")
    assert_denied(server, *as_user("bob"), "CREATE STAGE another")
    run(server, *as_user("bob"), "CREATE OR REPLACE STAGE bobs COMMENT = 'still mine'")
    run(server, *as_user("bob"), "DROP STAGE bobs")  # the owner keeps what they own


def test_owner_grants_and_revokes_but_grantees_cannot_regrant(server: ServerProcess) -> None:
    create_users(server, "alice", "bob", "carol")
    run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO alice")
    run(server, *as_user("alice"), "CREATE STAGE a")
    run(server, *as_user("alice"), "GRANT ALL ON STAGE a TO bob")
    assert_denied(server, *as_user("bob"), "GRANT READ ON STAGE a TO carol")
    assert_denied(server, *as_user("bob"), "REVOKE READ ON STAGE a FROM bob")
    assert run(server, *as_user("bob"), "LIST @a") == []
    run(server, *as_user("alice"), "REVOKE READ ON STAGE a FROM bob")
    assert_denied(server, *as_user("bob"), "LIST @a")
    assert upload(server, "a", as_user("bob")).status == 200  # WRITE is still there
    run(server, *ROOT, "REVOKE ALL ON STAGE a FROM bob")  # root may too
    assert upload(server, "a", as_user("bob")).status == 403
    errno, message = sql_error(server, *as_user("alice"), "REVOKE READ ON STAGE a FROM alice")
    assert errno == 1210 and "holds every privilege on stage a" in message
    assert sql_error(server, *ROOT, "GRANT READ ON STAGE a TO ghost")[0] == 1396
    assert sql_error(server, *ROOT, "GRANT READ ON STAGE ghost TO bob")[0] == 1051
    errno, message = sql_error(server, *ROOT, "GRANT READ ON STAGE ~ TO bob")
    assert errno == 1142 and message.startswith("StagePermissionDenied. Code: 2506")


def test_show_grants_in_mysql_shape(server: ServerProcess) -> None:
    create_users(server, "alice", "bob")
    run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO alice")
    run(server, *as_user("alice"), "CREATE STAGE a")
    run(server, *ROOT, "CREATE STAGE r")
    run(server, *ROOT, "CREATE STAGE w")
    run(server, *as_user("alice"), "GRANT READ, WRITE ON STAGE a TO bob")
    run(server, *ROOT, "GRANT READ ON STAGE r TO bob")
    run(server, *ROOT, "GRANT WRITE ON STAGE w TO bob")
    bob_lines = [
        "GRANT USAGE ON *.* TO 'bob'@'%'",
        "GRANT ALL ON STAGE a TO 'bob'@'%'",
        "GRANT READ ON STAGE r TO 'bob'@'%'",
        "GRANT WRITE ON STAGE w TO 'bob'@'%'",
    ]
    for sql in ("SHOW GRANTS", "SHOW GRANTS FOR CURRENT_USER()", "SHOW GRANTS FOR CURRENT_USER",
                "SHOW GRANTS FOR bob", "SHOW GRANTS FOR 'bob'@'%'"):  # fmt: skip
        columns, rows = columns_and_rows(server, *as_user("bob"), sql)
        assert columns == ["Grants for bob@%"], sql
        assert [r[0] for r in rows] == bob_lines, sql
    assert [r[0] for r in run(server, *ROOT, "SHOW GRANTS FOR 'bob'@'%'")] == bob_lines
    assert [r[0] for r in run(server, *as_user("alice"), "SHOW GRANTS")] == [
        "GRANT CREATE STAGE ON *.* TO 'alice'@'%'",
        "GRANT OWNERSHIP ON STAGE a TO 'alice'@'%'",
    ]
    root_line = "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"
    for sql in ("SHOW GRANTS", "SHOW GRANTS FOR 'root'@'%'", "SHOW GRANTS FOR root@localhost"):
        columns, rows = columns_and_rows(server, *ROOT, sql)
        assert (columns, rows) == (["Grants for root@%"], [(root_line,)]), sql
    assert sql_error(server, *ROOT, "SHOW GRANTS FOR ghost")[0] == 1396


def test_each_users_stage_is_theirs_alone(server: ServerProcess, data_dir: Path) -> None:
    create_users(server, "alice", "bob")
    assert upload(server, "~", as_user("bob"), "bobs.txt", b"bob's").status == 200
    assert upload(server, "~", as_user("alice"), "alices.txt").status == 200
    assert [r[0] for r in run(server, *as_user("bob"), "LIST @~")] == ["bobs.txt"]
    assert [r[0] for r in run(server, *as_user("alice"), "LIST @~")] == ["alices.txt"]
    assert run(server, *ROOT, "LIST @~") == []
    assert (data_dir / "stage" / "user" / "bob" / "bobs.txt").read_bytes() == b"bob's"
    ((_, _, url),) = run(server, *as_user("bob"), "PRESIGN @~/bobs.txt")
    assert http(url).body == b"bob's"
    assert run(server, *as_user("alice"), "REMOVE @~") == [("alices.txt",)]
    assert [r[0] for r in run(server, *as_user("bob"), "LIST @~")] == ["bobs.txt"]
    row = run(server, *as_user("bob"), "DESC STAGE ~")[0]
    assert (row[0], row[1], row[-1]) == ("~", "User", "bob")


def test_stages_from_before_owners_belong_to_root(server: ServerProcess, data_dir: Path) -> None:
    create_users(server, "alice")
    run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO alice")
    record = {
        "name": "legacy", "stage_type": "Internal", "url": None, "connection": {},
        "file_format": {"type": "PARQUET"}, "comment": None, "creator": "root",
        "created_on": "2026-01-01T00:00:00+00:00", "format_version": 1,
    }  # fmt: skip
    (data_dir / "catalog" / "stages" / "legacy.json").write_text(json.dumps(record))
    assert run(server, *ROOT, "SHOW STAGES")[0][-1] == "root"
    assert_denied(server, *as_user("alice"), "DROP STAGE legacy")
    assert_denied(server, *as_user("alice"), "LIST @legacy")
    run(server, *ROOT, "DROP STAGE legacy")


def test_grants_end_with_their_stage(server: ServerProcess) -> None:
    create_users(server, "alice", "bob", "carol")
    for name in ("alice", "carol"):
        run(server, *ROOT, f"GRANT CREATE STAGE ON *.* TO {name}")
    run(server, *as_user("alice"), "CREATE STAGE s")
    run(server, *as_user("alice"), "GRANT READ ON STAGE s TO bob")
    assert run(server, *as_user("bob"), "LIST @s") == []
    run(server, *as_user("alice"), "DROP STAGE s")
    run(server, *as_user("carol"), "CREATE STAGE s")  # someone else's stage of the same name
    assert_denied(server, *as_user("bob"), "LIST @s")
    assert [r[0] for r in run(server, *as_user("bob"), "SHOW GRANTS")] == [
        "GRANT USAGE ON *.* TO 'bob'@'%'"
    ]
    # CREATE OR REPLACE makes a new stage too
    run(server, *as_user("carol"), "GRANT READ ON STAGE s TO bob")
    assert run(server, *as_user("bob"), "LIST @s") == []
    run(server, *as_user("carol"), "CREATE OR REPLACE STAGE s")
    assert_denied(server, *as_user("bob"), "LIST @s")


def test_presigned_urls_stop_when_their_maker_loses_the_privilege(server: ServerProcess) -> None:
    create_users(server, "bob")
    run(server, *ROOT, "CREATE STAGE s")
    assert upload(server, "s", ("root", ""), "data.txt", b"payload").status == 200
    run(server, *ROOT, "GRANT READ, WRITE ON STAGE s TO bob")
    ((_, _, download),) = run(server, *as_user("bob"), "PRESIGN @s/data.txt")
    ((_, _, upload_url),) = run(server, *as_user("bob"), "PRESIGN UPLOAD @s/new.txt")
    assert http(download).body == b"payload"
    run(server, *ROOT, "REVOKE ALL ON STAGE s FROM bob")
    refused = http(download)
    assert refused.status == 403 and refused.error()[0] == 1063
    refused = http(upload_url, "PUT", b"x")
    assert refused.status == 403 and refused.error()[0] == 1063
    assert [r[0] for r in run(server, *ROOT, "LIST @s")] == ["data.txt"]


def test_an_upload_without_write_is_refused_before_its_body(server: ServerProcess) -> None:
    """With ``Expect: 100-continue`` the 403 comes instead of 100 Continue."""
    create_users(server, "bob")
    run(server, *ROOT, "CREATE STAGE s")
    run(server, *ROOT, "GRANT READ ON STAGE s TO bob")
    token = base64.b64encode(b"bob:bob-pw").decode()
    sock = socket.create_connection((server.host, server.http_port), timeout=10)
    try:
        sock.sendall(
            (
                "PUT /v1/upload_to_stage HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                "Content-Type: multipart/form-data; boundary=B\r\nstage_name: s\r\n"
                f"Authorization: Basic {token}\r\nContent-Length: 1000000\r\n\r\n"
            ).encode()
        )
        received = b""
        while b"\r\n\r\n" not in received and (piece := sock.recv(65536)):
            received += piece
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 403"), received
