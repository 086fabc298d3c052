"""Where the features meet: tokens and users, privileges and tables, secrets and tokens."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from accesstools import http, run
from conftest import ServerProcess, start_server

ROOT = ("root", "Root-Cross-5e1b")
BOB = ("bob", "Bob-Cross-77aa")
REST_STAGES = "/api/v2/databases/stagedb/schemas/public/stages"


@pytest.fixture
def locked(data_dir: Path) -> Iterator[ServerProcess]:
    """A server whose root has a password, with a user bob."""
    server = start_server(str(data_dir), "--root-password", ROOT[1], "--log-level", "DEBUG")
    try:
        run(server, *ROOT, f"CREATE USER bob IDENTIFIED BY '{BOB[1]}'")
        yield server
    finally:
        server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_dropped_users_token_stops_working(locked: ServerProcess) -> None:
    run(locked, *ROOT, "GRANT CREATE STAGE ON *.* TO bob")
    [(_, token, _)] = run(locked, *BOB, "CREATE TOKEN mine")
    url = f"{locked.http_url}{REST_STAGES}"
    assert http(url, headers=bearer(token)).status == 200
    run(locked, *ROOT, "DROP USER bob")
    refused = http(url, headers=bearer(token))
    assert refused.status == 403, refused  # the token is valid; its user is gone
    assert "no longer exists" in refused.json()["message"]


def test_tables_show_only_what_the_user_may_see(locked: ServerProcess) -> None:
    run(locked, *ROOT, "CREATE STAGE private_stage")
    run(locked, *ROOT, "CREATE STAGE shared_stage")
    run(locked, *ROOT, "GRANT READ ON STAGE shared_stage TO bob")
    tables = {row[0] for row in run(locked, *BOB, "SHOW TABLES FROM stagedb")}
    assert "shared_stage" in tables and "private_stage" not in tables
    listed = run(
        locked, *BOB,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'stagedb'",
    )  # fmt: skip
    assert "private_stage" not in {row[0] for row in listed}
    with pytest.raises(pymysql.err.MySQLError) as refused:
        run(locked, *BOB, "SELECT * FROM DIRECTORY(@private_stage)")
    errno, message = refused.value.args
    assert errno == 1142 and "privilege [Read] is required on STAGE private_stage" in message
    assert run(locked, *BOB, "SELECT COUNT(*) FROM stagedb.shared_stage") == [(0,)]


def test_token_secrets_never_show(locked: ServerProcess) -> None:
    [(_, token, _)] = run(locked, *ROOT, "CREATE TOKEN ci")
    seen = [
        repr(run(locked, *ROOT, "SHOW TOKENS")),
        http(f"{locked.http_url}{REST_STAGES}", headers=bearer(token)).body.decode(),
        http(f"{locked.http_url}{REST_STAGES}", headers=bearer(token + "x")).body.decode(),
        json.dumps(http(f"{locked.http_url}/openapi.json").status),
    ]
    run(locked, *ROOT, "DROP TOKEN ci")
    seen.append(http(f"{locked.http_url}{REST_STAGES}", headers=bearer(token)).body.decode())
    locked.stop()
    log = "".join(locked.output)
    assert re.search(r"DEBUG", log), "the server ran at DEBUG"
    for text in [*seen, log]:
        assert token not in text
        assert ROOT[1] not in text and BOB[1] not in text
