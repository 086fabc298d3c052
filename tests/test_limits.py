"""Limits on both ports: connections, packet and header sizes, idle, login, slow-header and
stalled-body timeouts; each with its setting and a real client."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from clienttools import BASE_CLIENT_CAPABILITIES, RawClient
from conftest import ServerProcess, start_server
from testtools import stored_files, temp_files, wait_until
from transporttools import closed_within, curl, make_certificates

CLIENT_SSL = 1 << 11


@pytest.fixture
def limited(data_dir: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server started with the flags given by ``with_flags``."""
    proc = start_server(str(data_dir), *request.param)
    try:
        yield proc
    finally:
        proc.stop()


def with_flags(*flags: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("limited", [flags], indirect=True, ids=[" ".join(flags)])


def can_connect(server: ServerProcess) -> bool:
    try:
        server.connect().close()
    except pymysql.err.OperationalError:
        return False
    return True


# -- MySQL -------------------------------------------------------------------------------


@with_flags("--mysql-max-connections", "2")
def test_mysql_max_connections_answers_1040(limited: ServerProcess) -> None:
    assert wait_until(lambda: can_connect(limited))  # the readiness probe has gone
    first, second = limited.connect(), limited.connect()
    with pytest.raises(pymysql.err.OperationalError) as caught:
        limited.connect()
    assert caught.value.args == (1040, "Too many connections")
    with first.cursor() as cur:  # the open sessions are untouched
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    first.close()
    assert wait_until(lambda: can_connect(limited))  # a slot is free again
    second.close()


@with_flags("--mysql-max-packet-size", "1024")
def test_mysql_packet_over_max_packet_size_answers_1153_and_closes(limited: ServerProcess) -> None:
    conn = limited.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT '" + "x" * 900 + "'")  # under the limit
        assert len(str(cur.fetchall()[0][0])) == 900
        with pytest.raises(pymysql.err.OperationalError) as caught:
            cur.execute("SELECT '" + "x" * 5000 + "'")
    assert caught.value.args == (1153, "Got a packet bigger than 'max_allowed_packet' bytes")
    with pytest.raises(pymysql.err.OperationalError), conn.cursor() as cur:
        cur.execute("SELECT 1")  # the server closed the connection
    assert limited.query("SELECT 1") == [(1,)]


@with_flags("--mysql-wait-timeout", "1")
def test_mysql_idle_session_is_closed_with_4031(limited: ServerProcess) -> None:
    conn = limited.connect()
    sock = conn._sock
    assert sock is not None
    sock.settimeout(30)
    header = sock.recv(4)  # unsolicited: the server speaks first, then hangs up
    payload = sock.recv(int.from_bytes(header[:3], "little"))
    assert payload[0] == 0xFF and int.from_bytes(payload[1:3], "little") == 4031
    assert b"disconnected by the server because of inactivity" in payload
    assert closed_within(sock, 10)


@with_flags("--mysql-wait-timeout", "1")
def test_mysql_busy_session_is_not_idle(limited: ServerProcess) -> None:
    with limited.connect() as conn, conn.cursor() as cur:
        for _ in range(8):  # 2.4 s of activity, never 1 s idle
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)
            time.sleep(0.3)


@with_flags("--mysql-connect-timeout", "1")
def test_mysql_client_that_never_logs_in_is_cut_off(limited: ServerProcess) -> None:
    with RawClient(limited.host, limited.mysql_port, timeout=30) as client:
        client.read_handshake()
        assert closed_within(client.sock, 10)  # it sent nothing after the greeting


def test_mysql_stalled_tls_handshake_is_cut_off(data_dir: Path, tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    proc = start_server(str(data_dir), *certs.server_flags(), "--mysql-connect-timeout", "1")
    try:
        with RawClient(proc.host, proc.mysql_port, timeout=30) as client:
            client.read_handshake()
            ssl_request = struct.pack(
                "<IIB23s", BASE_CLIENT_CAPABILITIES | CLIENT_SSL, 1 << 24, 45, b""
            )
            client.write_packet(ssl_request, seq=1)  # then no TLS ClientHello
            assert closed_within(client.sock, 10)
    finally:
        proc.stop()


def test_mysql_defaults_are_mysqls(server: ServerProcess) -> None:
    # 151 connections, 64 MiB packets: a 2 MiB statement goes through
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT '" + "y" * (2 * 1024 * 1024) + "'")
        assert len(str(cur.fetchall()[0][0])) == 2 * 1024 * 1024
    conns = [server.connect() for _ in range(20)]
    for conn in conns:
        conn.close()


# -- HTTP --------------------------------------------------------------------------------


def health(server: ServerProcess, cwd: Path, *args: str) -> tuple[int, bytes]:
    reply = curl(*args, f"{server.http_url}/v1/health", cwd=cwd)
    return reply.status, reply.body


@with_flags("--http-max-connections", "2")
def test_http_max_connections_answers_503(limited: ServerProcess, tmp_path: Path) -> None:
    idle = [socket.create_connection((limited.host, limited.http_port)) for _ in range(2)]
    try:
        assert wait_until(lambda: health(limited, tmp_path)[0] == 503)
        status, body = health(limited, tmp_path)
        assert status == 503
        error = json.loads(body)["error"]
        assert error["message"] == "Too many connections"
    finally:
        for sock in idle:
            sock.close()
    assert wait_until(lambda: health(limited, tmp_path)[0] == 200)


@with_flags("--http-max-header-size", "1024")
def test_http_header_over_max_header_size_is_refused(
    limited: ServerProcess, tmp_path: Path
) -> None:
    assert health(limited, tmp_path, "-H", "X-Small: " + "a" * 900)[0] == 200
    assert health(limited, tmp_path, "-H", "X-Big: " + "a" * 2000)[0] == 400


def test_http_default_header_size_allows_8k_headers(server: ServerProcess, tmp_path: Path) -> None:
    assert health(server, tmp_path, "-H", "X-Big: " + "a" * 8000)[0] == 200
    assert health(server, tmp_path, "-H", "X-Big: " + "a" * 9000)[0] == 400


@with_flags("--http-idle-timeout", "1")
def test_http_slow_headers_are_cut_off(limited: ServerProcess) -> None:
    sock = socket.create_connection((limited.host, limited.http_port))
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
    stop = threading.Event()

    def dribble() -> None:  # one header line every 0.2 s, never the blank line
        for number in range(100):
            if stop.wait(0.2):
                return
            try:
                sock.sendall(f"X-Slow-{number}: y\r\n".encode())
            except OSError:
                return

    thread = threading.Thread(target=dribble)
    thread.start()
    try:
        assert closed_within(sock, 10)
    finally:
        stop.set()
        thread.join()
        sock.close()


@with_flags("--http-idle-timeout", "1")
def test_http_idle_keep_alive_connection_is_closed(limited: ServerProcess) -> None:
    conn = http.client.HTTPConnection(limited.host, limited.http_port, timeout=30)
    conn.request("GET", "/v1/health")
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Connection") != "close"
    response.read()
    assert conn.sock is not None
    assert closed_within(conn.sock, 10)
    conn.close()


BOUNDARY = "limits-test-boundary"


def upload_head(server: ServerProcess, length: int) -> bytes:
    return (
        f"PUT /v1/upload_to_stage HTTP/1.1\r\nHost: x\r\nAuthorization: Basic cm9vdDo=\r\n"
        f"stage_name: ~\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n'
    ).encode()


@with_flags("--http-body-timeout", "1")
def test_http_stalled_upload_is_cut_and_leaves_no_file(
    limited: ServerProcess, data_dir: Path
) -> None:
    user_stage = data_dir / "stage" / "user" / "root"
    sock = socket.create_connection((limited.host, limited.http_port))
    try:
        sock.sendall(upload_head(limited, 10_000_000) + b"z" * 200_000)  # then nothing more
        assert wait_until(lambda: temp_files(user_stage))  # the upload is under way
        assert closed_within(sock, 15)
    finally:
        sock.close()
    assert wait_until(lambda: not stored_files(user_stage))
    assert limited.query("LIST @~") == []
    assert "no body byte" in "".join(limited.output)


@with_flags("--http-body-timeout", "1")
def test_http_slow_but_steady_upload_is_not_cut(limited: ServerProcess, data_dir: Path) -> None:
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    pieces = [b"s" * 1000 for _ in range(8)]
    head = upload_head(limited, 0)
    length = len(head.split(b"\r\n\r\n", 1)[1]) + 8000 + len(tail)
    sock = socket.create_connection((limited.host, limited.http_port), timeout=30)
    try:
        sock.sendall(upload_head(limited, length))
        for piece in pieces:  # 2.4 s in all, a piece every 0.3 s
            time.sleep(0.3)
            sock.sendall(piece)
        sock.sendall(tail)
        answer = sock.recv(65536)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert (data_dir / "stage" / "user" / "root" / "big.bin").stat().st_size == 8000
