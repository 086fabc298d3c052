"""The examples in examples/ run against a live server and do what they say."""

from __future__ import annotations

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
