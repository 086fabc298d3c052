"""Shared fixtures: a real stagedb server process on a free port, and clients for it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest

_LISTEN = re.compile(r"MySQL protocol: ([0-9.]+):(\d+)")
_HTTP = re.compile(r"HTTP: ([0-9.]+):(\d+)")


@dataclass
class ServerProcess:
    """A running ``stagedb serve`` process and what it printed."""

    process: subprocess.Popen[str]
    host: str
    mysql_port: int
    data: str
    http_port: int
    output: list[str] = field(default_factory=list)

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP side port."""
        return f"http://{self.host}:{self.http_port}"

    def connect(self, **kwargs: object) -> pymysql.connections.Connection:
        """A pymysql connection as root (autocommit, default cursor)."""
        options: dict[str, object] = {
            "host": self.host, "port": self.mysql_port, "user": "root", "password": "",
            "connect_timeout": 10, "read_timeout": 60, "autocommit": True,
        }  # fmt: skip
        options.update(kwargs)
        return pymysql.connect(**options)  # type: ignore[arg-type]

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Run one statement on a fresh connection and return all rows."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, and return the exit code (SIGKILL if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    data: str, *extra: str, env: dict[str, str] | None = None, timeout: float = 30.0
) -> ServerProcess:
    """Start ``stagedb serve`` on port 0 and wait until it accepts MySQL connections."""
    command = [sys.executable, "-m", "stagedb", "serve", "--mysql-port", "0",
               "--http-port", "0", "--data", data, *extra]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert process.stdout is not None
    output: list[str] = []
    found: list[tuple[str, int]] = []
    http: list[int] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if match := _LISTEN.search(line):
                found.append((match.group(1), int(match.group(2))))
            if match := _HTTP.search(line):
                http.append(int(match.group(2)))
            if line.startswith("Data: "):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    ready.wait(timeout)
    if not found or not http:
        process.kill()
        raise RuntimeError("stagedb did not start:\n" + "".join(output))
    host, port = found[0]
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return ServerProcess(process, host, port, data, http[0], output)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data root for one test."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    """A stagedb server on the local disk, stopped after the test."""
    proc = start_server(str(data_dir))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def memory_server() -> Iterator[ServerProcess]:
    """A stagedb server whose data root is fsspec's in-memory filesystem."""
    proc = start_server("memory://stagedb")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def external_dir(tmp_path: Path) -> Path:
    """An empty directory to point external stages at."""
    path = tmp_path / "external"
    path.mkdir()
    return path


def required_tool(what: str, *names: str) -> str:
    """Path of the first of ``names`` on PATH; skip without it (fail under CI, which installs it
    with mariadb-client)."""
    found = next((path for name in names if (path := shutil.which(name))), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is required under CI (apt-get install mariadb-client)")
        pytest.skip(f"{what} is not installed")
    return found


def mysql_cli() -> str | None:
    """Path of the ``mysql`` command-line client; skip (or fail under CI) without it."""
    return required_tool("the mysql CLI", "mysql", "mariadb")


# -- a moto S3 server for a module's tests (users, privileges, secrets) ---------------------


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Any]:
    """One moto S3 server for the module (see s3fixtures.MotoS3)."""
    from s3fixtures import MotoS3

    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()
