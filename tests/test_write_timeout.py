"""mysql_write_timeout (MySQL's net_write_timeout): a client that stops reading a result is
cut off, one that reads slowly is not; set by flag, environment or config file."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clienttools import Packet, RawClient, read_lenenc_int
from conftest import ServerProcess, start_server
from testtools import wait_until

# Far more rows than the sockets' buffers hold, made as they are sent.
BIG = (
    "SELECT a.WORD, b.WORD, c.WORD FROM information_schema.KEYWORDS a, "
    "information_schema.KEYWORDS b, information_schema.KEYWORDS c LIMIT {rows}"
)
SMALL_BUFFER = 4096
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
    """A logged-in root client with a tiny receive buffer."""
    client = RawClient(server.host, server.mysql_port, timeout=30)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    assert client.login().is_ok
    return client


def connection_ids(server: ServerProcess) -> set[int]:
    return {int(row[0]) for row in server.query("SHOW PROCESSLIST")}


def read_result(client: RawClient, slow_for: float = 0.0) -> list[Packet]:
    """Every packet of a text result set (column count to final EOF); for the first
    ``slow_for`` seconds, 200 rows then a pause of half the write timeout."""
    slow_until = time.monotonic() + slow_for
    first = client.read_packet()
    count, _ = read_lenenc_int(first.payload, 0)
    assert count is not None
    packets = [first] + [client.read_packet() for _ in range(count + 1)]
    while True:
        packet = client.read_packet()
        packets.append(packet)
        if packet.is_eof or packet.is_err:
            return packets
        if len(packets) % 200 == 0 and time.monotonic() < slow_until:
            time.sleep(0.5)


@pytest.mark.parametrize("timed", ["flag", "env", "config"], indirect=True)
def test_a_client_that_stops_reading_is_cut_off(timed: ServerProcess) -> None:
    with raw_client(timed) as stuck:
        assert stuck.handshake is not None
        stuck_id = stuck.handshake.connection_id
        stuck.send_query(BIG.format(rows=5_000_000))  # and never reads
        assert stuck_id in connection_ids(timed)
        assert wait_until(lambda: stuck_id not in connection_ids(timed), timeout=30)
        packets, closed = stuck.read_until_closed(limit=10_000_000)
        assert closed  # the server hung up ...
        assert packets and not (packets[-1].is_eof or packets[-1].is_err)  # ... mid-result
        assert len(packets) < 5_000_000
    assert wait_until(lambda: LOG_LINE in "".join(timed.output))
    assert timed.query("SELECT 1") == [(1,)]  # everyone else is served as before


@pytest.mark.parametrize("timed", ["flag"], indirect=True)
def test_a_slow_reader_is_not_cut_off(timed: ServerProcess) -> None:
    rows = 200_000
    with raw_client(timed) as slow:
        slow.send_query(BIG.format(rows=rows))
        time.sleep(0.5)  # a little late to start ...
        packets = read_result(slow, slow_for=3.0)  # ... then slow for 3 s
        assert packets[-1].is_eof
        assert len(packets) == 1 + 3 + 1 + rows + 1  # count, columns, EOF, rows, EOF
        slow.send_query("SELECT 1")  # and the connection is still there
        assert len(read_result(slow)) == 1 + 1 + 1 + 1 + 1
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
