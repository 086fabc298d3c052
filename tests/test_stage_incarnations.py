"""Each incarnation of an internal stage keeps its files in a directory of its own.

An upload that resolved a stage before it was dropped or replaced finishes
into the old incarnation's directory: it must never show in the stage
created next under the same name, and the server sweeps such directories
away when it starts (stagedb/orphans.py).
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

import pytest
from conftest import ServerProcess, start_server
from test_presign import presign
from testtools import internal_stage_dir, stored_files, temp_files, wait_until

from stagedb.catalog.records import StageRecord, StageType

MIB = 1024 * 1024


def _names(server: ServerProcess, stage: str) -> list[str]:
    return [str(row[0]) for row in server.query(f"LIST @{stage}")]


@pytest.mark.parametrize(
    "statements",
    [["DROP STAGE s", "CREATE STAGE s"], ["CREATE OR REPLACE STAGE s"]],
    ids=["drop-create", "create-or-replace"],
)
def test_upload_that_ends_after_the_stage_is_gone_never_shows_in_the_next(
    server: ServerProcess, data_dir: Path, statements: list[str]
) -> None:
    server.query("CREATE STAGE s")
    old_dir = internal_stage_dir(data_dir, "s")
    url = urllib.parse.urlsplit(presign(server, "PRESIGN UPLOAD @s/late.bin").url)
    body = os.urandom(6 * MIB)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: t\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:MIB]
        )
        assert wait_until(lambda: temp_files(old_dir))  # the upload is writing
        for statement in statements:
            server.query(statement)
        sock.sendall(body[MIB:])
        reply = sock.recv(65536)
    # The purge deleted the file being written: the upload fails, and says why.
    assert reply.startswith(b"HTTP/1.1 409"), reply[:200]
    assert b"its stage was dropped or replaced meanwhile" in reply
    new_dir = internal_stage_dir(data_dir, "s")
    assert new_dir != old_dir
    assert _names(server, "s") == []
    assert stored_files(new_dir) == []
    assert "Traceback" not in "".join(server.output)


def test_upload_resolved_before_a_drop_lands_out_of_sight_and_is_swept(
    server: ServerProcess, data_dir: Path
) -> None:
    """The stage is dropped and created again after the upload resolved it but before
    its file was opened: the file is stored, in a directory no stage refers to."""
    server.query("CREATE STAGE s")
    old_dir = internal_stage_dir(data_dir, "s")
    content = os.urandom(100_000)
    boundary = "incarnation-test-boundary"
    head = f"--{boundary}\r\n".encode()
    rest = (
        b'Content-Disposition: form-data; name="upload"; filename="late.bin"\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host = urllib.parse.urlsplit(server.http_url)
    with socket.create_connection((host.hostname, host.port), timeout=30) as sock:
        sock.sendall(
            f"PUT /v1/upload_to_stage HTTP/1.1\r\nHost: t\r\nstage_name: s\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Expect: 100-continue\r\n"
            f"Content-Length: {len(head) + len(rest)}\r\n\r\n".encode()
        )
        # The 100 comes once the headers were checked, which resolved the stage.
        assert sock.recv(65536).startswith(b"HTTP/1.1 100")
        server.query("DROP STAGE s")
        server.query("CREATE STAGE s")
        sock.sendall(head + rest)
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert _names(server, "s") == []  # not in the stage of the same name
    assert (old_dir / "late.bin").read_bytes() == content  # out of sight
    server.stop()
    restarted = start_server(str(data_dir))
    try:
        assert wait_until(lambda: not old_dir.exists()), "the orphan was not swept"
        assert _names(restarted, "s") == []
    finally:
        restarted.stop()


def test_sweep_at_start_keeps_live_and_older_stages(data_dir: Path) -> None:
    first = start_server(str(data_dir))
    try:
        first.query("CREATE STAGE live")
        live_dir = internal_stage_dir(data_dir, "live")
    finally:
        first.stop()
    (live_dir / "kept.csv").parent.mkdir(parents=True, exist_ok=True)
    (live_dir / "kept.csv").write_text("1\n")
    # A stage catalogued before incarnations had directories: its files are under its name.
    legacy = StageRecord(name="old", stage_type=StageType.INTERNAL).to_json()
    (data_dir / "catalog" / "stages" / "old.json").write_bytes(legacy)
    (data_dir / "stage" / "internal" / "old").mkdir(parents=True)
    (data_dir / "stage" / "internal" / "old" / "a.csv").write_text("2\n")
    orphans = [
        data_dir / "stage" / "internal" / "live.0123456789abcdef",  # an old incarnation
        data_dir / "stage" / "internal" / "gone",  # a dropped stage of before
    ]
    for orphan in orphans:
        (orphan / "d").mkdir(parents=True)
        (orphan / "d" / "f.csv").write_text("3\n")

    server = start_server(str(data_dir))
    try:
        assert wait_until(lambda: not any(orphan.exists() for orphan in orphans))
        assert _names(server, "live") == ["kept.csv"]
        assert _names(server, "old") == ["a.csv"]
        server.query("DROP STAGE old")  # an older stage's own directory goes with it
        assert not (data_dir / "stage" / "internal" / "old" / "a.csv").exists()
    finally:
        server.stop()
