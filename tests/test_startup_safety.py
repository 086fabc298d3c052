"""The server refuses to listen beyond loopback while root has no password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
from conftest import start_server

STAGEDB = [sys.executable, "-m", "stagedb", "serve", "--mysql-port", "0", "--http-port", "0"]


def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STAGEDB_")}
    return subprocess.run(
        [*STAGEDB, "--data", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60, env={**environment, **(env or {})},
    )  # fmt: skip


def check_refused(result: subprocess.CompletedProcess[str], host: str) -> None:
    assert result.returncode != 0, result.stdout
    message = result.stderr
    assert "root has no password" in message, message
    assert host in message
    for way in ("--root-password", "STAGEDB_ROOT_PASSWORD", "root_password"):
        assert way in message, message
    assert "MySQL protocol:" not in result.stdout  # it never listened


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_any_address_beyond_loopback_without_root_password_is_refused(
    tmp_path: Path, host: str
) -> None:
    check_refused(serve(tmp_path, "--host", host), host)


def test_host_from_the_environment_or_config_file_is_checked_too(tmp_path: Path) -> None:
    check_refused(serve(tmp_path, env={"STAGEDB_HOST": "0.0.0.0"}), "0.0.0.0")
    config = tmp_path / "stagedb.toml"
    config.write_text('host = "0.0.0.0"\n')
    check_refused(serve(tmp_path, "--config", str(config)), "0.0.0.0")


def test_an_empty_password_is_no_password(tmp_path: Path) -> None:
    check_refused(serve(tmp_path, "--host", "0.0.0.0", "--root-password", ""), "0.0.0.0")


@pytest.mark.parametrize("source", ["flag", "environment", "config file"])
def test_with_a_root_password_it_listens_beyond_loopback(tmp_path: Path, source: str) -> None:
    args: tuple[str, ...] = ("--host", "0.0.0.0")
    env: dict[str, str] = {}
    if source == "flag":
        args += ("--root-password", "s3cret-pw")
    elif source == "environment":
        env["STAGEDB_ROOT_PASSWORD"] = "s3cret-pw"
    else:
        config = tmp_path / "stagedb.toml"
        config.write_text('root_password = "s3cret-pw"\n')
        args += ("--config", str(config))
    server = start_server(str(tmp_path / "data"), *args, env=env)
    try:
        with (
            pymysql.connect(
                host="127.0.0.1", port=server.mysql_port, user="root", password="s3cret-pw"
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)
        assert "s3cret-pw" not in "".join(server.output)
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2"])
def test_loopback_without_a_password_still_starts(tmp_path: Path, host: str) -> None:
    server = start_server(str(tmp_path / "data"), "--host", host)
    try:
        assert server.query("SELECT 1") == [(1,)]
    finally:
        assert server.stop() == 0
