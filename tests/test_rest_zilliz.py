"""The Zilliz-style stage endpoints on a live server: the seed's curl commands and errors."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import ServerProcess, start_server
from resttools import unique, zilliz_error


@pytest.fixture(scope="module")
def zilliz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(str(tmp_path_factory.mktemp("data")), "--rest-page-size", "4")
    try:
        yield proc
    finally:
        proc.stop()


def curl_json(*args: str) -> object:
    """Run real curl and parse its JSON output."""
    result = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_seed_003_commands(tmp_path: Path) -> None:
    """Seed 003's three curl commands, as written (with a token from CREATE TOKEN)."""
    proc = start_server(str(tmp_path / "data"))
    try:
        token = proc.query("CREATE TOKEN zilliz")[0][1]
        base = proc.http_url
        auth = ["--header", f"Authorization: Bearer {token}",
                "--header", "Content-Type: application/json"]  # fmt: skip
        created = curl_json(
            "--request", "POST", "--url", f"{base}/v2/stages/create", *auth,
            "-d", '{\n    "projectId": "proj-xxxxxxxxxxxxxxxxxxxxxxx",\n'
                  '    "regionId": "aws-us-west-1",\n    "stageName": "my_stage"\n}',
        )  # fmt: skip
        assert created == {"code": 0, "data": {"stageName": "my_stage"}}
        listed = curl_json(
            "--request", "GET", "--url", f"{base}/v2/stages?projectId=proj-xxxxxxxxxxxxxxxxx", *auth
        )  # fmt: skip
        assert listed == {
            "code": 0,
            "data": {"count": 1, "currentPage": 1, "pageSize": 10,
                     "stages": [{"stageName": "my_stage"}]},
        }  # fmt: skip
        deleted = curl_json("--request", "DELETE", "--url", f"{base}/v2/stages/my_stage", *auth)
        assert deleted == {"code": 0, "data": {"stageName": "my_stage"}}
        assert proc.query("SHOW STAGES") == []
    finally:
        proc.stop()


def test_create_list_delete_and_paging(zilliz: ServerProcess) -> None:
    url = zilliz.http_url + "/v2/stages"
    prefix = unique("z")
    names = [f"{prefix}_{i}" for i in range(6)]
    for name in names:
        reply = requests.post(url + "/create", json={"stageName": name, "projectId": "ignored"})
        assert reply.status_code == 200 and reply.json() == {"code": 0, "data": {"stageName": name}}
    everything: list[str] = []
    page = 1
    while True:
        data = requests.get(url, params={"currentPage": page, "pageSize": 4}).json()["data"]
        assert data["currentPage"] == page and data["pageSize"] == 4
        if not data["stages"]:
            break
        everything += [s["stageName"] for s in data["stages"]]
        page += 1
    assert [n for n in everything if n.startswith(prefix)] == names
    assert data["count"] == len(everything)
    capped = requests.get(url, params={"pageSize": 1000}).json()["data"]
    assert capped["pageSize"] == 4 and len(capped["stages"]) == 4
    for name in names:
        assert requests.delete(f"{url}/{name}").json() == {"code": 0, "data": {"stageName": name}}
    assert all(not r[0].startswith(prefix) for r in zilliz.query("SHOW STAGES"))


def test_failures_are_http_200_with_a_code(zilliz: ServerProcess) -> None:
    url = zilliz.http_url + "/v2/stages"
    name = unique("z")
    assert requests.post(url + "/create", json={"stageName": name}).json()["code"] == 0
    taken = zilliz_error(requests.post(url + "/create", json={"stageName": name}))
    assert taken["code"] == 2502 and "already exists" in taken["message"]
    missing = zilliz_error(requests.delete(f"{url}/{unique('z')}"))
    assert missing["code"] == 2501
    assert zilliz_error(requests.post(url + "/create", json={}))["code"] == 1006
    assert zilliz_error(requests.post(url + "/create", data=b"{oops"))["code"] == 1006
    bad_name = zilliz_error(requests.post(url + "/create", json={"stageName": "a b"}))
    assert "Invalid stage name" in bad_name["message"]
    wrong_type = zilliz_error(requests.post(url + "/create", json={"stageName": 1}))
    assert "must be a string" in wrong_type["message"]
    assert zilliz_error(requests.post(url + "/create", json={"stageName": "x", "projectId": 3}))
    assert zilliz_error(requests.get(url, params={"currentPage": "0"}))["code"] == 1006
    assert zilliz_error(requests.get(url, params={"pageSize": "ten"}))["code"] == 1006
    assert zilliz_error(requests.delete(f"{url}/~"))["code"] == 2506
    # routing errors keep their HTTP status, with the envelope
    assert zilliz_error(requests.put(url), 405)["code"] != 0
    assert zilliz_error(requests.get(url + "/create/more"), 404)["code"] != 0


def test_authentication_and_rate_limit(tmp_path: Path) -> None:
    proc = start_server(str(tmp_path / "data"), "--root-password", "pw", "--rest-rate-limit", "3")
    try:
        url = proc.http_url + "/v2/stages"
        assert zilliz_error(requests.get(url))["code"] == 2201
        assert zilliz_error(requests.get(url, auth=("root", "nope")))["code"] == 2201
        bad_token = requests.get(url, headers={"Authorization": "Bearer nope"})
        assert zilliz_error(bad_token)["code"] == 2201
        statuses = [requests.get(url, auth=("root", "pw")).status_code for _ in range(8)]
        assert 429 in statuses, statuses
        limited = requests.get(url, auth=("root", "pw"))
        assert zilliz_error(limited, 429)["code"] == 2533
        assert "Retry-After" in limited.headers
        time.sleep(1.1)
        assert requests.get(url, auth=("root", "pw")).json()["code"] == 0
    finally:
        proc.stop()
