"""--http-max-connections is enforced when a connection is accepted: beyond it the server
answers 503 at once, before the client sends anything, over plain TCP and TLS."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServerProcess, start_server
from testtools import wait_until
from transporttools import curl, make_certificates

LIMIT = 2


@pytest.fixture
def capped(data_dir: Path) -> Iterator[ServerProcess]:
    proc = start_server(str(data_dir), "--http-max-connections", str(LIMIT))
    try:
        yield proc
    finally:
        proc.stop()


def unsolicited(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends on ``sock`` before the client sends anything, until it closes
    (b"" if nothing came within ``seconds``)."""
    sock.settimeout(seconds)
    received = b""
    try:
        while piece := sock.recv(65536):
            received += piece
    except TimeoutError:
        pass
    return received


def check_refusal(raw: bytes) -> None:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable", raw
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["connection"] == "close" and headers["retry-after"] == "1"
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body) == {"error": {"code": 1040, "message": "Too many connections"}}


def test_connections_beyond_the_limit_get_503_before_sending_a_request(
    capped: ServerProcess, tmp_path: Path
) -> None:
    burst = [socket.create_connection((capped.host, capped.http_port)) for _ in range(LIMIT + 3)]
    try:
        answers = [unsolicited(sock, 1.0) for sock in burst]
        admitted = [answer for answer in answers if answer == b""]
        refused = [answer for answer in answers if answer != b""]
        assert len(admitted) == LIMIT, answers  # exactly the limit, even in one burst
        for answer in refused:
            check_refusal(answer)
        reply = curl(f"{capped.http_url}/v1/health", cwd=tmp_path)  # a real client too
        assert reply.status == 503 and reply.headers["retry-after"] == "1"
    finally:
        for sock in burst:
            sock.close()
    assert wait_until(lambda: curl(f"{capped.http_url}/v1/health", cwd=tmp_path).status == 200)
    assert "Refused an HTTP connection: max connections (2) reached" in "".join(capped.output)


def test_refused_client_that_sends_a_large_body_still_reads_the_503(
    capped: ServerProcess, tmp_path: Path
) -> None:
    idle = [socket.create_connection((capped.host, capped.http_port)) for _ in range(LIMIT)]
    try:
        assert wait_until(lambda: curl(f"{capped.http_url}/v1/health", cwd=tmp_path).status == 503)
        (tmp_path / "big.bin").write_bytes(b"b" * 3_000_000)
        reply = curl(
            "-u", "root:", "-H", "stage_name:~", "-F", "upload=@big.bin", "-XPUT",
            f"{capped.http_url}/v1/upload_to_stage", cwd=tmp_path,
        )  # fmt: skip
        assert reply.status == 503, reply.stderr
        assert json.loads(reply.body)["error"]["code"] == 1040
    finally:
        for sock in idle:
            sock.close()
    assert capped.query("LIST @~") == []


def test_tls_connection_beyond_the_limit_gets_503_after_its_handshake(
    data_dir: Path, tmp_path: Path
) -> None:
    certs = make_certificates(tmp_path)
    proc = start_server(str(data_dir), *certs.server_flags(), "--http-max-connections", "1")
    context = ssl.create_default_context(cafile=str(certs.ca))
    try:
        url = f"https://127.0.0.1:{proc.http_port}/v1/health"
        raw = socket.create_connection((proc.host, proc.http_port))
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as first:
            assert unsolicited(first, 0.5) == b""  # admitted: the server waits for a request
            reply = curl("--cacert", str(certs.ca), url, cwd=tmp_path)
            assert reply.status == 503, reply.stderr
            assert json.loads(reply.body)["error"]["message"] == "Too many connections"
        assert wait_until(lambda: curl("--cacert", str(certs.ca), url, cwd=tmp_path).status == 200)
    finally:
        proc.stop()
