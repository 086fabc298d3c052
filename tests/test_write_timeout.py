"""mysql_write_timeout (MySQL's net_write_timeout): a client that stops reading a result is
cut off, one that reads slowly is not; set by flag, environment or config file."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clienttools import Packet, RawClient, read_lenenc_int
from conftest import ServerProcess, start_server
from testtools import wait_until

# Far more rows than the sockets' buffers hold (some MiB on loopback), made as they are sent.
BIG = (
    "SELECT a.WORD, b.WORD, c.WORD FROM information_schema.KEYWORDS a, "
    "information_schema.KEYWORDS b, information_schema.KEYWORDS c LIMIT {rows}"
)
LOG_LINE = "the client read nothing for the write timeout"


@pytest.fixture
def timed(data_dir: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server with ``mysql_write_timeout`` set the way ``request.param`` says."""
    how = request.param
    if how == "flag":
        proc = start_server(str(data_dir), "--mysql-write-timeout", "1")
    elif how == "env":
        proc = start_server(str(data_dir), env={"STAGEDB_MYSQL_WRITE_TIMEOUT": "1"})
    else:
        config = data_dir.parent / "stagedb.toml"
        config.write_text("mysql_write_timeout = 1\n")
        proc = start_server(str(data_dir), "--config", str(config))
    try:
        yield proc
    finally:
        proc.stop()


def raw_client(server: ServerProcess) -> RawClient:
    """A logged-in root client."""
    client = RawClient(server.host, server.mysql_port, timeout=30)
    assert client.login().is_ok
    return client


def connection_ids(server: ServerProcess) -> set[int]:
    return {int(row[0]) for row in server.query("SHOW PROCESSLIST")}


class PacketSplitter:
    """Splits received bytes into packets (a big result, fast: no copying per packet)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def feed(self, chunk: bytes) -> list[Packet]:
        """The packets completed by ``chunk``."""
        data = self.data
        data += chunk
        packets, start = [], 0
        while start + 4 <= len(data):
            end = start + 4 + int.from_bytes(data[start : start + 3], "little")
            if end > len(data):
                break
            packets.append(Packet(data[start + 3], bytes(data[start + 4 : end])))
            start = end
        del data[:start]
        return packets


def read_result(client: RawClient, slow_for: float = 0.0) -> tuple[list[Packet], list[Packet]]:
    """(header packets, rows and the final EOF) of a text result set; for the first
    ``slow_for`` seconds 64 KiB at a time, with pauses of a third of the write timeout."""
    slow_until = time.monotonic() + slow_for
    splitter = PacketSplitter()
    header: list[Packet] = []
    rows: list[Packet] = []
    columns: int | None = None
    while True:
        slow = time.monotonic() < slow_until
        chunk = client.sock.recv(65536 if slow else 1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        for packet in splitter.feed(chunk):
            if columns is None:
                columns, _ = read_lenenc_int(packet.payload, 0)
                header.append(packet)
            elif len(header) < columns + 2:  # column definitions and their EOF
                header.append(packet)
            else:
                rows.append(packet)
                if packet.is_eof or packet.is_err:
                    return header, rows
        if slow:
            time.sleep(0.3)


@pytest.mark.parametrize("timed", ["flag", "env", "config"], indirect=True)
def test_a_client_that_stops_reading_is_cut_off(timed: ServerProcess) -> None:
    rows = 5_000_000
    with raw_client(timed) as stuck:
        assert stuck.handshake is not None
        stuck_id = stuck.handshake.connection_id
        stuck.send_query(BIG.format(rows=rows))  # and never reads
        assert stuck_id in connection_ids(timed)
        assert wait_until(lambda: stuck_id not in connection_ids(timed), timeout=60)
        received = PacketSplitter()
        packets: list[Packet] = []
        with contextlib.suppress(OSError):
            while chunk := stuck.sock.recv(1 << 20):
                packets += received.feed(chunk)
        # the server hung up mid-result: what it had sent, and no end
        assert 4 < len(packets) < rows
        assert not (packets[-1].is_eof or packets[-1].is_err)
    assert wait_until(lambda: LOG_LINE in "".join(timed.output))
    assert timed.query("SELECT 1") == [(1,)]  # everyone else is served as before


@pytest.mark.parametrize("timed", ["flag"], indirect=True)
def test_a_slow_reader_is_not_cut_off(timed: ServerProcess) -> None:
    rows = 500_000
    with raw_client(timed) as slow:
        slow.send_query(BIG.format(rows=rows))
        time.sleep(0.5)  # a little late to start ...
        header, body = read_result(slow, slow_for=4.0)  # ... then slow for 4 s
        assert len(header) == 1 + 3 + 1  # column count, columns, EOF
        assert body[-1].is_eof and len(body) == rows + 1
        slow.send_query("SELECT 1")  # and the connection is still there
        header, body = read_result(slow)
        assert [row.payload for row in body[:-1]] == [b"\x011"]
    assert LOG_LINE not in "".join(timed.output)


def test_the_default_is_mysqls_60_seconds_and_bad_values_are_refused(tmp_path: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "stagedb", "serve", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0
    help_text = " ".join(shown.stdout.split())
    assert re.search(r"--mysql-write-timeout FLOAT RANGE [^\[]*\[default: 60\.0; x>0\]", help_text)
    for value in ("0", "-1", "soon"):
        refused = subprocess.run(
            [sys.executable, "-m", "stagedb", "serve", "--data", str(tmp_path),
             "--mysql-port", "0", "--http-port", "0", "--mysql-write-timeout", value],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert "--mysql-write-timeout" in refused.stderr
