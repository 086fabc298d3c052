"""The catalog under concurrency and crashes: one winner per race, nothing corrupt."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import fsspec
import pymysql
import pytest
from conftest import ServerProcess, start_server
from testtools import exclusive_create_winners

from stagedb.catalog import commit
from stagedb.catalog.freshness import RACY_NS, DirectoryVersion, Snapshot


def race(servers: list[ServerProcess], sql: str, clients: int = 20) -> list[int | None]:
    """Run ``sql`` on ``clients`` connections released at once; errno per client (None: ok)."""
    connections = [servers[i % len(servers)].connect() for i in range(clients)]
    barrier = threading.Barrier(clients)
    outcomes: list[int | None] = [None] * clients

    def run(index: int) -> None:
        with connections[index].cursor() as cur:
            barrier.wait()
            try:
                cur.execute(sql)
            except pymysql.MySQLError as error:
                outcomes[index] = error.args[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for conn in connections:
        conn.close()
    return outcomes


def test_twenty_connections_racing_create_one_wins(server: ServerProcess) -> None:
    outcomes = race([server], "CREATE STAGE x")
    assert outcomes.count(None) == 1
    assert outcomes.count(1050) == 19


def test_two_processes_on_one_data_dir_one_wins(data_dir: Path) -> None:
    first, second = start_server(str(data_dir)), start_server(str(data_dir))
    try:
        for round_ in range(3):
            outcomes = race([first, second], f"CREATE STAGE race{round_}")
            assert outcomes.count(None) == 1, outcomes
            assert outcomes.count(1050) == 19
        assert [r[0] for r in first.query("SHOW STAGES")] == ["race0", "race1", "race2"]
    finally:
        first.stop()
        second.stop()


def test_changes_are_visible_in_the_other_process_at_once(data_dir: Path) -> None:
    first, second = start_server(str(data_dir)), start_server(str(data_dir))
    try:
        with first.connect() as a, second.connect() as b, a.cursor() as ca, b.cursor() as cb:
            for i in range(30):  # faster than the file-system clock ticks
                ca.execute(f"CREATE STAGE v{i} COMMENT = 'round {i}'")
                cb.execute(f"DESC STAGE v{i}")
                assert cb.fetchone()[11] == f"round {i}"  # type: ignore[index]
                cb.execute(f"CREATE OR REPLACE STAGE v{i} COMMENT = 'again {i}'")
                ca.execute(f"SHOW STAGES LIKE 'v{i}'")
                assert ca.fetchone()[11] == f"again {i}"  # type: ignore[index]
                cb.execute(f"DROP STAGE v{i}")
                ca.execute(f"DESC STAGE v{i}")
                assert ca.fetchall() == ()
    finally:
        first.stop()
        second.stop()


def test_racing_drops_one_wins(server: ServerProcess) -> None:
    server.query("CREATE STAGE gone")
    outcomes = race([server], "DROP STAGE gone", clients=10)
    assert outcomes.count(None) == 1
    assert outcomes.count(1051) == 9


def test_kill_during_catalog_churn_leaves_a_readable_catalog(data_dir: Path) -> None:
    victim = start_server(str(data_dir))
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn(worker: int) -> None:
        try:
            with victim.connect() as conn, conn.cursor() as cur:
                i = 0
                while not stop.is_set():
                    cur.execute(
                        f"CREATE OR REPLACE STAGE churn{worker} COMMENT = '{'x' * 2000}{i}'"
                    )
                    cur.execute(f"DROP STAGE IF EXISTS churn{(worker + 1) % 4}")
                    i += 1
        except pymysql.MySQLError as error:
            errors.append(error)  # the connection dies with the server

    threads = [threading.Thread(target=churn, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    threading.Event().wait(1.5)
    os.kill(victim.process.pid, signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join()
    victim.process.wait()

    survivor = start_server(str(data_dir))
    try:
        rows = survivor.query("SHOW STAGES")
        for row in rows:
            assert str(row[0]).startswith("churn")
            assert str(row[11]).startswith("x" * 2000)
        survivor.query("CREATE STAGE after_crash")
        assert "after_crash" in [r[0] for r in survivor.query("SHOW STAGES")]
    finally:
        survivor.stop()


def test_leftover_temporary_files_are_ignored(data_dir: Path) -> None:
    stages = data_dir / "catalog" / "stages"
    stages.mkdir(parents=True)
    (stages / ".stagedb-tmp-0123-half.json").write_text('{"name": "half", "stage_')
    server = start_server(str(data_dir))
    try:
        assert server.query("SHOW STAGES") == []
        server.query("CREATE STAGE half")
        assert [r[0] for r in server.query("SHOW STAGES")] == ["half"]
    finally:
        server.stop()


def test_a_corrupt_record_is_reported_not_guessed(server: ServerProcess, data_dir: Path) -> None:
    server.query("CREATE STAGE fine")
    (data_dir / "catalog" / "stages" / "broken.json").write_text("{not json")
    with pytest.raises(pymysql.MySQLError) as caught:
        server.query("SHOW STAGES")
    assert "broken.json" in caught.value.args[1]
    assert "CatalogCorrupt" in caught.value.args[1]


@pytest.mark.parametrize("url", ["local", "memory"])
def test_create_exclusive_has_exactly_one_winner(url: str, tmp_path: Path) -> None:
    if url == "local":
        fs, root = fsspec.filesystem("file"), str(tmp_path)
    else:
        fs, root = fsspec.filesystem("memory"), f"/race-{os.getpid()}"
    target = f"{root}/catalog/record.json"
    winners = exclusive_create_winners(fs, target)
    assert len(winners) == 1
    assert fs.cat_file(target) == f'{{"writer": {winners[0]}}}'.encode()


def test_replace_never_shows_a_partial_file(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    target = f"{tmp_path}/record.json"
    versions = [bytes([65 + i]) * 1_000_000 for i in range(5)]
    commit.replace(fs, target, versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(fs.cat_file(target))

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(10):
        for version in versions:
            commit.replace(fs, target, version)
    done.set()
    reader.join()
    assert seen <= set(versions)
    assert not [p for p in os.listdir(tmp_path) if p != "record.json"]


def test_directory_version_distrusts_racy_snapshots(tmp_path: Path) -> None:
    version = DirectoryVersion(str(tmp_path))
    os.utime(tmp_path, ns=(1_000_000_000, 1_000_000_000))  # an mtime long past
    mtime = version.current()
    assert mtime == 1_000_000_000
    assert not version.still_current(Snapshot({}, mtime, mtime + RACY_NS // 2))
    assert version.still_current(Snapshot({}, mtime, mtime + RACY_NS + 1))
    (tmp_path / "new").write_text("x")
    assert not version.still_current(Snapshot({}, mtime, mtime + RACY_NS + 1))
    assert DirectoryVersion(str(tmp_path / "missing")).current() == -1
