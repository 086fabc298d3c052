"""Programmatic access tokens: made over SQL, used as Bearer tokens on every HTTP endpoint."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import requests
from conftest import ServerProcess, start_server
from resttools import SNOWFLAKE, snowflake_error, zilliz_error
from testtools import stored_files

TOKEN = re.compile(r"sdbpat\.[A-Za-z0-9_-]+\.[_a-zA-Z][_$a-zA-Z0-9]*\.[A-Za-z0-9_-]{43}")
PASSWORD = "root-secret"


@pytest.fixture
def locked(data_dir: Path) -> Iterator[ServerProcess]:
    """A server whose root has a password: nothing works without credentials."""
    proc = start_server(str(data_dir), "--root-password", PASSWORD)
    try:
        yield proc
    finally:
        proc.stop()


def sql(server: ServerProcess, statement: str) -> list[tuple[object, ...]]:
    with server.connect(password=PASSWORD) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return list(cur.fetchall())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_create_show_drop_over_sql(locked: ServerProcess, data_dir: Path) -> None:
    [(name, secret, expires_on)] = sql(locked, "CREATE TOKEN ci EXPIRE = 3600")
    assert name == "ci" and isinstance(secret, str) and TOKEN.fullmatch(secret)
    assert abs(time.time() + 3600 - _epoch(str(expires_on))) < 60
    shown = sql(locked, "SHOW TOKENS")
    assert [row[0] for row in shown] == ["ci"] and shown[0][1] == "root"
    assert shown[0][4] == "ACTIVE" and secret not in repr(shown)
    # stored only as a hash
    everything = b"".join((data_dir / f).read_bytes() for f in stored_files(data_dir))
    assert secret.encode() not in everything
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in everything
    with pytest.raises(pymysql.err.OperationalError, match="TokenAlreadyExists"):
        sql(locked, "CREATE TOKEN ci")
    for statement, message in (
        ("CREATE TOKEN t EXPIRE = 0", "EXPIRE must be between"),
        ("CREATE TOKEN `a b`", "Invalid token name"),
        ("DROP TOKEN nope", "UnknownToken"),
    ):
        with pytest.raises(pymysql.err.MySQLError, match=message):
            sql(locked, statement)
    assert sql(locked, "DROP TOKEN IF EXISTS nope") == []
    assert sql(locked, "DROP TOKEN ci") == [] and sql(locked, "SHOW TOKENS") == []


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_bearer_on_every_endpoint(locked: ServerProcess, tmp_path: Path) -> None:
    [(_, token, _)] = sql(locked, "CREATE TOKEN everywhere")
    auth = bearer(token)
    typed = {**auth, "X-Snowflake-Authorization-Token-Type": "PROGRAMMATIC_ACCESS_TOKEN"}
    base = locked.http_url + SNOWFLAKE
    # Snowflake-style: all six operations
    assert requests.post(base, json={"name": "tok"}, headers=typed).status_code == 200
    assert [s["name"] for s in requests.get(base, headers=typed).json()] == ["tok"]
    assert requests.get(f"{base}/tok", headers=auth).json()["owner"] == "root"
    # the upload API, with curl (Expect: 100-continue for a body over 1 MiB)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    curl = subprocess.run(
        ["curl", "-sS", "-H", f"Authorization: Bearer {token}", "-H", "stage_name: tok",
         "-F", f"upload=@{big}", "-XPUT", f"{locked.http_url}/v1/upload_to_stage"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '"state":"SUCCESS"' in curl.stdout, curl.stdout
    files = requests.get(f"{base}/tok/files", headers=auth).json()
    assert [(f["name"], f["size"]) for f in files] == [("big.bin", str(2 * 1024 * 1024))]
    presign = requests.post(f"{base}/tok/files/big.bin:presigned-url", headers=auth)
    assert len(requests.get(presign.json()["presigned_url"]).content) == 2 * 1024 * 1024
    assert requests.delete(f"{base}/tok", headers=auth).status_code == 200
    # the user stage of a token is its user's
    up = requests.put(
        locked.http_url + "/v1/upload_to_stage",
        headers={**auth, "stage_name": "~"},
        files={"f": ("mine.txt", b"hi")},
    )
    assert up.status_code == 200
    assert [r[0] for r in sql(locked, "LIST @~")] == ["mine.txt"]
    # Zilliz-style
    zurl = locked.http_url + "/v2/stages"
    assert (
        requests.post(zurl + "/create", json={"stageName": "z"}, headers=auth).json()["code"] == 0
    )
    assert requests.get(zurl, headers=auth).json()["data"]["count"] == 1
    assert requests.delete(zurl + "/z", headers=auth).json()["code"] == 0
    # without the token, every one of them is refused
    assert requests.get(base).status_code == 401
    assert zilliz_error(requests.get(zurl))["code"] == 2201


def test_bad_tokens(locked: ServerProcess) -> None:
    [(_, token, _)] = sql(locked, "CREATE TOKEN t")
    base = locked.http_url + SNOWFLAKE
    upload = locked.http_url + "/v1/upload_to_stage"
    for header in (
        bearer(token + "x"),
        bearer(token[:-1] + ("A" if token[-1] != "A" else "B")),
        bearer("sdbpat.cm9vdA.t." + "A" * 43),
        bearer("not-a-token"),
        bearer(""),
        {**bearer(token), "X-Snowflake-Authorization-Token-Type": "KEYPAIR_JWT"},
    ):
        error = snowflake_error(requests.get(base, headers=header), 401)
        assert token not in error["message"]
        refused = requests.put(
            upload, headers={**header, "stage_name": "~"}, files={"f": ("a.txt", b"a")}
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == 2201
    typed = {**bearer(token), "X-Snowflake-Authorization-Token-Type": "KEYPAIR_JWT"}
    assert (
        "PROGRAMMATIC_ACCESS_TOKEN"
        in snowflake_error(requests.get(base, headers=typed), 401)["message"]
    )


def test_drop_and_expiry_stop_a_token(locked: ServerProcess) -> None:
    [(_, short, _)] = sql(locked, "CREATE TOKEN short EXPIRE = 1")
    [(_, dropped, _)] = sql(locked, "CREATE TOKEN dropped")
    base = locked.http_url + SNOWFLAKE
    assert requests.get(base, headers=bearer(short)).status_code == 200
    assert requests.get(base, headers=bearer(dropped)).status_code == 200
    sql(locked, "DROP TOKEN dropped")
    gone = snowflake_error(requests.get(base, headers=bearer(dropped)), 401)
    assert "unknown or dropped" in gone["message"]
    time.sleep(1.2)
    expired = snowflake_error(requests.get(base, headers=bearer(short)), 401)
    assert "has expired" in expired["message"]
    assert [row[4] for row in sql(locked, "SHOW TOKENS")] == ["EXPIRED"]
    # a token re-created under the same name is a new secret; the old one stays dead
    [(_, again, _)] = sql(locked, "CREATE TOKEN dropped")
    assert again != dropped
    assert requests.get(base, headers=bearer(again)).status_code == 200
    assert requests.get(base, headers=bearer(dropped)).status_code == 401


def test_tokens_are_shared_by_servers_on_one_data_root(locked: ServerProcess) -> None:
    [(_, token, _)] = sql(locked, "CREATE TOKEN shared")
    other = start_server(locked.data, "--root-password", PASSWORD)
    try:
        url = other.http_url + SNOWFLAKE
        assert requests.get(url, headers=bearer(token)).status_code == 200
        sql(locked, "DROP TOKEN shared")
        assert requests.get(url, headers=bearer(token)).status_code == 401
    finally:
        other.stop()
