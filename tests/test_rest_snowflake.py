"""The Snowflake-style stage REST resource on a live server, with requests (and curl)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ServerProcess, start_server
from resttools import SNOWFLAKE, snowflake_error, unique
from s3fixtures import ACCESS_KEY, AWS_ENV, SECRET_KEY, MotoS3

STAGE_KEYS = {
    "name", "kind", "url", "endpoint", "storage_integration", "comment", "directory_table",
    "created_on", "has_credentials", "has_encryption_key", "owner", "owner_role_type",
    "region", "cloud",
}  # fmt: skip


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (tests use their own stage names)."""
    data = tmp_path_factory.mktemp("data")
    proc = start_server(str(data), "--rest-page-size", "3")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def base(rest: ServerProcess) -> str:
    return rest.http_url + SNOWFLAKE


def create(base: str, name: str, **body: Any) -> requests.Response:
    reply = requests.post(base, json={"name": name, **body}, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"status": "Request successfully completed"}
    assert uuid.UUID(reply.headers["X-Snowflake-Request-ID"])
    return reply


def upload(server: ServerProcess, stage: str, relative: str, *names: str) -> None:
    files = [("upload", (name, f"content of {name}".encode())) for name in names]
    headers = {"stage_name": stage, "relative_path": relative}
    reply = requests.put(server.http_url + "/v1/upload_to_stage", headers=headers, files=files)
    assert reply.status_code == 200, reply.text


# -- the six operations ------------------------------------------------------------------


def test_create_fetch_list_delete(base: str, rest: ServerProcess) -> None:
    name = unique("Land")
    create(base, name, comment="landing zone", kind="PERMANENT")
    fetched = requests.get(f"{base}/{name}", timeout=30)
    assert fetched.status_code == 200
    stage = fetched.json()
    assert set(stage) == STAGE_KEYS
    assert stage["name"] == name and stage["comment"] == "landing zone"
    assert stage["kind"] == "PERMANENT" and stage["owner"] == "root"
    assert stage["url"] is None and stage["cloud"] is None and stage["has_credentials"] is False
    created = datetime.fromisoformat(stage["created_on"])
    assert abs(created.timestamp() - time.time()) < 60
    listed = requests.get(base, params={"like": name.lower()}, timeout=30)
    assert [s["name"] for s in listed.json()] == [name]
    assert listed.json()[0] == stage
    assert (name,) in [row[:1] for row in rest.query("SHOW STAGES")]
    deleted = requests.delete(f"{base}/{name}", timeout=30)
    assert deleted.json() == {"status": "Request successfully completed"}
    assert "X-Snowflake-Request-ID" in deleted.headers
    snowflake_error(requests.get(f"{base}/{name}", timeout=30), 404)
    assert rest.query(f"DESC STAGE {name}") == []


def test_create_modes(base: str) -> None:
    name = unique()
    create(base, name, comment="first")
    conflict = snowflake_error(requests.post(base, json={"name": name}, timeout=30), 409)
    assert conflict["error_code"] == "StageAlreadyExists" and conflict["code"] == "2502"
    explicit = requests.post(base, params={"createMode": "errorIfExists"}, json={"name": name})
    snowflake_error(explicit, 409)
    kept = requests.post(base, params={"createMode": "ifNotExists"}, json={"name": name})
    assert kept.status_code == 200
    assert requests.get(f"{base}/{name}").json()["comment"] == "first"
    replaced = requests.post(
        base, params={"createMode": "orReplace"}, json={"name": name, "comment": "second"}
    )
    assert replaced.status_code == 200
    assert requests.get(f"{base}/{name}").json()["comment"] == "second"
    bad = snowflake_error(requests.post(base, params={"createMode": "sometimes"}, json={}), 400)
    assert "errorIfExists, orReplace, ifNotExists" in bad["message"]


def test_create_external_stage_and_read_only_fields(base: str, tmp_path: Path) -> None:
    name = unique()
    # Read-only fields sent back (as from a fetch) are ignored, credentials never returned.
    create(base, name, url=f"fs://{tmp_path}/", created_on="2020-01-01", owner="someone")
    stage = requests.get(f"{base}/{name}").json()
    assert stage["url"] == f"fs://{tmp_path}/" and stage["owner"] == "root"
    assert stage["created_on"] != "2020-01-01"
    missing = requests.post(base, json={"name": unique(), "url": f"fs://{tmp_path}/nope/"})
    assert "refused" in snowflake_error(missing, 400)["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "needs a 'name'"),
        ({"name": 5}, "needs a 'name'"),
        ({"name": "a-b"}, "Invalid identifier 'a-b'"),
        ({"name": '"my stage"'}, "Invalid stage name 'my stage'"),
        ({"name": "s", "colour": "red"}, "Unknown Stage property colour"),
        ({"name": "s", "kind": "TEMPORARY"}, "stagedb stages are PERMANENT"),
        ({"name": "s", "comment": 5}, "'comment' must be a string"),
        ({"name": "s", "credentials": {"aws_key_id": "k"}}, "need a url"),
        ({"name": "s", "url": "s3://b/", "credentials": {"x": "1"}}, "Unknown AWS credential"),
        ({"name": "s", "url": "s3://b/", "credentials": "k"}, "must be an object"),
        ({"name": "s", "storage_integration": "si"}, "storage_integration is not supported"),
        ({"name": "s", "encryption": {"type": "AWS_SSE_KMS"}}, "does not encrypt"),
        ({"name": "s", "directory_table": {"enable": True}}, "Directory tables"),
        ({"name": "s", "url": "ftp://x/"}, "refused"),
    ],
)
def test_create_refuses_bad_stages(base: str, body: dict[str, Any], message: str) -> None:
    error = snowflake_error(requests.post(base, json=body, timeout=30), 400)
    assert message in error["message"], error


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b"", b'"name"', b"\xff\xfe"],
    ids=["bad", "array", "empty", "string", "binary"],
)
def test_create_refuses_malformed_json(base: str, raw: bytes) -> None:
    reply = requests.post(base, data=raw, headers={"Content-Type": "application/json"})
    error = snowflake_error(reply, 400)
    assert error["error_code"] == "BadArguments"


def test_quoted_identifiers(base: str) -> None:
    name = unique()
    create(base, f'"{name}"')
    assert requests.get(f'{base}/"{name}"').json()["name"] == name
    assert requests.delete(f'{base}/"{name}"').status_code == 200


def test_delete(base: str) -> None:
    name = unique()
    snowflake_error(requests.delete(f"{base}/{name}"), 404)
    assert requests.delete(f"{base}/{name}", params={"ifExists": "true"}).status_code == 200
    create(base, name)
    assert requests.delete(f"{base}/{name}", params={"ifExists": "false"}).status_code == 200
    error = snowflake_error(requests.delete(f"{base}/{name}", params={"ifExists": "maybe"}), 400)
    assert "true or false" in error["message"]
    # the user stage cannot be dropped: 403
    forbidden = snowflake_error(requests.delete(f'{base}/"~"'), 403)
    assert forbidden["error_code"] == "StagePermissionDenied"


def test_list_files_pattern_prefix_and_user_stage(base: str, rest: ServerProcess) -> None:
    name = unique()
    create(base, name)
    upload(rest, name, "p/ab", "cd.csv", "cd.csv.bk")
    upload(rest, name, "p", "ab.csv")
    files = requests.get(f"{base}/{name}/files").json()
    assert [f["name"] for f in files] == ["p/ab.csv", "p/ab/cd.csv", "p/ab/cd.csv.bk"]
    first = files[0]
    assert set(first) == {"name", "size", "md5", "last_modified"}
    assert first["size"] == str(len(b"content of ab.csv")) and first["md5"] is None
    sql = rest.query(f"LIST @{name}")
    assert [(f["name"], f["last_modified"]) for f in files] == [(r[0], r[3]) for r in sql]
    by_prefix = requests.get(f"{base}/{name}/files", params={"prefix": "p/ab/"}).json()
    assert [f["name"] for f in by_prefix] == ["p/ab/cd.csv", "p/ab/cd.csv.bk"]
    matched = requests.get(
        f"{base}/{name}/files", params={"prefix": "p/ab/", "pattern": "cd[.]csv"}
    ).json()
    assert [f["name"] for f in matched] == ["p/ab/cd.csv"]
    whole = requests.get(f"{base}/{name}/files", params={"pattern": ".*[.]bk"}).json()
    assert [f["name"] for f in whole] == ["p/ab/cd.csv.bk"]
    invalid = snowflake_error(requests.get(f"{base}/{name}/files", params={"pattern": "("}), 400)
    assert invalid["error_code"] == "SyntaxException"
    escape = snowflake_error(requests.get(f"{base}/{name}/files", params={"prefix": "../x"}), 400)
    assert "'..'" in escape["message"]
    snowflake_error(requests.get(f"{base}/{unique()}/files"), 404)
    upload(rest, "~", "mine", "u.txt")
    mine = requests.get(f"{base}/~/files", params={"prefix": "mine/"}).json()
    assert [f["name"] for f in mine] == ["mine/u.txt"]


def test_paging_with_link_headers(base: str, rest: ServerProcess) -> None:
    name = unique()
    create(base, name)
    upload(rest, name, "", *(f"f{i}.txt" for i in range(7)))
    url = f"{base}/{name}/files"
    first = requests.get(url, params={"pageSize": 2})
    assert [f["name"] for f in first.json()] == ["f0.txt", "f1.txt"]
    assert set(first.links) == {"first", "next", "last"}
    assert "page=4" in first.links["last"]["url"]
    names: list[str] = []
    page_url: str | None = url + "?pageSize=2"
    pages = 0
    while page_url:
        reply = requests.get(requests.compat.urljoin(url, page_url))
        names += [f["name"] for f in reply.json()]
        page_url = reply.links.get("next", {}).get("url")
        pages += 1
    assert names == [f"f{i}.txt" for i in range(7)] and pages == 4
    middle = requests.get(url, params={"pageSize": 2, "page": 2})
    assert set(middle.links) == {"first", "prev", "next", "last"}
    # the cap (--rest-page-size 3) lowers bigger pages
    capped = requests.get(url, params={"pageSize": 100})
    assert len(capped.json()) == 3 and "pageSize=100" in capped.links["next"]["url"]
    beyond = requests.get(url, params={"page": 9})
    assert beyond.json() == [] and set(beyond.links) == {"first", "last"}
    for bad in ({"page": "0"}, {"pageSize": "x"}, {"page": "-1"}):
        snowflake_error(requests.get(url, params=bad), 400)
    stages = requests.get(base, params={"pageSize": 1, "like": name})
    assert len(stages.json()) == 1 and set(stages.links) == {"first", "last"}


@pytest.mark.parametrize("value", ["0", "-1", "abc", "\u00b2", "1" * 5000, ""])
def test_bad_paging_parameters_are_400(base: str, value: str) -> None:
    """Not a whole number >= 1 ("²" passes str.isdigit but not int()): 400, never 500."""
    for name in ("page", "pageSize"):
        error = snowflake_error(requests.get(base, params={name: value}, timeout=30), 400)
        assert "must be a whole number" in error["message"], error


def test_presigned_urls(base: str, rest: ServerProcess) -> None:
    name = unique()
    create(base, name)
    put = requests.post(
        f"{base}/{name}/files/in/data.csv:presigned-url",
        json={"mode": "upload", "expiration_time": 60},
    )
    assert put.status_code == 200 and put.json()["method"] == "PUT"
    stored = requests.put(put.json()["presigned_url"], data=b"a,b\n1,2\n")
    assert stored.status_code == 200, stored.text
    assert [r[0] for r in rest.query(f"LIST @{name}")] == ["in/data.csv"]
    get = requests.post(f"{base}/{name}/files/in/data.csv:presigned-url")  # no body: download
    assert set(get.json()) == {"presigned_url", "method", "headers"}
    assert requests.get(get.json()["presigned_url"]).content == b"a,b\n1,2\n"
    spec_example = requests.post(
        f"{base}/{name}/files/in%2Fdata.csv:presigned-url",
        json={"mode": "download", "expiration_time": 0},
    )
    assert requests.get(spec_example.json()["presigned_url"]).content == b"a,b\n1,2\n"
    url = f"{base}/{name}/files/in/data.csv:presigned-url"
    for body, message in (
        ({"mode": "sideways"}, "upload or download"),
        ({"expiration_time": "soon"}, "whole number"),
        ({"expiration_time": 10**9}, "EXPIRE must be between"),
    ):
        assert message in snowflake_error(requests.post(url, json=body), 400)["message"]
    snowflake_error(requests.post(f"{base}/{name}/files/a%2F..%2Fb:presigned-url"), 400)
    snowflake_error(requests.post(f"{base}/{unique()}/files/x.csv:presigned-url"), 404)
    snowflake_error(requests.get(url), 405)


def test_namespace(rest: ServerProcess) -> None:
    name = unique()
    for database, schema in (("STAGEDB", "Public"), ('"stagedb"', '"public"')):
        url = f"{rest.http_url}/api/v2/databases/{database}/schemas/{schema}/stages"
        assert requests.get(url).status_code == 200
    for database, schema in (("other", "public"), ("stagedb", "other"), ('"STAGEDB"', "public")):
        url = f"{rest.http_url}/api/v2/databases/{database}/schemas/{schema}/stages/{name}"
        error = snowflake_error(requests.get(url), 404)
        assert "stagedb serves database 'stagedb', schema 'public'" in error["message"]
    bad = f"{rest.http_url}/api/v2/databases/a-b/schemas/public/stages"
    assert "Invalid identifier 'a-b'" in snowflake_error(requests.get(bad), 400)["message"]


def test_routing_errors(base: str, rest: ServerProcess) -> None:
    wrong = requests.put(f"{base}/x")
    error = snowflake_error(wrong, 405)
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "DELETE"}
    assert "PUT is not allowed" in error["message"]
    snowflake_error(requests.patch(base), 405)
    missing = snowflake_error(requests.get(rest.http_url + "/api/v2/databases"), 404)
    assert "/openapi.json" in missing["message"]


def test_credentials_and_401(tmp_path: Path) -> None:
    proc = start_server(str(tmp_path / "data"), "--root-password", "s3cret")
    try:
        url = proc.http_url + SNOWFLAKE
        for auth in (None, ("root", "wrong"), ("nobody", "s3cret")):
            reply = requests.get(url, auth=auth)
            assert snowflake_error(reply, 401)["error_code"] == "AuthenticateFailure"
            assert "Bearer" in reply.headers["WWW-Authenticate"]
        assert "s3cret" not in requests.get(url).text
        assert requests.get(url, auth=("root", "s3cret")).status_code == 200
        odd = requests.get(url, headers={"Authorization": "Digest abc"})
        assert "Basic or Bearer" in snowflake_error(odd, 401)["message"]
    finally:
        proc.stop()


def test_rate_limit_429(tmp_path: Path) -> None:
    proc = start_server(str(tmp_path / "data"), "--rest-rate-limit", "2")
    try:
        url = proc.http_url + SNOWFLAKE
        statuses = [requests.get(url).status_code for _ in range(6)]
        assert statuses[:2] == [200, 200] and 429 in statuses, statuses
        limited = requests.get(url)
        error = snowflake_error(limited, 429)
        assert error["error_code"] == "TooManyRequests" and int(limited.headers["Retry-After"]) >= 1
        time.sleep(1.1)
        assert requests.get(url).status_code == 200
        # other endpoints are not limited
        assert requests.get(proc.http_url + "/v1/health").status_code == 200
    finally:
        proc.stop()


def test_configured_namespace_with_curl(tmp_path: Path) -> None:
    proc = start_server(str(tmp_path / "data"), "--rest-database", "lake", "--rest-schema", "raw")
    try:
        url = f"{proc.http_url}/api/v2/databases/lake/schemas/raw/stages"
        created = subprocess.run(
            ["curl", "-sS", "-u", "root:", "-X", "POST", url,
             "-H", "Content-Type: application/json", "-d", '{"name": "from_curl"}'],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert created.stdout == '{"status":"Request successfully completed"}'
        assert [s["name"] for s in requests.get(url).json()] == ["from_curl"]
        old = requests.get(proc.http_url + SNOWFLAKE)
        assert "serves database 'lake', schema 'raw'" in snowflake_error(old, 404)["message"]
    finally:
        proc.stop()


# -- S3 stages (moto) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


def test_s3_stage_over_rest(moto: MotoS3, tmp_path: Path) -> None:
    moto.reset()
    s3 = moto.client()
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="in/a.csv", Body=b"1,2\n")
    proc = start_server(str(tmp_path / "data"), env=AWS_ENV)
    try:
        base = proc.http_url + SNOWFLAKE
        create(
            base,
            "ext",
            url="s3://lake/in/",
            endpoint=moto.endpoint,
            credentials={"credential_type": "AWS", "aws_key_id": ACCESS_KEY,
                         "aws_secret_key": SECRET_KEY},
        )  # fmt: skip
        reply = requests.get(f"{base}/ext")
        stage = reply.json()
        assert SECRET_KEY not in reply.text and "credentials" not in stage
        assert stage["cloud"] == "AWS" and stage["region"] == "us-east-1"
        assert stage["endpoint"] == moto.endpoint and stage["has_credentials"] is True
        assert stage["url"] == "s3://lake/in/"
        files = requests.get(f"{base}/ext/files").json()
        assert [(f["name"], f["size"]) for f in files] == [("a.csv", "4")]
        assert files[0]["md5"].startswith('"')
        put = requests.post(f"{base}/ext/files/b.csv:presigned-url", json={"mode": "upload"})
        assert put.json()["presigned_url"].startswith(moto.endpoint)
        assert requests.put(put.json()["presigned_url"], data=b"3,4\n").status_code == 200
        assert s3.get_object(Bucket="lake", Key="in/b.csv")["Body"].read() == b"3,4\n"
        unreachable = requests.post(
            base,
            json={"name": "nobucket", "url": "s3://no-such-bucket/", "endpoint": moto.endpoint,
                  "credentials": {"aws_key_id": ACCESS_KEY, "aws_secret_key": SECRET_KEY}},
        )  # fmt: skip
        assert "refused" in snowflake_error(unreachable, 400)["message"]
        assert SECRET_KEY not in unreachable.text
    finally:
        proc.stop()


def test_a_json_body_arriving_in_pieces(base: str, rest: ServerProcess) -> None:
    name = unique()
    body = json.dumps({"name": name, "comment": "x" * 5000}).encode()
    path = SNOWFLAKE
    with socket.create_connection((rest.host, rest.http_port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert requests.get(f"{base}/{name}").json()["comment"] == "x" * 5000
    too_big = requests.post(base, data=b" " * (1024 * 1024 + 1))
    assert "larger than" in snowflake_error(too_big, 400)["message"]
