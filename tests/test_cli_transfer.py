"""``stagedb upload`` and ``stagedb download`` against a live server: plain lines without a
terminal, a progress bar on one (a pty)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServerProcess, start_server
from resttools import unique

STAGEDB = [sys.executable, "-m", "stagedb"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(str(tmp_path_factory.mktemp("data")), "--root-password", "pw")
    try:
        yield proc
    finally:
        proc.stop()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STAGEDB, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def folder(root: Path, count: int = 9) -> dict[str, bytes]:
    made = {}
    for index in range(count):
        relative = f"d{index % 2}/f{index}.csv"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        made[relative] = f"{index},x\n".encode() * (index + 1)
        (root / relative).write_bytes(made[relative])
    return made


def test_upload_and_download_print_plain_lines(live: ServerProcess, tmp_path: Path) -> None:
    stage = unique()
    with live.connect(password="pw") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE STAGE {stage}")
    made = folder(tmp_path / "src")
    auth = ["--url", live.http_url, "-u", "root", "-p", "pw"]
    up = run("upload", str(tmp_path / "src"), f"@{stage}/in/", *auth)
    assert up.returncode == 0, up.stderr
    lines = up.stdout.splitlines()
    assert sorted(lines[:-1]) == sorted(
        f"uploaded in/{p} ({len(c)} bytes)" for p, c in made.items()
    )
    total = sum(len(c) for c in made.values())
    assert re.fullmatch(
        rf"uploaded {len(made)} files, {total} bytes in [0-9.]+ s \(\d+ files/s\)", lines[-1]
    )
    with live.connect(password="pw") as conn, conn.cursor() as cur:
        cur.execute(f"LIST @{stage}")
        assert sorted(r[0] for r in cur.fetchall()) == sorted(f"in/{p}" for p in made)
    down = run("download", f"@{stage}/in/d1/", str(tmp_path / "out"), *auth)
    assert down.returncode == 0, down.stderr
    wanted = {p: c for p, c in made.items() if p.startswith("d1/")}
    assert len(down.stdout.splitlines()) == len(wanted) + 1
    for relative, content in wanted.items():
        assert (tmp_path / "out" / relative.removeprefix("d1/")).read_bytes() == content
    # a token in the environment instead of a password
    with live.connect(password="pw") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TOKEN {unique('t')}")
        token = cur.fetchone()[1]
    single = run(
        "upload", str(tmp_path / "src" / "d0" / "f0.csv"), f"@{stage}", "--url", live.http_url,
        env={"STAGEDB_TOKEN": token},
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    assert single.stdout.splitlines()[0] == f"uploaded f0.csv ({len(made['d0/f0.csv'])} bytes)"


def test_errors(live: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    auth = ["--url", live.http_url, "-p", "pw"]
    unknown = run("upload", str(tmp_path / "a.txt"), "@nope/x/", *auth)
    assert unknown.returncode == 1 and "Stage 'nope' does not exist" in unknown.stderr
    wrong = run("upload", str(tmp_path / "a.txt"), "@nope/x/", "--url", live.http_url, "-p", "x")
    assert wrong.returncode == 1 and "Wrong user name or password" in wrong.stderr
    not_location = run("upload", str(tmp_path / "a.txt"), "nope/x/", *auth)
    assert not_location.returncode == 2 and "is not a stage location" in not_location.stderr
    missing = run("upload", str(tmp_path / "missing"), "@s/", *auth)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    down = run("download", "@nope/", str(tmp_path / "out"), *auth)
    assert down.returncode == 1 and "does not exist" in down.stderr
    refused = run("upload", str(tmp_path / "a.txt"), "@s/", "--url", "http://127.0.0.1:9")
    assert refused.returncode == 1 and "127.0.0.1:9" in refused.stderr


def test_progress_bar_on_a_terminal(live: ServerProcess, tmp_path: Path) -> None:
    stage = unique()
    with live.connect(password="pw") as conn, conn.cursor() as cur:
        cur.execute(f"CREATE STAGE {stage}")
    made = folder(tmp_path / "src", count=40)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*STAGEDB, "upload", str(tmp_path / "src"), f"@{stage}/", "--url", live.http_url,
         "-p", "pw", "--parallel", "2", "--batch-files", "1"],
        stdin=follower, stdout=follower, stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = output.decode("utf-8", "replace")
    assert "Uploaded" in text and f"{len(made)}/{len(made)} files" in text
    assert "100%" in text
    assert "uploaded d0/f0.csv (" not in text  # no per-file lines under a bar
    assert re.search(rf"uploaded {len(made)} files, \d+ bytes", text)
