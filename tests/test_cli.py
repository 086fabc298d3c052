"""The ``stagedb`` command: version, configuration sources, start-up and shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
from conftest import start_server

STAGEDB = [sys.executable, "-m", "stagedb"]


def banner(process: subprocess.Popen[str]) -> list[str]:
    """The start-up lines a server prints, up to and including the data location."""
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Data: "):
        line = process.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    return lines


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STAGEDB, *args], capture_output=True, text=True, timeout=60, env=env)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("stagedb, version ")


def test_serve_help_lists_every_setting() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for flag in ("--host", "--mysql-port", "--http-port", "--data", "--config", "--root-password"):
        assert flag in result.stdout


def test_serve_prints_where_it_listens_and_the_data(tmp_path: Path) -> None:
    server = start_server(str(tmp_path / "d"))
    try:
        text = "".join(server.output)
        assert f"MySQL protocol: 127.0.0.1:{server.mysql_port}" in text
        assert f"HTTP: 127.0.0.1:{server.http_port}" in text
        assert f"Data: {tmp_path / 'd'}" in text
    finally:
        assert server.stop() == 0


def test_config_file_sets_the_data_location(tmp_path: Path) -> None:
    config = tmp_path / "stagedb.toml"
    config.write_text(f'data = "{tmp_path / "from-file"}"\nhttp-port = 0\n')
    # start_server passes --data; a config file is overridden by flags, so use env-less run:
    server = start_server(str(tmp_path / "from-flag"), "--config", str(config))
    try:
        assert f"Data: {tmp_path / 'from-flag'}" in "".join(server.output)
    finally:
        server.stop()
    process = subprocess.Popen(
        [*STAGEDB, "serve", "--config", str(config), "--mysql-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert f"Data: {tmp_path / 'from-file'}\n" in banner(process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_environment_variables_and_precedence(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "STAGEDB_DATA": str(tmp_path / "from-env")}
    process = subprocess.Popen(
        [*STAGEDB, "serve", "--mysql-port", "0", "--http-port", "0"], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert f"Data: {tmp_path / 'from-env'}\n" in banner(process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    server = start_server(str(tmp_path / "from-flag"), env={"STAGEDB_DATA": str(tmp_path / "x")})
    try:
        assert f"Data: {tmp_path / 'from-flag'}" in "".join(server.output)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("colour = 'red'\n", "Unknown key(s) colour"),
        ("data = \n", "is not valid TOML"),
    ],
)
def test_bad_config_files_are_rejected(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_config_file_is_rejected(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "Cannot read config file" in result.stderr


def test_bad_data_location_is_a_clear_error() -> None:
    result = run_cli("serve", "--mysql-port", "0", "--http-port", "0", "--data", "nosuch://x/y")
    assert result.returncode == 1
    assert "InvalidConfig. Code: 2002" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "serve", "--mysql-port", str(port), "--http-port", "0", "--data", str(tmp_path)
        )
    assert result.returncode == 1
    assert "Cannot listen on 127.0.0.1" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_cleanly_and_close_connections(tmp_path: Path, signum: int) -> None:
    server = start_server(str(tmp_path))
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE STAGE kept")
    server.process.send_signal(signum)
    assert server.process.wait(15) == 0
    assert "stagedb stopped" in "".join(server.output)
    with pytest.raises(pymysql.MySQLError), conn.cursor() as cur:
        cur.execute("SELECT 1")
    again = start_server(str(tmp_path))
    try:
        assert [r[0] for r in again.query("SHOW STAGES")] == ["kept"]
    finally:
        again.stop()
