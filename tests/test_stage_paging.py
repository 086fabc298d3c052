"""Pages of stages over the REST APIs, on a local and an S3 data root: the same stages, in
the same order, as SHOW STAGES, with the right counts, for root and for other users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from accesstools import run
from conftest import ServerProcess, start_server
from resttools import SNOWFLAKE
from s3fixtures import AWS_ENV, MotoS3

ROOT = ("root", "")
BOB = ("bob", "Bob-Pages-31c9")
STAGES = ["a", "a$b", "a_0", "b1", "data_x", "data_y", "data_z", "z"]
"""Name order differs from the order of the catalog's file names for 'a$b' ('$' < '.')."""
BOBS = ["a_0", "data_y", "z"]
"""The stages bob sees: one he owns, two granted."""


@pytest.fixture(params=["local", "s3"])
def paged_server(
    request: pytest.FixtureRequest, tmp_path: Path, moto_s3: MotoS3
) -> Iterator[ServerProcess]:
    """A server (local or S3 data root, REST pages of at most 3) holding STAGES."""
    if request.param == "s3":
        moto_s3.reset()
        moto_s3.client().create_bucket(Bucket="pages")
        server = start_server("s3://pages/root", *moto_s3.storage_flags(), "--rest-page-size", "3",
                              env=AWS_ENV)  # fmt: skip
    else:
        server = start_server(str(tmp_path / "data"), "--rest-page-size", "3")
    try:
        run(server, *ROOT, f"CREATE USER bob IDENTIFIED BY '{BOB[1]}'")
        run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO bob")
        for name in STAGES:
            owner = BOB if name == "a_0" else ROOT
            run(server, *owner, f"CREATE STAGE `{name}` COMMENT = 'stage {name}'")
        run(server, *ROOT, "GRANT READ ON STAGE data_y TO bob")
        run(server, *ROOT, "GRANT WRITE ON STAGE z TO bob")
        yield server
    finally:
        server.stop()


def snowflake_pages(
    server: ServerProcess, auth: tuple[str, str], **params: Any
) -> tuple[list[dict[str, Any]], int, str]:
    """Every stage the Snowflake API lists, following ``next``; the number of pages and
    the first page's ``last`` link."""
    url = server.http_url + SNOWFLAKE
    reply = requests.get(url, params=params, auth=auth, timeout=30)
    last = reply.links["last"]["url"]
    stages: list[dict[str, Any]] = []
    pages = 0
    while True:
        assert reply.status_code == 200, reply.text
        stages += reply.json()
        pages += 1
        following = reply.links.get("next", {}).get("url")
        if following is None:
            return stages, pages, last
        reply = requests.get(requests.compat.urljoin(url, following), auth=auth, timeout=30)


def zilliz_pages(server: ServerProcess, auth: tuple[str, str], size: int) -> tuple[list[str], int]:
    """Every stage name the Zilliz API lists, page by page, and the count it gives."""
    names: list[str] = []
    page = 1
    while True:
        params = {"currentPage": page, "pageSize": size}
        reply = requests.get(server.http_url + "/v2/stages", params=params, auth=auth, timeout=30)
        data = reply.json()["data"]
        if not data["stages"]:
            return names, data["count"]
        assert len(data["stages"]) <= size
        names += [stage["stageName"] for stage in data["stages"]]
        page += 1


def test_pages_hold_show_stages_in_order(paged_server: ServerProcess) -> None:
    shown = [row[0] for row in run(paged_server, *ROOT, "SHOW STAGES")]
    assert shown == STAGES
    stages, pages, last = snowflake_pages(paged_server, ROOT, pageSize=3)
    assert [s["name"] for s in stages] == STAGES and pages == 3 and "page=3" in last
    assert stages[0]["comment"] == "stage a" and stages[2]["owner"] == "bob"
    assert zilliz_pages(paged_server, ROOT, 3) == (STAGES, len(STAGES))
    assert zilliz_pages(paged_server, ROOT, 100) == (STAGES, len(STAGES))  # capped at 3


def test_like_pages_count_only_matching_stages(paged_server: ServerProcess) -> None:
    stages, pages, last = snowflake_pages(paged_server, ROOT, pageSize=2, like="DATA%")
    assert [s["name"] for s in stages] == ["data_x", "data_y", "data_z"]
    assert pages == 2 and "page=2" in last
    stages, pages, _ = snowflake_pages(paged_server, ROOT, like="nothing%")
    assert stages == [] and pages == 1


def test_a_user_pages_through_the_stages_they_see(paged_server: ServerProcess) -> None:
    assert [row[0] for row in run(paged_server, *BOB, "SHOW STAGES")] == BOBS
    stages, pages, last = snowflake_pages(paged_server, BOB, pageSize=2)
    assert [s["name"] for s in stages] == BOBS and pages == 2 and "page=2" in last
    assert zilliz_pages(paged_server, BOB, 2) == (BOBS, len(BOBS))
    stages, _, _ = snowflake_pages(paged_server, BOB, like="data%")
    assert [s["name"] for s in stages] == ["data_y"]


def test_pages_see_changes_at_once(paged_server: ServerProcess) -> None:
    run(paged_server, *ROOT, "CREATE STAGE b0")
    run(paged_server, *ROOT, "DROP STAGE data_x")
    expected = sorted([*STAGES, "b0"])
    expected.remove("data_x")
    stages, _, _ = snowflake_pages(paged_server, ROOT, pageSize=3)
    assert [s["name"] for s in stages] == expected
    assert zilliz_pages(paged_server, ROOT, 3) == (expected, len(expected))
