"""Databend's file upload API on the HTTP side port, against a real server, with real curl.

Seeds 000 and 001 (Databend's docs) give the curl commands; they run as
written, with only the host and port substituted (and once verbatim, on the
default port 8000).  Everything curl cannot send (bad multipart bodies,
disconnects, chunked bodies) is sent with http.client or a raw socket.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ServerProcess, start_server
from testtools import internal_stage_dir, stored_files, temp_files, wait_until

import stagedb

# The seeds' commands for the user stage and a named internal stage, verbatim.
SEED_000_USER = (
    'curl -u root: -H "stage_name:~" -F "upload=@books.parquet" '
    '-XPUT "http://localhost:8000/v1/upload_to_stage"'
)
SEED_000_INTERNAL = (
    'curl -u root: -H "stage_name:my_internal_stage" -F "upload=@books.parquet" '
    '-XPUT "http://localhost:8000/v1/upload_to_stage"'
)
SEED_001_INTERNAL = (
    'curl  -H "stage_name:my_internal_stage" -F "upload=@books.parquet" '
    '-XPUT "http://localhost:8000/v1/upload_to_stage"'
)
SEED_COMMANDS = {
    "000-user": (SEED_000_USER, "~"),
    "000-internal": (SEED_000_INTERNAL, "my_internal_stage"),
    "001-internal": (SEED_001_INTERNAL, "my_internal_stage"),
}

RESPONSE = re.compile(
    r'\{"id":"(?P<id>[0-9a-f-]{36})","stage_name":"(?P<stage>[^"]*)",'
    r'"state":"SUCCESS","files":\[(?P<files>.*)\]\}'
)
BOUNDARY = "stagedb-test-boundary-7f3a"


# -- helpers ------------------------------------------------------------------


@dataclass
class Reply:
    """An HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    def error(self) -> tuple[int, str]:
        """(code, message) of a Databend JSON error body."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        payload = self.json()
        assert isinstance(payload, dict) and set(payload) == {"error"}, payload
        error = payload["error"]
        assert set(error) == {"code", "message"}, error
        return error["code"], error["message"]


def _last_header_block(raw: str) -> tuple[int, dict[str, str]]:
    blocks = [b for b in re.split(r"\r?\n\r?\n", raw.strip()) if b.startswith("HTTP/")]
    status_line, *lines = blocks[-1].splitlines()
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def curl(*args: str, cwd: Path | None = None, allowed_exit: tuple[int, ...] = (0,)) -> Reply:
    """Run real curl; return the final response (interim 100s skipped)."""
    with_files = Path(cwd or ".")
    out, head = with_files / ".curl-body", with_files / ".curl-headers"
    result = subprocess.run(
        ["curl", "-sS", "-o", str(out), "-D", str(head), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in allowed_exit, result.stderr
    status, headers = _last_header_block(head.read_text(errors="replace"))
    body = out.read_bytes() if out.exists() else b""
    out.unlink(missing_ok=True)
    head.unlink()
    return Reply(status, headers, body)


def run_shell(command: str, cwd: Path) -> str:
    """Run a seed's command line as written; return what curl printed."""
    result = subprocess.run(
        command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def request(
    server: ServerProcess,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request with http.client (an iterator body is sent chunked)."""
    conn = http.client.HTTPConnection(server.host, server.http_port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def part(disposition: str, data: bytes, name: str = "upload") -> bytes:
    """One multipart part; ``disposition`` holds the filename parameter(s) as sent."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; {disposition}\r\n'
    return head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def upload_body(
    server: ServerProcess, body: bytes | Iterator[bytes], stage: str = "~", **extra: str
) -> Reply:
    headers = {"stage_name": stage, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    headers.update(extra)
    return request(server, "PUT", "/v1/upload_to_stage", body, headers)


def curl_upload(
    server: ServerProcess, stage: str, *forms: str, cwd: Path, extra: tuple[str, ...] = ()
) -> Reply:
    args = ["-u", "root:", "-H", f"stage_name:{stage}", *extra]
    for form in forms:
        args += ["-F", form]
    return curl(*args, "-XPUT", f"{server.http_url}/v1/upload_to_stage", cwd=cwd)


def listing(server: ServerProcess, location: str) -> dict[str, int]:
    """``LIST location`` as {name: size}."""
    return {str(row[0]): int(str(row[1])) for row in server.query(f"LIST {location}")}


def user_dir(data_dir: Path) -> Path:
    return data_dir / "stage" / "user" / "root"


def internal_dir(data_dir: Path, stage: str) -> Path:
    return internal_stage_dir(data_dir, stage)


def write_books(path: Path) -> int:
    """A small real Parquet file like the seeds' books.parquet; returns its size."""
    table = pa.table(
        {
            "title": ["Transaction Processing", "Readings in Database Systems"],
            "author": ["Jim Gray", "Michael Stonebraker"],
            "date": ["1992", "2004"],
        }
    )
    pq.write_table(table, path)
    return path.stat().st_size


def check_success(reply: Reply, stage: str, files: list[str]) -> None:
    """The exact Databend response: compact JSON, a uuid4, the stage as sent, the files."""
    assert reply.status == 200, reply
    assert reply.headers["content-type"].startswith("application/json")
    text = reply.body.decode()
    match = RESPONSE.fullmatch(text)
    assert match, text
    assert uuid.UUID(match["id"]).version == 4
    assert json.loads(text) == {
        "id": match["id"],
        "stage_name": stage,
        "state": "SUCCESS",
        "files": files,
    }


def server_log(server: ServerProcess) -> str:
    return "".join(server.output)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A directory for the files the client uploads."""
    path = tmp_path / "client"
    path.mkdir()
    return path


# -- the seeds' commands --------------------------------------------------------


def _port_is_free(family: socket.AddressFamily, host: str, port: int) -> str | None:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                return f"something is listening on {host}:{port}"
    except OSError:
        pass  # no IPv6 here: nothing can answer curl's 'localhost' on ::1 either
    return None


def test_seed_commands_verbatim_on_default_port(data_dir: Path, work: Path) -> None:
    """Seeds 000 and 001, character for character, against a server on port 8000."""
    busy = _port_is_free(socket.AF_INET, "127.0.0.1", 8000) or _port_is_free(
        socket.AF_INET6, "::1", 8000
    )
    if busy:
        pytest.fail(f"this test needs the default HTTP port 8000, but {busy}; free it and rerun")
    try:
        server = start_server(str(data_dir), "--http-port", "8000")
    except RuntimeError as error:
        pytest.fail(f"could not start stagedb on port 8000 (busy?): {error}")
    try:
        assert server.http_port == 8000
        size = write_books(work / "books.parquet")
        server.query("CREATE STAGE my_internal_stage")
        for command, stage in SEED_COMMANDS.values():
            printed = run_shell(command, work)
            check_success(
                Reply(200, {"content-type": "application/json"}, printed.encode()),
                stage,
                ["books.parquet"],
            )
        assert listing(server, "@~") == {"books.parquet": size}
        assert listing(server, "@my_internal_stage") == {"books.parquet": size}
        books = (work / "books.parquet").read_bytes()
        assert (user_dir(data_dir) / "books.parquet").read_bytes() == books
        assert (internal_dir(data_dir, "my_internal_stage") / "books.parquet").read_bytes() == books
    finally:
        server.stop()


@pytest.mark.parametrize("seed", list(SEED_COMMANDS))
def test_seed_command_with_host_and_port_substituted(
    server: ServerProcess, data_dir: Path, work: Path, seed: str
) -> None:
    command, stage = SEED_COMMANDS[seed]
    command = command.replace("localhost:8000", f"{server.host}:{server.http_port}")
    size = write_books(work / "books.parquet")
    if stage != "~":
        server.query(f"CREATE STAGE {stage}")
    printed = run_shell(command, work)
    check_success(
        Reply(200, {"content-type": "application/json"}, printed.encode()), stage, ["books.parquet"]
    )
    assert listing(server, f"@{stage}") == {"books.parquet": size}
    rows = server.query(f"LIST @{stage}")
    assert rows[0][2] is None and rows[0][4] is None  # md5 and creator


# -- the request: methods, headers, parts, stages ----------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("stage_header", ["stage_name", "x-databend-stage-name"])
def test_methods_and_stage_header_names(
    server: ServerProcess, work: Path, method: str, stage_header: str
) -> None:
    (work / "a.csv").write_text("1,2\n")
    reply = curl(
        "-H",
        f"{stage_header}: ~",
        "-F",
        "upload=@a.csv",
        "-X",
        method,
        f"{server.http_url}/v1/upload_to_stage",
        cwd=work,
    )
    check_success(reply, "~", ["a.csv"])
    assert listing(server, "@~") == {"a.csv": 4}


@pytest.mark.parametrize("header", ["relative_path", "x-databend-relative-path"])
@pytest.mark.parametrize("value", ["dir/sub", "/dir/sub/", "dir/sub/", "//dir/sub"])
def test_relative_path_headers_with_slashes_trimmed(
    server: ServerProcess, data_dir: Path, work: Path, header: str, value: str
) -> None:
    (work / "a.csv").write_text("x")
    reply = curl_upload(server, "~", "upload=@a.csv", cwd=work, extra=("-H", f"{header}: {value}"))
    check_success(reply, "~", ["a.csv"])
    assert listing(server, "@~") == {"dir/sub/a.csv": 1}
    assert stored_files(user_dir(data_dir)) == ["dir/sub/a.csv"]


def test_many_files_under_any_field_names(server: ServerProcess, work: Path) -> None:
    sizes = {"a.csv": 3, "b.json": 10, "c.parquet": 100}
    for name, size in sizes.items():
        (work / name).write_bytes(os.urandom(size))
    reply = curl_upload(server, "~", "upload=@a.csv", "file=@b.json", "x[]=@c.parquet", cwd=work)
    check_success(reply, "~", ["a.csv", "b.json", "c.parquet"])
    assert listing(server, "@~") == sizes


def test_fifty_files_in_one_request(server: ServerProcess, data_dir: Path, work: Path) -> None:
    names = [f"file_{i:02}.csv" for i in range(50)]
    for i, name in enumerate(names):
        (work / name).write_bytes(b"x" * i)
    server.query("CREATE STAGE many")
    reply = curl_upload(server, "many", *(f"f{i}=@{n}" for i, n in enumerate(names)), cwd=work)
    check_success(reply, "many", names)
    assert listing(server, "@many") == {name: i for i, name in enumerate(names)}


def test_internal_stage(server: ServerProcess, data_dir: Path, work: Path) -> None:
    (work / "books.csv").write_text("a,b\n")
    server.query("CREATE STAGE books_stage")
    check_success(
        curl_upload(server, "books_stage", "upload=@books.csv", cwd=work),
        "books_stage",
        ["books.csv"],
    )
    assert listing(server, "@books_stage") == {"books.csv": 4}
    assert stored_files(internal_dir(data_dir, "books_stage")) == ["books.csv"]
    assert listing(server, "@~") == {}


def test_external_fs_stage(server: ServerProcess, external_dir: Path, work: Path) -> None:
    (work / "ext.csv").write_text("external\n")
    server.query(f"CREATE STAGE ext URL = 'fs://{external_dir}/'")
    reply = curl_upload(
        server,
        "ext",
        "upload=@ext.csv",
        cwd=work,
        extra=("-H", "x-databend-relative-path: in/here"),
    )
    check_success(reply, "ext", ["ext.csv"])
    assert (external_dir / "in" / "here" / "ext.csv").read_text() == "external\n"
    assert listing(server, "@ext") == {"in/here/ext.csv": 9}


def test_existing_file_is_overwritten(server: ServerProcess, data_dir: Path, work: Path) -> None:
    target = work / "same.txt"
    target.write_text("first version, longer")
    check_success(curl_upload(server, "~", "upload=@same.txt", cwd=work), "~", ["same.txt"])
    target.write_text("second")
    check_success(curl_upload(server, "~", "upload=@same.txt", cwd=work), "~", ["same.txt"])
    assert listing(server, "@~") == {"same.txt": 6}
    assert (user_dir(data_dir) / "same.txt").read_text() == "second"
    assert temp_files(user_dir(data_dir)) == []


def test_stage_name_is_echoed_as_sent(server: ServerProcess, work: Path) -> None:
    server.query("CREATE STAGE Mixed_Case_1")
    (work / "a").write_text("a")
    reply = curl(
        "-H",
        "x-databend-stage-name:   Mixed_Case_1  ",
        "-F",
        "upload=@a",
        f"{server.http_url}/v1/upload_to_stage",
        cwd=work,
    )
    check_success(reply, "Mixed_Case_1", ["a"])


# -- sizes and names ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1])
def test_tiny_files(server: ServerProcess, data_dir: Path, work: Path, size: int) -> None:
    data = os.urandom(size)
    (work / "tiny.bin").write_bytes(data)
    check_success(curl_upload(server, "~", "upload=@tiny.bin", cwd=work), "~", ["tiny.bin"])
    assert listing(server, "@~") == {"tiny.bin": size}
    assert (user_dir(data_dir) / "tiny.bin").read_bytes() == data


@pytest.mark.parametrize(
    "name", ["my file.csv", "résumé 2024.csv", "数据 文件.parquet", "emoji 🚀.txt", "a%20b.txt"]
)
def test_unicode_and_spaces_in_names(
    server: ServerProcess, data_dir: Path, work: Path, name: str
) -> None:
    (work / name).write_text("hello")
    reply = curl_upload(server, "~", f"upload=@{name}", cwd=work)
    check_success(reply, "~", [name])
    assert name.encode() in reply.body  # raw UTF-8, as Databend writes JSON
    assert listing(server, "@~") == {name: 5}
    assert (user_dir(data_dir) / name).read_text() == "hello"


def test_filename_star_parameter_is_decoded(server: ServerProcess, data_dir: Path) -> None:
    body = multipart(part("filename*=UTF-8''na%C3%AFve%20name.txt", b"12345"))
    check_success(upload_body(server, body), "~", ["naïve name.txt"])
    assert listing(server, "@~") == {"naïve name.txt": 5}


def test_multipart_body_without_content_length_is_streamed(
    server: ServerProcess, data_dir: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    body = multipart(part('filename="chunked.bin"', data))
    pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
    check_success(upload_body(server, pieces), "~", ["chunked.bin"])
    assert (user_dir(data_dir) / "chunked.bin").read_bytes() == data


@pytest.mark.slow
def test_one_gib_file_is_streamed(server: ServerProcess, data_dir: Path, work: Path) -> None:
    """1 GiB through curl -F: stored whole and byte-identical, in bounded server memory,
    while the event loop keeps answering other requests."""
    source = work / "big.bin"
    digest = hashlib.sha256()
    block = 1024 * 1024
    with source.open("wb") as handle:
        for i in range(1024):
            chunk = os.urandom(block) if i % 64 == 0 else bytes([i % 251]) * block
            digest.update(chunk)
            handle.write(chunk)
    started = time.monotonic()
    upload = subprocess.Popen(
        [
            "curl",
            "-sS",
            "-u",
            "root:",
            "-H",
            "stage_name:~",
            "-F",
            "upload=@big.bin",
            f"{server.http_url}/v1/upload_to_stage",
        ],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    slowest = 0.0
    while upload.poll() is None:
        asked = time.monotonic()
        assert request(server, "GET", "/v1/health").status == 200
        slowest = max(slowest, time.monotonic() - asked)
        time.sleep(0.05)
    printed, complaints = upload.communicate()
    elapsed = time.monotonic() - started
    source.unlink()
    assert upload.returncode == 0, complaints
    check_success(Reply(200, {"content-type": "application/json"}, printed), "~", ["big.bin"])
    assert listing(server, "@~") == {"big.bin": 1024**3}
    with (user_dir(data_dir) / "big.bin").open("rb") as stored:
        assert hashlib.file_digest(stored, "sha256").hexdigest() == digest.hexdigest()
    assert elapsed < 60, f"1 GiB took {elapsed:.1f}s"
    assert slowest < 1.0, f"the event loop stalled for {slowest:.2f}s during the upload"
    status = Path(f"/proc/{server.process.pid}/status")
    if status.exists():  # Linux: the server's peak resident memory
        peak_kib = int(re.search(r"VmHWM:\s+(\d+)", status.read_text())[1])  # type: ignore[index]
        assert peak_kib < 256 * 1024, f"server peak RSS {peak_kib} KiB: is the body buffered?"


# -- concurrency, disconnects, truncation ---------------------------------------


def test_concurrent_uploads_of_one_name_leave_one_whole_upload(
    server: ServerProcess, data_dir: Path, work: Path
) -> None:
    size = 4 * 1024 * 1024
    contents = {}
    for i in range(10):
        folder = work / str(i)
        folder.mkdir()
        data = bytes([65 + i]) * size
        (folder / "same.bin").write_bytes(data)
        contents[hashlib.sha256(data).hexdigest()] = i

    def upload(i: int) -> Reply:
        return curl_upload(server, "~", "upload=@same.bin", cwd=work / str(i))

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(upload, range(10)))
    for reply in replies:
        check_success(reply, "~", ["same.bin"])
    stored = (user_dir(data_dir) / "same.bin").read_bytes()
    assert len(stored) == size
    assert hashlib.sha256(stored).hexdigest() in contents, "a mix of several uploads"
    assert stored_files(user_dir(data_dir)) == ["same.bin"]
    assert listing(server, "@~") == {"same.bin": size}


def _send_partial_upload(server: ServerProcess, name: str, chunked: bool) -> socket.socket:
    """Open a connection and send headers plus a part of a big multipart body."""
    head = part(f'filename="{name}"', b"")[: -len(b"\r\n")]
    data = os.urandom(2 * 1024 * 1024)
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 500000000"
    sock = socket.create_connection((server.host, server.http_port), timeout=10)
    sock.sendall(
        (
            "PUT /v1/upload_to_stage HTTP/1.1\r\nHost: test\r\nstage_name: ~\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n"
        ).encode()
    )
    for piece in (head, data):
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
    return sock


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_disconnect_mid_upload_leaves_nothing(
    server: ServerProcess, data_dir: Path, work: Path, chunked: bool
) -> None:
    root = user_dir(data_dir)
    sock = _send_partial_upload(server, "gone.bin", chunked)
    assert wait_until(lambda: temp_files(root)), "the upload never started streaming to disk"
    assert not (root / "gone.bin").exists()  # invisible until complete
    sock.close()
    assert wait_until(lambda: not temp_files(root)), f"left behind: {temp_files(root)}"
    assert stored_files(root) == []
    # The server keeps serving.
    (work / "next.txt").write_text("next")
    check_success(curl_upload(server, "~", "upload=@next.txt", cwd=work), "~", ["next.txt"])
    assert listing(server, "@~") == {"next.txt": 4}
    assert "Traceback" not in server_log(server)


def test_many_disconnects_do_not_hurt_the_server(server: ServerProcess, data_dir: Path) -> None:
    socks = [_send_partial_upload(server, f"gone{i}.bin", i % 2 == 0) for i in range(8)]
    for sock in socks:
        sock.close()
    root = user_dir(data_dir)
    assert wait_until(lambda: not temp_files(root)), temp_files(root)
    assert stored_files(root) == []
    assert request(server, "GET", "/v1/health").status == 200


@pytest.mark.parametrize(
    "tail",
    [b"", b"\r\n", b"\r\n--" + BOUNDARY.encode()[:5], b"\r\n--" + BOUNDARY.encode() + b"\r\n"],
    ids=["no-boundary", "crlf-only", "half-boundary", "delimiter-then-eof"],
)
def test_truncated_multipart_body_never_becomes_a_file(
    server: ServerProcess, data_dir: Path, tail: bytes
) -> None:
    """A complete request (Content-Length matches) whose body lacks the closing boundary."""
    data = b"partial content " * 100
    body = part('filename="truncated.bin"', b"")[: -len(b"\r\n")] + data + tail
    reply = upload_body(server, body)
    if tail.endswith(b"\r\n--" + BOUNDARY.encode() + b"\r\n"):
        # The part itself was delimited, hence complete; the body then ends before the next.
        assert reply.status == 400, reply
        assert reply.error()[0] == 1006
        assert (user_dir(data_dir) / "truncated.bin").read_bytes() == data
    else:
        assert reply.status == 400, reply
        code, message = reply.error()
        assert code == 1006 and "boundary" in message
        assert not (user_dir(data_dir) / "truncated.bin").exists()
    assert temp_files(user_dir(data_dir)) == []
    assert "Traceback" not in server_log(server)


def test_truncated_second_part_is_not_stored(server: ServerProcess, data_dir: Path) -> None:
    body = part('filename="whole.txt"', b"whole") + part('filename="cut.txt"', b"cut off")
    reply = upload_body(server, body[: -len(b"\r\n")])  # no delimiter after the second part
    assert reply.status == 400
    assert reply.error()[0] == 1006
    assert stored_files(user_dir(data_dir)) == ["whole.txt"]


def test_connection_is_reusable_after_a_rejected_body(server: ServerProcess) -> None:
    conn = http.client.HTTPConnection(server.host, server.http_port, timeout=30)
    headers = {"stage_name": "~", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    conn.request("PUT", "/v1/upload_to_stage", part('filename="x"', b"x"), headers)
    first = conn.getresponse()
    first.read()
    assert first.status == 400
    conn.request("PUT", "/v1/upload_to_stage", multipart(part('filename="y"', b"y")), headers)
    second = conn.getresponse()
    assert second.status == 200, second.read()
    conn.close()


# -- DROP / CREATE OR REPLACE -------------------------------------------------------


def test_drop_stage_removes_uploaded_files(
    server: ServerProcess, data_dir: Path, work: Path
) -> None:
    (work / "a.csv").write_text("a")
    server.query("CREATE STAGE doomed")
    curl_upload(server, "doomed", "upload=@a.csv", cwd=work)
    curl_upload(server, "doomed", "upload=@a.csv", cwd=work, extra=("-H", "relative_path: d/e"))
    stage_dir = internal_dir(data_dir, "doomed")
    assert stored_files(stage_dir) == ["a.csv", "d/e/a.csv"]
    server.query("DROP STAGE doomed")
    assert stored_files(stage_dir) == []
    server.query("CREATE STAGE doomed")
    assert listing(server, "@doomed") == {}


def test_create_or_replace_stage_removes_uploaded_files(
    server: ServerProcess, data_dir: Path, work: Path
) -> None:
    (work / "a.csv").write_text("a")
    server.query("CREATE STAGE replaced")
    check_success(curl_upload(server, "replaced", "upload=@a.csv", cwd=work), "replaced", ["a.csv"])
    old_dir = internal_dir(data_dir, "replaced")
    server.query("CREATE OR REPLACE STAGE replaced")
    assert stored_files(old_dir) == []
    assert stored_files(internal_dir(data_dir, "replaced")) == []
    assert listing(server, "@replaced") == {}


def test_drop_external_stage_keeps_its_files(
    server: ServerProcess, external_dir: Path, work: Path
) -> None:
    (work / "keep.csv").write_text("keep")
    server.query(f"CREATE STAGE ext_keep URL = 'fs://{external_dir}/'")
    curl_upload(server, "ext_keep", "upload=@keep.csv", cwd=work)
    server.query("DROP STAGE ext_keep")
    assert (external_dir / "keep.csv").read_text() == "keep"


# -- errors -----------------------------------------------------------------------


def test_missing_stage_header_is_400(server: ServerProcess, work: Path) -> None:
    (work / "a").write_text("a")
    reply = curl(
        "-u", "root:", "-F", "upload=@a", "-XPUT", f"{server.http_url}/v1/upload_to_stage", cwd=work
    )
    assert reply.status == 400
    code, message = reply.error()
    assert code == 1006 and "stage_name" in message


@pytest.mark.parametrize("form", ["upload=hello", "upload=<a.txt"], ids=["value", "from-file"])
def test_part_without_filename_is_400_with_the_curl_hint(
    server: ServerProcess, data_dir: Path, work: Path, form: str
) -> None:
    (work / "a.txt").write_text("a")
    reply = curl_upload(server, "~", form, cwd=work)
    assert reply.status == 400
    code, message = reply.error()
    assert code == 1006
    assert "-F 'upload=@" in message
    assert stored_files(user_dir(data_dir)) == []


def test_no_file_at_all_is_400(server: ServerProcess) -> None:
    reply = upload_body(server, f"--{BOUNDARY}--\r\n".encode())
    assert reply.status == 400
    assert "-F 'upload=@" in reply.error()[1]


@pytest.mark.parametrize("size", [10, 3 * 1024 * 1024], ids=["small", "expect-100"])
def test_unknown_stage_is_404(server: ServerProcess, work: Path, size: int) -> None:
    (work / "a.bin").write_bytes(b"a" * size)
    reply = curl_upload(server, "no_such_stage", "upload=@a.bin", cwd=work)
    assert reply.status == 404
    assert reply.error() == (2501, "Stage 'no_such_stage' does not exist")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + "cm9vdDp3cm9uZw==",  # root:wrong
        "Basic " + "Ym9iOg==",  # bob: (no such user)
        "Basic !!!not base64!!!",
        "Basic " + "cm9vdA==",  # "root": no colon
        "Basic w6k=",  # not UTF-8 once decoded
        "Basic",
        "Bearer some-token",
        "Digest username=root",
    ],
    ids=[
        "wrong-password",
        "unknown-user",
        "not-base64",
        "no-colon",
        "not-utf8",
        "empty",
        "bearer",
        "digest",
    ],
)
def test_bad_credentials_are_401(server: ServerProcess, data_dir: Path, authorization: str) -> None:
    body = multipart(part('filename="a.txt"', b"a"))
    reply = upload_body(server, body, Authorization=authorization)
    assert reply.status == 401, reply
    assert reply.error()[0] == 2201
    assert reply.headers["www-authenticate"].startswith("Basic")
    assert stored_files(user_dir(data_dir)) == []


def test_non_ascii_authorization_header_is_401(server: ServerProcess) -> None:
    sock = socket.create_connection((server.host, server.http_port), timeout=10)
    sock.sendall(
        b"PUT /v1/upload_to_stage HTTP/1.1\r\nHost: t\r\nstage_name: ~\r\n"
        b"Authorization: Basic \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n"
    )
    response = sock.recv(65536)
    sock.close()
    assert response.startswith(b"HTTP/1.1 401"), response


def test_anonymous_and_passwords_on_a_server_with_a_root_password(
    data_dir: Path, work: Path
) -> None:
    server = start_server(str(data_dir), "--root-password", "secret")
    try:
        (work / "a.txt").write_text("a")
        url = f"{server.http_url}/v1/upload_to_stage"
        anonymous = curl("-H", "stage_name:~", "-F", "upload=@a.txt", "-XPUT", url, cwd=work)
        assert anonymous.status == 401
        assert anonymous.error()[0] == 2201
        empty = curl("-u", "root:", "-H", "stage_name:~", "-F", "upload=@a.txt", url, cwd=work)
        assert empty.status == 401
        good = curl("-u", "root:secret", "-H", "stage_name:~", "-F", "upload=@a.txt", url, cwd=work)
        check_success(good, "~", ["a.txt"])
        health = request(server, "GET", "/v1/health")
        assert health.status == 200
        assert health.json() == {"status": "ok", "version": stagedb.__version__}
    finally:
        server.stop()


def test_anonymous_is_refused_when_listening_beyond_loopback(data_dir: Path, work: Path) -> None:
    # beyond loopback root needs a password (issue 6: the server refuses to start without one)
    server = start_server(str(data_dir), "--host", "0.0.0.0", "--root-password", "pw")
    try:
        (work / "a.txt").write_text("a")
        url = f"http://127.0.0.1:{server.http_port}/v1/upload_to_stage"
        anonymous = curl("-H", "stage_name:~", "-F", "upload=@a.txt", url, cwd=work)
        assert anonymous.status == 401
        check_success(
            curl("-u", "root:pw", "-H", "stage_name:~", "-F", "upload=@a.txt", url, cwd=work),
            "~",
            ["a.txt"],
        )
    finally:
        server.stop()


@pytest.fixture
def small_limit_server(data_dir: Path) -> Iterator[ServerProcess]:
    """A server whose max_upload_size is 1000 bytes."""
    server = start_server(str(data_dir), "--max-upload-size", "1000")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("size", [2000, 3 * 1024 * 1024], ids=["small", "expect-100"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upload_over_max_upload_size_is_413_and_stores_nothing(
    small_limit_server: ServerProcess, data_dir: Path, work: Path, size: int, chunked: bool
) -> None:
    (work / "big.bin").write_bytes(os.urandom(size))
    extra = ("-H", "Transfer-Encoding: chunked") if chunked else ()
    started = time.monotonic()
    reply = curl_upload(small_limit_server, "~", "upload=@big.bin", cwd=work, extra=extra)
    assert time.monotonic() - started < 15
    assert reply.status == 413, reply
    code, message = reply.error()
    assert code == 1006 and "max_upload_size" in message
    assert stored_files(user_dir(data_dir)) == []
    assert listing(small_limit_server, "@~") == {}


def test_upload_under_max_upload_size_is_accepted(
    small_limit_server: ServerProcess, work: Path
) -> None:
    (work / "ok.bin").write_bytes(b"o" * 500)
    check_success(curl_upload(small_limit_server, "~", "upload=@ok.bin", cwd=work), "~", ["ok.bin"])


def test_chunked_body_over_the_limit_without_content_length(
    small_limit_server: ServerProcess, data_dir: Path
) -> None:
    body = multipart(part('filename="over.bin"', b"z" * 5000))
    reply = upload_body(small_limit_server, iter([body[:100], body[100:3000], body[3000:]]))
    assert reply.status == 413
    assert stored_files(user_dir(data_dir)) == []


def _expect_exchange(server: ServerProcess, headers: str) -> bytes:
    """Send headers with Expect: 100-continue and no body; return what the server says."""
    sock = socket.create_connection((server.host, server.http_port), timeout=10)
    try:
        sock.sendall(
            (
                "PUT /v1/upload_to_stage HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{headers}\r\n"
            ).encode()
        )
        received = b""
        while b"\r\n\r\n" not in received:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
        return received
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("stage_name: ~\r\nContent-Length: 1000000000\r\n", b"413"),
        ("stage_name: nope\r\nContent-Length: 10\r\n", b"404"),
        ("Content-Length: 10\r\n", b"400"),
        ("stage_name: ~\r\nAuthorization: Basic Ym9iOg==\r\nContent-Length: 10\r\n", b"401"),
        ("stage_name: ~\r\nContent-Length: 10\r\n", b"100"),
    ],
    ids=["too-large", "unknown-stage", "no-stage", "bad-credentials", "accepted"],
)
def test_expect_100_continue_only_when_the_headers_pass(
    small_limit_server: ServerProcess, headers: str, status: bytes
) -> None:
    """A rejected upload is answered before its body is sent (no 100 Continue first)."""
    received = _expect_exchange(small_limit_server, headers)
    assert received.startswith(b"HTTP/1.1 " + status), received


def test_unsupported_expectation_is_417(server: ServerProcess) -> None:
    reply = request(server, "PUT", "/v1/upload_to_stage", b"", {"Expect": "something-else"})
    assert reply.status == 417
    assert reply.error()[0] == 1006


@pytest.mark.parametrize(
    "disposition",
    [
        'filename="../escape.txt"',
        'filename="a/../../escape.txt"',
        "filename*=UTF-8''..%2Fescape.txt",
        "filename*=UTF-8''%2Fetc%2Fescape.txt",
        "filename*=UTF-8''%2F%2Fescape.txt",
        "filename*=UTF-8''escape%00.txt",
        "filename*=UTF-8''a%5Cescape.txt",
        'filename="a\\\\escape.txt"',
        'filename="."',
        'filename="./escape.txt"',
        'filename="dir/"',
        'filename="a//escape.txt"',
        'filename=".stagedb-tmp-escape.txt"',
    ],
)
def test_bad_filenames_are_400(
    server: ServerProcess, data_dir: Path, tmp_path: Path, disposition: str
) -> None:
    reply = upload_body(server, multipart(part(disposition, b"payload")))
    assert reply.status == 400, reply
    assert reply.error()[0] == 1006
    assert stored_files(data_dir / "stage") == []
    assert not [p for p in tmp_path.rglob("*escape*")]
    assert not Path("/etc/escape.txt").exists()


def test_leading_slashes_in_a_quoted_filename_stay_inside_the_stage(
    server: ServerProcess, data_dir: Path
) -> None:
    """aiohttp drops leading slashes of a quoted filename: the file lands in the stage."""
    reply = upload_body(server, multipart(part('filename="/inside.txt"', b"in")))
    check_success(reply, "~", ["inside.txt"])
    assert stored_files(user_dir(data_dir)) == ["inside.txt"]


@pytest.mark.parametrize("value", ["../up", "a/../../up", "a\\b", "./a", "a/./b", "a//b"])
def test_bad_relative_paths_are_400(server: ServerProcess, data_dir: Path, value: str) -> None:
    body = multipart(part('filename="f.txt"', b"f"))
    for header in ("relative_path", "x-databend-relative-path"):
        reply = upload_body(server, body, **{header: value})
        assert reply.status == 400, reply
        assert reply.error()[0] == 1006
    assert stored_files(data_dir / "stage") == []


def test_absolute_relative_path_is_made_relative(server: ServerProcess, data_dir: Path) -> None:
    """Slashes are trimmed (as Databend does): an absolute path lands inside the stage."""
    body = multipart(part('filename="f.txt"', b"f"))
    check_success(upload_body(server, body, relative_path="/tmp/abs"), "~", ["f.txt"])
    assert stored_files(user_dir(data_dir)) == ["tmp/abs/f.txt"]


def test_nul_in_a_relative_path_header_is_400(server: ServerProcess, data_dir: Path) -> None:
    body = multipart(part('filename="f.txt"', b"f"))
    sock = socket.create_connection((server.host, server.http_port), timeout=10)
    sock.sendall(
        b"PUT /v1/upload_to_stage HTTP/1.1\r\nHost: t\r\nstage_name: ~\r\n"
        b"relative_path: a\x00b\r\n"
        + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    response = sock.recv(65536)
    sock.close()
    # aiohttp's HTTP parser refuses the header itself (a plain-text 400, before any handler).
    assert re.match(rb"HTTP/1\.[01] 400 ", response), response
    assert stored_files(data_dir / "stage") == []


def _raw_upload(server: ServerProcess, extra_headers: bytes, body: bytes) -> bytes:
    """Send one upload request byte for byte; return the response's first bytes."""
    sock = socket.create_connection((server.host, server.http_port), timeout=10)
    try:
        sock.sendall(
            b"PUT /v1/upload_to_stage HTTP/1.1\r\nHost: t\r\n"
            + extra_headers
            + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return sock.recv(65536)
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("headers", "filename"),
    [
        (b"stage_name: ~\r\n", b"\xff\xfe.txt"),
        (b"stage_name: \xff\r\n", b"f.txt"),
        (b"stage_name: ~\r\nrelative_path: a\xffb\r\n", b"f.txt"),
    ],
    ids=["filename", "stage-name", "relative-path"],
)
def test_text_that_is_not_utf8_is_400(
    server: ServerProcess, data_dir: Path, headers: bytes, filename: bytes
) -> None:
    disposition = b'Content-Disposition: form-data; name="upload"; filename="%s"' % filename
    body = b"--%s\r\n%s\r\n\r\ndata\r\n--%s--\r\n" % (
        BOUNDARY.encode(),
        disposition,
        BOUNDARY.encode(),
    )
    response = _raw_upload(server, headers, body)
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), response
    payload = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert payload["error"]["code"] == 1006
    assert "UTF-8" in payload["error"]["message"]
    assert stored_files(data_dir / "stage") == []
    assert "Traceback" not in server_log(server)


def test_valid_utf8_in_headers_is_accepted(server: ServerProcess, data_dir: Path) -> None:
    body = multipart(part('filename="f.txt"', b"data"))
    response = _raw_upload(server, b"stage_name: ~\r\nrelative_path: \xc3\xa9t\xc3\xa9\r\n", body)
    assert response.startswith(b"HTTP/1.1 200"), response
    assert stored_files(user_dir(data_dir)) == ["été/f.txt"]


def test_shutdown_during_an_upload_leaves_nothing(data_dir: Path) -> None:
    server = start_server(str(data_dir))
    try:
        sock = _send_partial_upload(server, "interrupted.bin", chunked=False)
        root = user_dir(data_dir)
        assert wait_until(lambda: temp_files(root))
        assert server.stop() == 0
        sock.close()
        assert stored_files(root) == []
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", b"raw bytes"),
        ("application/x-www-form-urlencoded", b"upload=abc"),
        ("text/plain", b""),
        ("multipart/form-data", b"--x\r\n"),  # no boundary parameter
        ("multipart/mixed; boundary=" + BOUNDARY, multipart(part('filename="m"', b"m"))),
    ],
)
def test_non_multipart_body_is_400(
    server: ServerProcess, data_dir: Path, content_type: str, body: bytes
) -> None:
    reply = request(
        server,
        "PUT",
        "/v1/upload_to_stage",
        body,
        {"stage_name": "~", "Content-Type": content_type},
    )
    assert reply.status == 400, reply
    assert reply.error()[0] == 1006
    assert stored_files(data_dir / "stage") == []


def test_curl_data_binary_is_400_with_the_hint(server: ServerProcess, work: Path) -> None:
    (work / "a.csv").write_text("a")
    reply = curl(
        "-H",
        "stage_name:~",
        "--data-binary",
        "@a.csv",
        f"{server.http_url}/v1/upload_to_stage",
        cwd=work,
    )
    assert reply.status == 400
    assert "-F 'upload=@" in reply.error()[1]


def test_malformed_multipart_is_400(server: ServerProcess, data_dir: Path) -> None:
    body = b"garbage before\r\nno boundary at all\r\n"
    reply = upload_body(server, body)
    assert reply.status == 400
    assert reply.error()[0] == 1006
    assert "Traceback" not in server_log(server)


def test_wrong_method_and_unknown_route_answer_json(server: ServerProcess) -> None:
    wrong = request(server, "GET", "/v1/upload_to_stage")
    assert wrong.status == 405
    assert wrong.error()[0] == 1006
    assert "PUT" in wrong.headers["allow"]
    missing = request(server, "GET", "/v1/nothing")
    assert missing.status == 404
    assert missing.error()[0] == 1006


def test_health_needs_no_credentials(server: ServerProcess) -> None:
    reply = request(server, "GET", "/v1/health")
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "version": stagedb.__version__}
    assert curl(f"{server.http_url}/v1/health").json() == reply.json()


def test_upload_url_is_quoted_by_curl_like_a_browser(server: ServerProcess, work: Path) -> None:
    """The stage name travels in a header, the path is fixed: query strings are ignored."""
    (work / "q.txt").write_text("q")
    url = f"{server.http_url}/v1/upload_to_stage?" + urllib.parse.urlencode({"x": "y"})
    reply = curl("-H", "stage_name:~", "-F", "upload=@q.txt", url, cwd=work)
    check_success(reply, "~", ["q.txt"])
