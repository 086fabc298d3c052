"""Races the catalog must win: a DROP USER meeting DROP STAGEs, a CREATE USER meeting the new
user's first uploads, concurrent CREATE OR REPLACE, abandoned query results, and CONVERT_TZ
at each row's own instant."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fsspec
import mysql.connector
import pytest
from accesstools import login_fails, run, sql_error, upload
from conftest import ServerProcess, start_server
from s3fixtures import MotoS3
from testtools import internal_stage_dir, wait_until

from stagedb.catalog.records import StageRecord, StageType
from stagedb.catalog.stages import StageCatalog
from stagedb.storage import s3
from stagedb.storage.filesystems import DataRoot

ROOT = ("root", "")
BOB = ("bob", "bob-Pa55word")


def stage_owners(server: ServerProcess) -> dict[str, str]:
    """SHOW STAGES as {name: owner}."""
    return {str(row[0]): str(row[-1]) for row in run(server, *ROOT, "SHOW STAGES")}


# -- item: DROP USER hands stages to root from their current records ----------------------


def drop_user_while_dropping_stages(server: ServerProcess, stages: list[str]) -> None:
    """DROP USER bob on one connection while another drops ``stages`` one by one."""
    dropper = server.connect()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def drop_stages() -> None:
        try:
            with dropper.cursor() as cur:
                start.wait()
                for name in stages:
                    cur.execute(f"DROP STAGE {name}")
        except BaseException as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=drop_stages)
    thread.start()
    start.wait()
    run(server, *ROOT, "DROP USER bob")
    thread.join()
    dropper.close()
    assert errors == []


def test_drop_user_never_brings_back_a_stage_dropped_meanwhile(server: ServerProcess) -> None:
    names = [f"s{i:02d}" for i in range(60)]
    dropped = [name for i, name in enumerate(names) if i % 2][::-1]  # the last ones first
    for round_ in range(2):
        run(server, *ROOT, f"CREATE USER bob IDENTIFIED BY '{BOB[1]}'")
        run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO bob")
        with server.connect(user=BOB[0], password=BOB[1]) as conn, conn.cursor() as cur:
            for name in names:
                cur.execute(f"CREATE STAGE {name}")
        drop_user_while_dropping_stages(server, dropped)
        owners = stage_owners(server)
        assert sorted(owners) == sorted(set(names) - set(dropped)), f"round {round_}"
        assert set(owners.values()) == {"root"}
        for name in owners:
            run(server, *ROOT, f"DROP STAGE {name}")


# -- item: CREATE USER empties the user's stage before the user exists ---------------------


@contextlib.contextmanager
def serving(data_dir: Path, *flags: str) -> Iterator[ServerProcess]:
    """A server on ``data_dir`` started with ``flags``, stopped at the end."""
    proc = start_server(str(data_dir), *flags)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def unthrottled(data_dir: Path) -> Iterator[ServerProcess]:
    """A server whose failed logins are never throttled (the test hammers on purpose)."""
    with serving(data_dir, "--login-max-failures", "0") as proc:
        yield proc


def test_a_new_users_first_uploads_are_never_purged(
    unthrottled: ServerProcess, data_dir: Path
) -> None:
    server = unthrottled
    leftovers = data_dir / "stage" / "user" / "bob"
    for directory in range(40):  # an earlier bob's files, slow to delete
        (leftovers / f"old{directory}").mkdir(parents=True)
        for number in range(100):
            (leftovers / f"old{directory}" / f"{number}.txt").write_bytes(b"old")
    stop = threading.Event()
    kept: list[str] = []
    statuses: list[int] = []

    def hammer(worker: int) -> None:
        number = 0
        while not stop.is_set():
            name = f"new-{worker}-{number}.txt"
            number += 1
            status = upload(server, "~", BOB, name).status
            statuses.append(status)
            if status == 200:
                kept.append(name)

    workers = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    try:
        assert wait_until(lambda: len(statuses) >= 4)  # bob does not exist yet: refused
        assert set(statuses) == {401}
        run(server, *ROOT, f"CREATE USER bob IDENTIFIED BY '{BOB[1]}'")
        assert wait_until(lambda: len(kept) >= 20, timeout=30)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    listed = [str(row[0]) for row in run(server, *BOB, "LIST @~")]
    assert sorted(listed) == sorted(kept)  # every acknowledged upload, no leftover


def test_drop_user_of_an_interrupted_create_frees_the_name(
    server: ServerProcess, data_dir: Path
) -> None:
    run(server, *ROOT, f"CREATE USER bob IDENTIFIED BY '{BOB[1]}'")
    record = data_dir / "catalog" / "users" / "bob.json"
    pending = {**json.loads(record.read_text()), "pending": True}
    temporary = record.with_name(".interrupted")  # as a killed CREATE USER leaves it
    temporary.write_text(json.dumps(pending))
    os.replace(temporary, record)
    assert "bob" not in [row[0] for row in run(server, *ROOT, "SHOW USERS")]
    login_fails(server, *BOB)
    assert upload(server, "~", BOB).status == 401
    errno, message = sql_error(server, *ROOT, f"CREATE USER bob IDENTIFIED BY '{BOB[1]}'")
    assert errno == 1396 and "User 'bob'@'%' already exists" in message
    run(server, *ROOT, "DROP USER bob")
    assert not record.exists()
    run(server, *ROOT, f"CREATE USER bob IDENTIFIED BY '{BOB[1]}'")
    assert upload(server, "~", BOB).status == 200


# -- item: CREATE OR REPLACE returns the record it really replaced -------------------------


def replace_chain(catalog: StageCatalog, writers: int = 16) -> None:
    """Race ``writers`` replaces of one stage; every record written is returned as replaced
    exactly once (by the write that followed it), the first record too, the last never."""
    first = StageRecord(name="raced", stage_type=StageType.INTERNAL, comment="first")
    written = [
        StageRecord(name="raced", stage_type=StageType.INTERNAL, comment=f"writer {i}")
        for i in range(writers)
    ]

    async def race() -> list[StageRecord | None]:
        assert await catalog.replace(first) is None
        return list(await asyncio.gather(*(catalog.replace(record) for record in written)))

    replaced = asyncio.run(race())
    last = asyncio.run(catalog.get("raced"))
    assert last is not None and last in written
    comments = sorted(record.comment or "" for record in replaced if record is not None)
    expected = sorted(r.comment or "" for r in [first, *written] if r != last)
    assert comments == expected


@pytest.mark.parametrize("url", ["local", "memory"])
def test_replace_returns_the_record_it_replaced(url: str, tmp_path: Path) -> None:
    root = DataRoot(str(tmp_path) if url == "local" else f"memory://replace-{os.getpid()}")
    for _ in range(3):
        replace_chain(StageCatalog(root))
        asyncio.run(StageCatalog(root).drop("raced"))


def test_replace_on_s3_returns_the_record_it_replaced(moto_s3: MotoS3) -> None:
    moto_s3.client().create_bucket(Bucket="races")
    options = {"endpoint_url": moto_s3.endpoint, "key": "testing", "secret": "testing"}
    root = DataRoot("s3://races/data", options)
    replace_chain(StageCatalog(root), writers=8)
    fs: Any = fsspec.filesystem("s3", **s3.s3fs_options(options))
    assert fs.cat_file("races/data/catalog/stages/raced.json")  # a whole record


def assert_update_keeps_a_dropped_stage_dropped(catalog: StageCatalog) -> None:
    record = StageRecord(name="gone", stage_type=StageType.INTERNAL, owner="bob")

    async def scenario() -> tuple[StageRecord | None, StageRecord | None]:
        await catalog.create(record)
        assert await catalog.update("gone", lambda current: None) is None  # left as it is
        handed = await catalog.update("gone", lambda current: replace(current, owner="root"))
        assert await catalog.drop("gone") == handed
        return handed, await catalog.update("gone", lambda current: current)

    handed, after_drop = asyncio.run(scenario())
    assert handed == replace(record, owner="root")
    assert after_drop is None
    assert asyncio.run(catalog.get("gone")) is None


def test_update_never_brings_back_a_dropped_stage(tmp_path: Path, moto_s3: MotoS3) -> None:
    assert_update_keeps_a_dropped_stage_dropped(StageCatalog(DataRoot(str(tmp_path))))
    moto_s3.client().create_bucket(Bucket="updates")
    options = {"endpoint_url": moto_s3.endpoint, "key": "testing", "secret": "testing"}
    assert_update_keeps_a_dropped_stage_dropped(StageCatalog(DataRoot("s3://updates/d", options)))


# -- item: an abandoned query result releases its DuckDB cursor ----------------------------

_CURSORS = re.compile(r"query cursor (?:opened|closed) \((\d+) open\)")


def open_cursors(server: ServerProcess) -> int | None:
    """How many DuckDB cursors the server has open, from its last debug line about them."""
    counts = [m.group(1) for line in list(server.output) if (m := _CURSORS.search(line))]
    return int(counts[-1]) if counts else None


@pytest.fixture
def debug_server(data_dir: Path) -> Iterator[ServerProcess]:
    """A server logging at DEBUG (its cursor lines say how many are open)."""
    with serving(data_dir, "--log-level", "DEBUG") as proc:
        yield proc


def test_abandoned_results_release_their_cursor(debug_server: ServerProcess) -> None:
    server = debug_server
    run(server, *ROOT, "CREATE STAGE big")
    files = internal_stage_dir(Path(server.data), "big")
    files.mkdir(parents=True, exist_ok=True)
    for number in range(3000):
        (files / f"{number:05d}.txt").write_bytes(b"x")
    query = "SELECT name, size, REPEAT(name, 300) AS wide FROM stagedb.big ORDER BY name"
    for _ in range(3):  # binary protocol: the client leaves after one row of megabytes
        conn = mysql.connector.connect(
            host=server.host, port=server.mysql_port, user="root", password="",
            use_pure=True, ssl_disabled=True,
        )  # fmt: skip
        cur = conn.cursor(prepared=True)
        cur.execute(query)
        assert cur.fetchone() == ("00000.txt", 1, "00000.txt" * 300)
        conn._socket.shutdown()  # vanish mid-result, no COM_QUIT
    with server.connect() as conn, conn.cursor() as cur:  # a failing query
        with pytest.raises(Exception) as failed:
            cur.execute("SELECT CAST(name AS INTEGER) FROM stagedb.big")
        assert "Conversion Error" in str(failed.value) or "Could not convert" in str(failed.value)
        cur.execute("SELECT COUNT(*) FROM stagedb.big")  # the server still answers
        assert cur.fetchall() == ((3000,),)
    assert wait_until(lambda: open_cursors(server) == 0, timeout=20), open_cursors(server)


# -- item: CONVERT_TZ with a named zone uses the offset at the row's instant ---------------


def test_convert_tz_uses_each_rows_own_offset(server: ServerProcess) -> None:
    stamps = ["2024-01-15 12:00:00", "2024-07-15 12:00:00", "2024-03-31 01:30:00"]
    rows = " UNION ALL ".join(f"SELECT {i} AS n, '{s}' AS t" for i, s in enumerate(stamps))
    got = run(
        server, *ROOT,
        "SELECT n, CONVERT_TZ(t, 'Europe/Paris', 'UTC'), CONVERT_TZ(t, '+00:00', 'Europe/Paris'), "
        "CONVERT_TZ(t, 'Europe/Paris', 'America/New_York'), "
        "CONVERT_TZ(t, 'Asia/Kolkata', '-02:00')"
        f" FROM ({rows}) AS x ORDER BY n",
    )  # fmt: skip

    def converted(stamp: str, source: tzinfo, target: tzinfo) -> datetime:
        moment = datetime.fromisoformat(stamp).replace(tzinfo=source)
        return moment.astimezone(target).replace(tzinfo=None)

    paris, new_york = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
    kolkata, minus_two = ZoneInfo("Asia/Kolkata"), timezone(timedelta(hours=-2))
    expected = [
        (i, converted(s, paris, UTC), converted(s, UTC, paris),
         converted(s, paris, new_york), converted(s, kolkata, minus_two))
        for i, s in enumerate(stamps)
    ]  # fmt: skip
    assert expected[0][1].hour != expected[1][1].hour  # winter and summer time differ
    assert got == expected
    _, message = sql_error(
        server, *ROOT, "SELECT CONVERT_TZ('2024-07-15 12:00:00', 'Nowhere/Zone', 'UTC')"
    )
    assert "Unknown TimeZone 'Nowhere/Zone'" in message
