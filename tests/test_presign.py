"""PRESIGN over the MySQL port, and the presigned URLs it returns, used with real curl."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from conftest import ServerProcess, start_server
from testtools import internal_stage_dir, stored_files, temp_files, wait_until

# -- helpers ------------------------------------------------------------------


@dataclass
class Reply:
    """An HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> tuple[int, str]:
        """(code, message) of a Databend JSON error body."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        payload = json.loads(self.body)
        assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}
        return payload["error"]["code"], payload["error"]["message"]


@dataclass
class Presigned:
    method: str
    headers: dict[str, str]
    url: str


def presign(server: ServerProcess, sql: str) -> Presigned:
    """Run a PRESIGN statement; check its columns; return its one row."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert [d[0] for d in cur.description] == ["method", "headers", "url"]
        rows = cur.fetchall()
    ((method, headers, url),) = rows
    parsed = json.loads(headers)
    assert isinstance(parsed, dict)
    return Presigned(str(method), parsed, str(url))


def error_of(server: ServerProcess, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as caught:
        server.query(sql)
    return caught.value.args[0], caught.value.args[1]


def curl(*args: str, cwd: Path, allowed_exit: tuple[int, ...] = (0,)) -> tuple[Reply, str]:
    """Run real curl; return the final response and curl's stderr."""
    out, head = cwd / ".curl-body", cwd / ".curl-headers"
    result = subprocess.run(
        ["curl", "-sS", "-o", str(out), "-D", str(head), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in allowed_exit, result.stderr
    raw = head.read_text(errors="replace")
    blocks = [b for b in re.split(r"\r?\n\r?\n", raw.strip()) if b.startswith("HTTP/")]
    status_line, *lines = blocks[-1].splitlines()
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = out.read_bytes() if out.exists() else b""
    out.unlink(missing_ok=True)
    head.unlink()
    return Reply(int(status_line.split()[1]), headers, body), result.stderr


def request(
    url: str,
    method: str = "GET",
    body: bytes | Iterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request with http.client (an iterator body is sent chunked)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def listing(server: ServerProcess, location: str) -> dict[str, int]:
    return {str(row[0]): int(str(row[1])) for row in server.query(f"LIST {location}")}


def upload_api(server: ServerProcess, stage: str, name: str, data: bytes, cwd: Path) -> None:
    """Put a file in a stage through the upload API."""
    source = cwd / "upload-source"
    source.mkdir(exist_ok=True)
    (source / name).write_bytes(data)
    reply, _ = curl(
        "-u",
        "root:",
        "-H",
        f"stage_name:{stage}",
        "-F",
        f"upload=@{name}",
        f"{server.http_url}/v1/upload_to_stage",
        cwd=source,
    )
    assert reply.status == 200, reply


def with_query(url: str, **changes: str | None) -> str:
    """``url`` with query parameters replaced (None removes one)."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def internal_dir(data_dir: Path, stage: str) -> Path:
    return internal_stage_dir(data_dir, stage)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "client"
    path.mkdir()
    return path


@pytest.fixture
def stage_with_file(server: ServerProcess, work: Path) -> bytes:
    """Stage ``s`` holding ``data.bin`` (1000 random bytes), returned."""
    data = os.urandom(1000)
    server.query("CREATE STAGE s")
    upload_api(server, "s", "data.bin", data, work)
    return data


# -- PRESIGN statement -----------------------------------------------------------


def test_presign_columns_and_defaults(server: ServerProcess) -> None:
    server.query("CREATE STAGE s")
    before = int(time.time())
    download = presign(server, "PRESIGN @s/dir/a.csv")
    assert download.method == "GET" and download.headers == {}
    parts = urllib.parse.urlsplit(download.url)
    assert f"{parts.hostname}:{parts.port}" == f"{server.host}:{server.http_port}"
    assert parts.path == "/v1/presigned/s/dir/a.csv"
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["user"] == "root"
    assert before + 3600 <= int(query["expires"]) <= int(time.time()) + 3600
    assert re.fullmatch(r"[0-9a-f]{64}", query["signature"])
    assert presign(server, "PRESIGN DOWNLOAD @s/dir/a.csv").method == "GET"
    upload = presign(server, "PRESIGN UPLOAD @s/dir/a.csv EXPIRE = 60")
    assert upload.method == "PUT" and upload.headers == {}
    typed = presign(server, "PRESIGN UPLOAD @s/a.csv CONTENT_TYPE = 'text/csv'")
    assert typed.headers == {"Content-Type": "text/csv"}


def test_presign_of_an_unknown_stage_is_1051(server: ServerProcess) -> None:
    errno, message = error_of(server, "PRESIGN @no_such_stage/a.csv")
    assert errno == 1051
    assert "UnknownStage. Code: 2501" in message


@pytest.mark.parametrize(
    ("expire", "errno", "text"),
    [
        ("0", 1210, "EXPIRE must be between 1 and 604800 seconds"),
        ("604801", 1210, "EXPIRE must be between 1 and 604800 seconds"),
        ("99999999999999999999999", 1210, "EXPIRE must be between 1 and 604800 seconds"),
        ("-1", 1064, "near '-1'"),
    ],
)
def test_expire_out_of_range_is_an_error(
    server: ServerProcess, expire: str, errno: int, text: str
) -> None:
    server.query("CREATE STAGE s")
    got_errno, message = error_of(server, f"PRESIGN @s/a.csv EXPIRE = {expire}")
    assert got_errno == errno
    assert text in message


def test_expire_bounds_are_accepted(server: ServerProcess) -> None:
    server.query("CREATE STAGE s")
    for expire in (1, 604800):
        url = presign(server, f"PRESIGN @s/a.csv EXPIRE = {expire}").url
        expires = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["expires"])
        assert abs(expires - (time.time() + expire)) < 5


# -- downloads ---------------------------------------------------------------------


def test_curl_downloads_byte_identical(
    server: ServerProcess, work: Path, stage_with_file: bytes
) -> None:
    url = presign(server, "PRESIGN @s/data.bin").url
    result = subprocess.run(["curl", "-sS", "-o", "out.bin", url], cwd=work, timeout=60)
    assert result.returncode == 0
    assert (work / "out.bin").read_bytes() == stage_with_file


def test_download_of_a_multi_mib_file(server: ServerProcess, work: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)
    upload_api(server, "~", "big.bin", data, work)
    reply, _ = curl(presign(server, "PRESIGN @~/big.bin").url, cwd=work)
    assert reply.status == 200
    assert reply.headers["content-length"] == str(len(data))
    assert hashlib.sha256(reply.body).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    ("curl_range", "start", "stop"),
    [
        ("10-19", 10, 20),
        ("-5", 995, 1000),
        ("990-", 990, 1000),
        ("0-0", 0, 1),
        ("995-5000", 995, 1000),
        ("-5000", 0, 1000),
    ],
)
def test_range_requests(
    server: ServerProcess,
    work: Path,
    stage_with_file: bytes,
    curl_range: str,
    start: int,
    stop: int,
) -> None:
    url = presign(server, "PRESIGN @s/data.bin").url
    reply, _ = curl("-r", curl_range, url, cwd=work)
    assert reply.status == 206
    assert reply.body == stage_with_file[start:stop]
    assert reply.headers["content-range"] == f"bytes {start}-{stop - 1}/1000"
    assert reply.headers["content-length"] == str(stop - start)


def test_unsatisfiable_range_is_416(
    server: ServerProcess, work: Path, stage_with_file: bytes
) -> None:
    url = presign(server, "PRESIGN @s/data.bin").url
    reply, _ = curl("-r", "1000-2000", url, cwd=work)
    assert reply.status == 416
    assert reply.headers["content-range"] == "bytes */1000"
    assert reply.error()[0] == 1006


def test_unparsable_range_gives_the_whole_file(
    server: ServerProcess, stage_with_file: bytes
) -> None:
    url = presign(server, "PRESIGN @s/data.bin").url
    reply = request(url, headers={"Range": "bytes=0-1,5-6"})
    assert reply.status == 200
    assert reply.body == stage_with_file


def test_head(server: ServerProcess, work: Path, stage_with_file: bytes) -> None:
    url = presign(server, "PRESIGN @s/data.bin").url
    reply, _ = curl("-I", url, cwd=work)
    assert reply.status == 200
    assert reply.headers["content-length"] == "1000"
    assert reply.headers["accept-ranges"] == "bytes"
    assert request(url, "HEAD").body == b""
    ranged = request(url, "HEAD", headers={"Range": "bytes=10-19"})
    assert ranged.status == 206 and ranged.body == b""
    assert ranged.headers["content-range"] == "bytes 10-19/1000"


def test_empty_file_download(server: ServerProcess, work: Path) -> None:
    upload_api(server, "~", "empty.bin", b"", work)
    reply, _ = curl(presign(server, "PRESIGN @~/empty.bin").url, cwd=work)
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["content-length"] == "0"


def test_download_of_a_missing_file_is_404(server: ServerProcess, work: Path) -> None:
    server.query("CREATE STAGE s")
    reply, _ = curl(presign(server, "PRESIGN @s/missing.csv").url, cwd=work)
    assert reply.status == 404
    assert reply.error()[0] == 3001


def test_download_content_type_is_the_signed_one(
    server: ServerProcess, work: Path, stage_with_file: bytes
) -> None:
    plain = presign(server, "PRESIGN @s/data.bin").url
    assert request(plain).headers["content-type"] == "application/octet-stream"
    typed = presign(server, "PRESIGN @s/data.bin CONTENT_TYPE = 'text/csv'").url
    assert request(typed).headers["content-type"].startswith("text/csv")


def test_unicode_file_name(server: ServerProcess, work: Path) -> None:
    data = b"unicode"
    server.query("CREATE STAGE s")
    upload_api(server, "s", "résumé.csv", data, work)
    url = presign(server, "PRESIGN @s/résumé.csv").url
    assert "r%C3%A9sum%C3%A9.csv" in url
    reply, _ = curl(url, cwd=work)
    assert reply.status == 200 and reply.body == data


# -- uploads -------------------------------------------------------------------------


def test_curl_upload_with_t(server: ServerProcess, data_dir: Path, work: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 1)  # big enough for curl to send Expect: 100-continue
    (work / "local.bin").write_bytes(data)
    server.query("CREATE STAGE s")
    signed = presign(server, "PRESIGN UPLOAD @s/dir/sub/remote.bin")
    assert signed.method == "PUT"
    reply, _ = curl("-T", "local.bin", signed.url, cwd=work)
    assert reply.status == 200, reply
    assert json.loads(reply.body)["size"] == len(data)
    assert listing(server, "@s") == {"dir/sub/remote.bin": len(data)}
    assert (internal_dir(data_dir, "s") / "dir/sub/remote.bin").read_bytes() == data
    assert temp_files(internal_dir(data_dir, "s")) == []


@pytest.mark.slow
def test_one_gib_through_presigned_urls(server: ServerProcess, data_dir: Path, work: Path) -> None:
    """curl -T up and curl -o down, 1 GiB each way, byte-identical."""
    source = work / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as handle:
        for i in range(1024):
            chunk = os.urandom(1 << 20) if i % 64 == 0 else bytes([i % 251]) * (1 << 20)
            digest.update(chunk)
            handle.write(chunk)
    started = time.monotonic()
    reply, _ = curl("-T", "big.bin", presign(server, "PRESIGN UPLOAD @~/big.bin").url, cwd=work)
    assert reply.status == 200, reply
    source.unlink()
    assert listing(server, "@~") == {"big.bin": 1 << 30}
    url = presign(server, "PRESIGN @~/big.bin").url
    result = subprocess.run(["curl", "-sS", "-o", "back.bin", url], cwd=work, timeout=120)
    assert result.returncode == 0
    with (work / "back.bin").open("rb") as back:
        assert hashlib.file_digest(back, "sha256").hexdigest() == digest.hexdigest()
    (work / "back.bin").unlink()
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("size", [0, 1])
def test_tiny_uploads(server: ServerProcess, data_dir: Path, work: Path, size: int) -> None:
    data = os.urandom(size)
    (work / "tiny").write_bytes(data)
    reply, _ = curl("-T", "tiny", presign(server, "PRESIGN UPLOAD @~/tiny.bin").url, cwd=work)
    assert reply.status == 200
    assert listing(server, "@~") == {"tiny.bin": size}


def test_chunked_upload_from_stdin(server: ServerProcess, data_dir: Path, work: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    url = presign(server, "PRESIGN UPLOAD @~/piped.bin").url
    result = subprocess.run(
        ["curl", "-sS", "-T", "-", url], input=data, capture_output=True, timeout=60
    )
    assert result.returncode == 0 and b'"SUCCESS"' in result.stdout, result
    assert (data_dir / "stage/user/root/piped.bin").read_bytes() == data


def test_upload_overwrites(server: ServerProcess, data_dir: Path, work: Path) -> None:
    upload_api(server, "~", "same.txt", b"old content", work)
    reply = request(presign(server, "PRESIGN UPLOAD @~/same.txt").url, "PUT", b"new")
    assert reply.status == 200
    assert (data_dir / "stage/user/root/same.txt").read_bytes() == b"new"


def test_upload_then_download_on_the_user_stage(server: ServerProcess, work: Path) -> None:
    data = os.urandom(4096)
    (work / "mine.bin").write_bytes(data)
    upload = presign(server, "PRESIGN UPLOAD @~/mine.bin")
    assert "/v1/presigned/~/mine.bin?" in upload.url
    assert curl("-T", "mine.bin", upload.url, cwd=work)[0].status == 200
    assert listing(server, "@~") == {"mine.bin": 4096}
    reply, _ = curl(presign(server, "PRESIGN @~/mine.bin").url, cwd=work)
    assert reply.body == data


def test_upload_is_invisible_until_complete(server: ServerProcess, data_dir: Path) -> None:
    url = urllib.parse.urlsplit(presign(server, "PRESIGN UPLOAD @~/slow.bin").url)
    root = data_dir / "stage/user/root"
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    first, second = os.urandom(2 * 1024 * 1024), os.urandom(1024 * 1024)
    sock.sendall(
        f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: t\r\n"
        f"Content-Length: {len(first) + len(second)}\r\n\r\n".encode()
        + first
    )
    assert wait_until(lambda: temp_files(root))
    assert listing(server, "@~") == {}
    assert not (root / "slow.bin").exists()
    sock.sendall(second)
    response = sock.recv(65536)
    sock.close()
    assert response.startswith(b"HTTP/1.1 200"), response
    assert (root / "slow.bin").read_bytes() == first + second
    assert stored_files(root) == ["slow.bin"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_disconnect_mid_upload_leaves_nothing(
    server: ServerProcess, data_dir: Path, chunked: bool
) -> None:
    url = urllib.parse.urlsplit(presign(server, "PRESIGN UPLOAD @~/gone.bin").url)
    root = data_dir / "stage/user/root"
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 100000000"
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    data = os.urandom(2 * 1024 * 1024)
    sock.sendall(
        f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n".encode()
        + (b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    )
    assert wait_until(lambda: temp_files(root))
    sock.close()
    assert wait_until(lambda: not temp_files(root)), temp_files(root)
    assert stored_files(root) == []
    assert request(presign(server, "PRESIGN UPLOAD @~/next.bin").url, "PUT", b"n").status == 200
    assert "Traceback" not in "".join(server.output)


def test_content_type_is_enforced(server: ServerProcess, work: Path) -> None:
    (work / "a.csv").write_text("a,b\n")
    signed = presign(server, "PRESIGN UPLOAD @~/a.csv CONTENT_TYPE = 'text/csv'")
    missing, _ = curl("-T", "a.csv", signed.url, cwd=work)
    assert missing.status == 403
    assert missing.error()[0] == 1063
    wrong, _ = curl("-T", "a.csv", "-H", "Content-Type: text/plain", signed.url, cwd=work)
    assert wrong.status == 403
    assert listing(server, "@~") == {}
    ((name, value),) = signed.headers.items()
    header = f"{name}: {value}"
    right, _ = curl("-T", "a.csv", "-H", header, signed.url, cwd=work)
    assert right.status == 200
    assert listing(server, "@~") == {"a.csv": 4}


@pytest.fixture
def small_limit_server(data_dir: Path) -> Iterator[ServerProcess]:
    server = start_server(str(data_dir), "--max-upload-size", "1000")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["content-length", "chunked", "expect-100"])
def test_upload_over_max_upload_size_is_413(
    small_limit_server: ServerProcess, data_dir: Path, work: Path, how: str
) -> None:
    size = 3 * 1024 * 1024 if how == "expect-100" else 2000
    (work / "big.bin").write_bytes(os.urandom(size))
    url = presign(small_limit_server, "PRESIGN UPLOAD @~/big.bin").url
    if how == "chunked":
        reply = request(url, "PUT", iter([b"x" * 600, b"y" * 600]))
    else:
        reply, stderr = curl("-v", "-T", "big.bin", url, cwd=work)
        assert "< HTTP/1.1 100" not in stderr
    assert reply.status == 413
    assert "max_upload_size" in reply.error()[1]
    assert stored_files(data_dir / "stage") == []
    exact = request(url, "PUT", b"e" * 1000)
    assert exact.status == 200


# -- refusals: expiry, tampering, methods ------------------------------------------------


def test_expired_url_is_403(server: ServerProcess, work: Path, stage_with_file: bytes) -> None:
    url = presign(server, "PRESIGN @s/data.bin EXPIRE = 1").url
    upload = presign(server, "PRESIGN UPLOAD @s/new.bin EXPIRE = 1").url
    time.sleep(2.1)
    reply, _ = curl(url, cwd=work)
    assert reply.status == 403
    code, message = reply.error()
    assert code == 1063 and "expired" in message
    assert request(upload, "PUT", b"late").status == 403
    assert listing(server, "@s") == {"data.bin": 1000}


def _tampered(url: str, what: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    if what == "signature":
        signature = query["signature"]
        return with_query(url, signature=signature[:-1] + ("0" if signature[-1] != "0" else "1"))
    if what == "path":
        return urllib.parse.urlunsplit(parts._replace(path=parts.path.replace("data", "other")))
    if what == "stage":
        return urllib.parse.urlunsplit(parts._replace(path=parts.path.replace("/s/", "/t/")))
    if what == "user":
        return with_query(url, user="admin")
    if what == "expires":
        return with_query(url, expires=str(int(query["expires"]) + 1000))
    if what == "no-signature":
        return with_query(url, signature=None)
    if what == "non-ascii-signature":
        return with_query(url, signature="é" * 64)
    if what == "content-type":
        return with_query(url, content_type="text/csv")
    raise AssertionError(what)


@pytest.mark.parametrize(
    "what",
    [
        "signature",
        "path",
        "stage",
        "user",
        "expires",
        "no-signature",
        "non-ascii-signature",
        "content-type",
    ],
)
def test_tampered_url_is_403(
    server: ServerProcess, work: Path, stage_with_file: bytes, what: str
) -> None:
    server.query("CREATE STAGE t")
    upload_api(server, "s", "other.bin", b"other", work)
    upload_api(server, "t", "data.bin", b"t's data", work)
    url = presign(server, "PRESIGN @s/data.bin").url
    assert request(url).status == 200
    reply = request(_tampered(url, what))
    assert reply.status == 403, reply
    assert reply.error()[0] == 1063


@pytest.mark.parametrize("what", ["signature", "path", "user", "content-type"])
def test_tampered_upload_url_is_403_and_stores_nothing(
    server: ServerProcess, data_dir: Path, work: Path, what: str
) -> None:
    server.query("CREATE STAGE s")
    url = presign(server, "PRESIGN UPLOAD @s/data.bin").url
    (work / "f.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    reply, stderr = curl("-v", "-T", "f.bin", _tampered(url, what), cwd=work)
    assert reply.status == 403
    assert "< HTTP/1.1 100" not in stderr  # refused before the body was sent
    assert stored_files(data_dir / "stage") == []


def test_url_works_only_with_its_method(
    server: ServerProcess, data_dir: Path, work: Path, stage_with_file: bytes
) -> None:
    download = presign(server, "PRESIGN @s/data.bin").url
    (work / "evil.bin").write_bytes(b"evil")
    put_on_download, _ = curl("-T", "evil.bin", download, cwd=work)
    assert put_on_download.status == 403
    assert put_on_download.error()[0] == 1063
    assert (internal_dir(data_dir, "s") / "data.bin").read_bytes() == stage_with_file
    upload = presign(server, "PRESIGN UPLOAD @s/data.bin").url
    get_on_upload, _ = curl(upload, cwd=work)
    assert get_on_upload.status == 403
    assert get_on_upload.error()[0] == 1063
    assert request(upload, "HEAD").status == 403
    post = request(upload, "POST", b"x")
    assert post.status == 405
    assert post.error()[0] == 1006


def test_url_of_a_dropped_stage_is_404(server: ServerProcess, work: Path) -> None:
    server.query("CREATE STAGE gone")
    url = presign(server, "PRESIGN UPLOAD @gone/a.bin").url
    server.query("DROP STAGE gone")
    reply = request(url, "PUT", b"a")
    assert reply.status == 404
    assert reply.error()[0] == 2501


# -- the signing key lives in the data directory -------------------------------------


def _swap_host(url: str, server: ServerProcess) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{server.host}:{server.http_port}"))


def test_urls_work_across_servers_sharing_the_data_dir(
    data_dir: Path, tmp_path: Path, work: Path
) -> None:
    first = start_server(str(data_dir))
    second = start_server(str(data_dir))
    other_dir = tmp_path / "other-data"
    other_dir.mkdir()
    stranger = start_server(str(other_dir))
    try:
        assert (data_dir / "secrets" / "presign.key").exists()
        first.query("CREATE STAGE shared")
        stranger.query("CREATE STAGE shared")
        data = os.urandom(10_000)
        (work / "f.bin").write_bytes(data)
        upload = presign(first, "PRESIGN UPLOAD @shared/f.bin").url
        reply, _ = curl("-T", "f.bin", _swap_host(upload, second), cwd=work)
        assert reply.status == 200
        assert listing(first, "@shared") == {"f.bin": 10_000}
        download = presign(second, "PRESIGN @shared/f.bin").url
        reply, _ = curl(_swap_host(download, first), cwd=work)
        assert reply.body == data
        # Another data directory has another key.
        reply, _ = curl(_swap_host(download, stranger), cwd=work)
        assert reply.status == 403
    finally:
        for server in (first, second, stranger):
            server.stop()


def test_public_url_is_used_in_presigned_urls(data_dir: Path) -> None:
    server = start_server(str(data_dir), "--public-url", "https://files.example.com/base/")
    try:
        server.query("CREATE STAGE s")
        url = presign(server, "PRESIGN @s/a.csv").url
        assert url.startswith("https://files.example.com/base/v1/presigned/s/a.csv?")
    finally:
        server.stop()
