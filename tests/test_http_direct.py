"""Large bodies read straight from the socket by a worker thread (stagedb/http/direct.py).

Bodies of at least 4 MiB with a Content-Length on plain TCP skip aiohttp's
stream: these tests pin down what that path must keep from the streaming one
(exact bytes, atomic files, errors, closing the connection after it) and the
cases that must still take the streaming path.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from conftest import ServerProcess
from test_http_upload import (
    BOUNDARY,
    check_success,
    curl_upload,
    listing,
    multipart,
    part,
    upload_body,
    user_dir,
)
from test_presign import presign
from testtools import stored_files, temp_files, wait_until

MIB = 1024 * 1024


def _allocated(path: Path) -> int:
    """Bytes of disk the file occupies (blocks reserved ahead of writes included)."""
    return path.stat().st_blocks * 512


def _file(folder: Path, name: str, size: int) -> bytes:
    data = os.urandom(size)
    (folder / name).write_bytes(data)
    return data


@pytest.mark.parametrize("expect", ["100-continue", ""], ids=["expect", "no-expect"])
def test_big_multipart_upload_is_byte_exact(
    server: ServerProcess, data_dir: Path, tmp_path: Path, expect: str
) -> None:
    """With ``Expect:`` empty curl sends at once, so aiohttp has parsed (and paused on)
    part of the body before the handler takes it over: no byte may be lost."""
    data = _file(tmp_path, "big.bin", 9 * MIB + 7)
    reply = curl_upload(
        server, "~", "upload=@big.bin", cwd=tmp_path, extra=("-H", f"Expect: {expect}")
    )
    check_success(reply, "~", ["big.bin"])
    assert reply.headers.get("connection") == "close"
    assert (user_dir(data_dir) / "big.bin").read_bytes() == data
    assert listing(server, "@~") == {"big.bin": len(data)}
    assert temp_files(user_dir(data_dir)) == []


def test_big_and_small_files_in_one_body(
    server: ServerProcess, data_dir: Path, tmp_path: Path
) -> None:
    sizes = {"a.bin": 5 * MIB, "empty.bin": 0, "b.bin": 1, "c.bin": 6 * MIB + 3}
    contents = {name: _file(tmp_path, name, size) for name, size in sizes.items()}
    forms = [f"f{i}=@{name}" for i, name in enumerate(sizes)]
    reply = curl_upload(server, "~", *forms, cwd=tmp_path)
    check_success(reply, "~", list(sizes))
    for name, data in contents.items():
        assert (user_dir(data_dir) / name).read_bytes() == data
        assert _allocated(user_dir(data_dir) / name) <= len(data) + MIB  # reservation released
    assert listing(server, "@~") == sizes


def test_boundary_split_across_reads_is_found(server: ServerProcess, data_dir: Path) -> None:
    """Content that holds most of the delimiter, right where reads are likely to split."""
    near_miss = b"\r\n--" + BOUNDARY.encode()[:-1] + b"X"
    data = (os.urandom(MIB - len(near_miss)) + near_miss) * 5
    reply = upload_body(server, multipart(part('filename="tricky.bin"', data)))
    check_success(reply, "~", ["tricky.bin"])
    assert (user_dir(data_dir) / "tricky.bin").read_bytes() == data


def test_big_body_without_closing_boundary_is_400(server: ServerProcess, data_dir: Path) -> None:
    body = part('filename="cut.bin"', os.urandom(5 * MIB))  # no closing delimiter
    reply = upload_body(server, body)
    assert reply.status == 400, reply
    assert "boundary" in reply.error()[1]
    assert stored_files(user_dir(data_dir)) == []


def test_part_without_filename_in_a_big_body_is_400(server: ServerProcess, data_dir: Path) -> None:
    body = multipart(part('filename="ok.bin"', b"ok"), part("x=1", os.urandom(5 * MIB)))
    reply = upload_body(server, body)
    assert reply.status == 400
    assert "-F 'upload=@" in reply.error()[1]
    assert stored_files(user_dir(data_dir)) == ["ok.bin"]  # atomic per file, not per request


def test_big_chunked_body_takes_the_streaming_path(server: ServerProcess, data_dir: Path) -> None:
    data = os.urandom(5 * MIB)
    body = multipart(part('filename="chunked.bin"', data))
    pieces = iter([body[i : i + MIB] for i in range(0, len(body), MIB)])
    reply = upload_body(server, pieces)
    check_success(reply, "~", ["chunked.bin"])
    assert reply.headers.get("connection") != "close"
    assert (user_dir(data_dir) / "chunked.bin").read_bytes() == data


def test_connection_closes_after_a_big_body_and_the_server_serves_on(
    server: ServerProcess, data_dir: Path
) -> None:
    """aiohttp's parser never saw the body's end, so the connection must not be reused."""
    data = os.urandom(5 * MIB)
    body = multipart(part('filename="x.bin"', data))
    head = (
        "PUT /v1/upload_to_stage HTTP/1.1\r\nHost: t\r\nstage_name: ~\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((server.host, server.http_port), timeout=30) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"\r\nConnection: close\r\n" in answer  # and closed after it (recv gave b"")
    assert (user_dir(data_dir) / "x.bin").read_bytes() == data
    conn = http.client.HTTPConnection(server.host, server.http_port, timeout=10)
    conn.request("GET", "/v1/health")
    assert conn.getresponse().status == 200
    conn.close()


@pytest.mark.parametrize("expect", ["100-continue", ""], ids=["expect", "no-expect"])
def test_big_presigned_put_is_byte_exact(
    server: ServerProcess, data_dir: Path, tmp_path: Path, expect: str
) -> None:
    data = _file(tmp_path, "raw.bin", 11 * MIB + 5)
    url = presign(server, "PRESIGN UPLOAD @~/raw.bin").url
    result = subprocess.run(
        ["curl", "-sS", "-f", "-H", f"Expect: {expect}", "-T", "raw.bin", url],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stored = (user_dir(data_dir) / "raw.bin").read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert _allocated(user_dir(data_dir) / "raw.bin") <= len(data) + MIB
    assert listing(server, "@~") == {"raw.bin": len(data)}


def test_presigned_put_that_stops_early_leaves_nothing(
    server: ServerProcess, data_dir: Path
) -> None:
    url = urllib.parse.urlsplit(presign(server, "PRESIGN UPLOAD @~/short.bin").url)
    root = user_dir(data_dir)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: t\r\n"
            f"Content-Length: {20 * MIB}\r\n\r\n".encode()
            + os.urandom(6 * MIB)
        )
        assert wait_until(lambda: temp_files(root))
        sock.shutdown(socket.SHUT_WR)  # the body ends 14 MiB early
        assert wait_until(lambda: not temp_files(root)), temp_files(root)
    assert stored_files(root) == []
    assert "Traceback" not in "".join(server.output)
