"""The examples in examples/ run against a live server and do what they say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ServerProcess, mysql_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_py(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--port", str(server.mysql_port)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "('2024/01/orders.csv'," in out and "('2024/02/orders.csv'," in out
    removal = "mysql> REMOVE @sales/2024/01/ PATTERN = 'refunds.*';\n    ('2024/01/refunds.csv',)"
    assert removal in out
    assert "error as expected: (1051," in out
    assert server.query("SHOW STAGES") == []


def test_quickstart_sql_through_the_mysql_cli(server: ServerProcess) -> None:
    cli = mysql_cli()
    with open(EXAMPLES / "quickstart.sql", "rb") as script:
        result = subprocess.run(
            [cli, "-h", server.host, "-P", str(server.mysql_port), "-uroot", "--batch"],
            stdin=script, capture_output=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "landing\tInternal" in out
    assert '{"skip_header": "1", "type": "CSV"}' in out
    assert server.query("SHOW STAGES") == []


# -- REST APIs, the client and the transfer commands (issue 5) --


def test_rest_api_py(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "rest_api.py"), "--http-url", server.http_url,
         "--mysql-port", str(server.mysql_port)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'create: HTTP 200 {"status": "Request successfully completed"}' in out
    assert "conflict: HTTP 409" in out and '"error_code": "StageAlreadyExists"' in out
    assert "presigned GET: ['id,greeting', '1,hello']" in out
    assert '"name": "in/hello.csv", "size": "20"' in out
    assert 'zilliz create: HTTP 200 {"code": 0, "data": {"stageName": "zdemo"}}' in out
    assert '"count": 1, "currentPage": 1, "pageSize": 10' in out
    assert 'zilliz delete again: HTTP 200 {"code": 2501' in out
    assert "after DROP TOKEN: HTTP 401" in out
    assert server.query("SHOW STAGES") == [] and server.query("SHOW TOKENS") == []


def test_client_py(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "client.py"), "--url", server.http_url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    files = "['data/2024/01/orders.csv', 'data/2024/02/orders.csv', 'data/readme.txt']"
    assert f"upload: client_demo data/ {files}" in out
    size = len("contents of 2024/01/orders.csv\n")
    assert f"list: data/2024/01/orders.csv {size} " in out
    assert "download: ['2024/01/orders.csv', '2024/02/orders.csv', 'readme.txt']" in out
    assert "stages: ['client_demo']" in out and "dropped; stages now: []" in out


def test_cli_transfer_sh(server: ServerProcess) -> None:
    mysql_cli()
    result = subprocess.run(
        ["bash", str(EXAMPLES / "cli_transfer.sh"), server.http_url, str(server.mysql_port)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "STAGEDB": f"{sys.executable} -m stagedb"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    size = len("id,amount\n1,9.99\n")
    for month in ("01", "02", "03"):
        assert f"uploaded landing/2024/orders-{month}.csv ({size} bytes)" in out
        assert f"landing/2024/orders-{month}.csv\t{size}\t" in out
        assert f"downloaded landing/2024/orders-{month}.csv ({size} bytes)" in out
    assert "the copy matches" in out
    assert server.query("SHOW STAGES") == []
