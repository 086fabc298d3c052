"""Real MySQL clients against a running stagedb: pymysql, mysql-connector-python, the mysql CLI.

Each test drives one client through the stage statements a user runs (CREATE, LIST,
SHOW, DESC, DROP and the usual mistakes) and checks what that client hands its user.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import mysql.connector
import pymysql
import pytest
from clienttools import PtyProcess, make_files
from conftest import ServerProcess, mysql_cli
from mysql.connector import errorcode
from pymysql.constants import FIELD_TYPE

FILES = {
    "a.csv": b"id,name\n1,one\n2,two\n",
    "dir/b.txt": b"hello stage\n",
    "dir/sub/c.json": b'{"k": 1}\n',
    "z/deep/er/d.parquet": b"PAR1" * 25,
}
LIST_COLUMNS = ["name", "size", "md5", "last_modified", "creator"]
STAGE_COLUMNS = [
    "name", "stage_type", "storage_type", "url", "endpoint", "has_credentials",
    "has_encryption_key", "storage_params", "file_format_options", "creator", "created_on",
    "comment", "owner",
]  # fmt: skip
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+0000")


def stage_url(directory: Path) -> str:
    """The ``fs:///abs/path/`` URL of a local directory."""
    assert directory.is_absolute()
    return f"fs://{directory}/"


def check_listing(rows: Sequence[Sequence[Any]], root: Path, files: dict[str, bytes]) -> None:
    """``rows`` is LIST's answer for exactly ``files`` under ``root``."""
    assert [row[0] for row in rows] == sorted(files)
    for name, size, md5, last_modified, creator in rows:
        assert size == len(files[name]), name
        assert md5 is None and creator is None, name
        assert isinstance(last_modified, str) and TIMESTAMP.fullmatch(last_modified), name
        shown = datetime.strptime(last_modified, "%Y-%m-%d %H:%M:%S.%f %z").timestamp()
        assert abs(shown - (root / name).stat().st_mtime) < 0.002, (name, last_modified)


# -- pymysql ---------------------------------------------------------------------------


def test_pymysql_stage_lifecycle(server: ServerProcess, external_dir: Path) -> None:
    with server.connect() as conn, conn.cursor() as cur:
        assert cur.execute("CREATE STAGE internal_s") == 0
        assert cur.execute(f"CREATE STAGE s URL = '{stage_url(external_dir)}'") == 0
        make_files(external_dir, FILES)

        assert cur.execute("LIST @s") == len(FILES)
        assert [(d[0], d[1]) for d in cur.description] == [
            ("name", FIELD_TYPE.VAR_STRING),
            ("size", FIELD_TYPE.LONGLONG),
            ("md5", FIELD_TYPE.VAR_STRING),
            ("last_modified", FIELD_TYPE.VAR_STRING),
            ("creator", FIELD_TYPE.VAR_STRING),
        ]
        check_listing(cur.fetchall(), external_dir, FILES)

        # Names stay relative to the stage root when a sub-path is listed.
        cur.execute("LIST @s/dir/")
        assert [row[0] for row in cur.fetchall()] == ["dir/b.txt", "dir/sub/c.json"]
        cur.execute("LIST @internal_s")
        assert cur.fetchall() == ()

        cur.execute("SHOW STAGES")
        assert [d[0] for d in cur.description] == STAGE_COLUMNS
        shown = {row[0]: dict(zip(STAGE_COLUMNS, row, strict=True)) for row in cur.fetchall()}
        assert list(shown) == ["internal_s", "s"]
        assert shown["internal_s"]["stage_type"] == "Internal"
        assert shown["internal_s"]["url"] is None
        assert shown["s"]["stage_type"] == "External"
        assert shown["s"]["url"] == stage_url(external_dir)

        assert cur.execute("DESC STAGE s") == 1
        (row,) = cur.fetchall()
        assert (row[0], row[1], row[2], row[3]) == ("s", "External", "fs", stage_url(external_dir))

        assert cur.execute("DROP STAGE s") == 0
        cur.execute("SHOW STAGES")
        assert [row[0] for row in cur.fetchall()] == ["internal_s"]
        assert sorted(str(p.relative_to(external_dir)) for p in external_dir.rglob("*.*")) == (
            sorted(FILES)
        )  # an external stage's files survive DROP

        with pytest.raises(pymysql.err.Error) as caught:
            cur.execute("LIST @s")
        assert caught.value.args == (
            1051, "UnknownStage. Code: 2501, Text = Stage 's' does not exist."
        )  # fmt: skip
        assert caught.value.sqlstate == "42S02"
        with pytest.raises(pymysql.err.ProgrammingError) as caught:  # pymysql's class for 1064
            cur.execute("LIST @internal_s FOO")
        assert (caught.value.args[0], caught.value.sqlstate) == (1064, "42000")
        assert "near 'FOO' at line 1" in caught.value.args[1]

        # The connection is still good after the errors.
        cur.execute("SHOW STAGES LIKE 'INTERNAL%'")
        assert [row[0] for row in cur.fetchall()] == ["internal_s"]


def test_pymysql_streams_a_listing_with_an_unbuffered_cursor(
    server: ServerProcess, external_dir: Path
) -> None:
    files = {f"part-{i:04d}.csv": b"x" * (i % 7) for i in range(500)}
    make_files(external_dir, files)
    with server.connect(cursorclass=pymysql.cursors.SSCursor) as conn:
        with conn.cursor() as cur:
            cur.execute(f"CREATE STAGE s URL = '{stage_url(external_dir)}'")
            cur.execute("LIST @s")
            rows = list(cur.fetchall_unbuffered())
        check_listing(rows, external_dir, files)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)


def test_last_modified_keeps_exact_milliseconds(server: ServerProcess, external_dir: Path) -> None:
    make_files(external_dir, {"a.csv": b"1", "b.csv": b"2"})
    # 2023-04-20 20:55:03.100 UTC and 2023-04-20 20:55:03.997 UTC, exactly.
    os.utime(external_dir / "a.csv", ns=(1682024103_100_000_000, 1682024103_100_000_000))
    os.utime(external_dir / "b.csv", ns=(1682024103_997_000_000, 1682024103_997_000_000))
    server.query(f"CREATE STAGE s URL = '{stage_url(external_dir)}'")
    assert [(row[0], row[3]) for row in server.query("LIST @s")] == [
        ("a.csv", "2023-04-20 20:55:03.100 +0000"),
        ("b.csv", "2023-04-20 20:55:03.997 +0000"),
    ]


# -- mysql-connector-python --------------------------------------------------------------


@pytest.fixture(params=[True, False], ids=["pure", "cext"])
def connector(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[Any]:
    """A mysql.connector connection, pure Python or through the C extension."""
    use_pure: bool = request.param
    if not use_pure and not mysql.connector.HAVE_CEXT:
        pytest.skip("mysql-connector-python's C extension cannot be loaded (HAVE_CEXT is False)")
    conn = mysql.connector.connect(
        host=server.host, port=server.mysql_port, user="root", password="",
        use_pure=use_pure, autocommit=True, connection_timeout=10,
    )  # fmt: skip
    try:
        yield conn
    finally:
        conn.close()


def connector_error(cur: Any, sql: str) -> mysql.connector.Error:
    """The error ``sql`` fails with through mysql.connector."""
    with pytest.raises(mysql.connector.Error) as caught:
        cur.execute(sql)
        cur.fetchall()
    return caught.value


def test_mysql_connector_stage_lifecycle(connector: Any, external_dir: Path) -> None:
    assert "stagedb" in connector.server_info
    cur = connector.cursor()
    cur.execute("CREATE STAGE internal_s")
    cur.execute(f"CREATE STAGE s URL = '{stage_url(external_dir)}'")
    make_files(external_dir, FILES)

    cur.execute("LIST @s")
    assert list(cur.column_names) == LIST_COLUMNS
    check_listing(cur.fetchall(), external_dir, FILES)

    cur.execute("SHOW STAGES")
    assert list(cur.column_names) == STAGE_COLUMNS
    assert [(row[0], row[1]) for row in cur.fetchall()] == [
        ("internal_s", "Internal"),
        ("s", "External"),
    ]
    cur.execute("DESC STAGE s")
    (row,) = cur.fetchall()
    assert (row[0], row[3]) == ("s", stage_url(external_dir))

    error = connector_error(cur, "CREATE STAGE s")
    assert (error.errno, error.sqlstate) == (errorcode.ER_TABLE_EXISTS_ERROR, "42S01")
    assert error.msg == "StageAlreadyExists. Code: 2502, Text = Stage 's' already exists."

    cur.execute("DROP STAGE s")
    error = connector_error(cur, "LIST @s")
    assert (error.errno, error.sqlstate) == (errorcode.ER_BAD_TABLE_ERROR, "42S02")
    assert error.msg == "UnknownStage. Code: 2501, Text = Stage 's' does not exist."
    error = connector_error(cur, "DROP STAGE s")
    assert (error.errno, error.sqlstate) == (1051, "42S02")

    for sql, token in [("LIST @internal_s FOO", "FOO"), ("SHOW STAGES LIKE", "LIKE")]:
        error = connector_error(cur, sql)
        assert (error.errno, error.sqlstate) == (errorcode.ER_PARSE_ERROR, "42000"), sql
        assert f"near '{token}'" in str(error.msg)

    # The connection is still good after the errors.
    cur.execute("SHOW STAGES")
    assert [row[0] for row in cur.fetchall()] == ["internal_s"]
    cur.execute("DROP STAGE internal_s")
    cur.execute("SHOW STAGES")
    assert cur.fetchall() == []


def test_mysql_connector_prepared_cursor_lists(connector: Any, external_dir: Path) -> None:
    """The binary protocol (COM_STMT_PREPARE / EXECUTE) carries the same rows."""
    make_files(external_dir, FILES)
    cur = connector.cursor(prepared=True)
    cur.execute(f"CREATE STAGE s URL = '{stage_url(external_dir)}'")
    cur.execute("LIST @s")
    check_listing(cur.fetchall(), external_dir, FILES)
    cur.execute("SHOW STAGES LIKE %s", ("S",))
    assert [row[0] for row in cur.fetchall()] == ["s"]


# -- the mysql CLI in batch mode -------------------------------------------------------------


def cli_env(home: Path) -> dict[str, str]:
    """An environment that keeps the CLI away from the user's option files and history."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL")}
    env.update(HOME=str(home), MYSQL_HISTFILE=os.devnull, TERM="dumb", LC_ALL="C.UTF-8")
    return env


def run_cli(
    server: ServerProcess, home: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the mysql CLI against ``server`` as root."""
    command = [mysql_cli() or "mysql", "--no-defaults", f"-h{server.host}",
               f"-P{server.mysql_port}", "-uroot", *args]  # fmt: skip
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=60, env=cli_env(home),
        check=False,
    )  # fmt: skip


def test_cli_batch_create_show_list(server: ServerProcess, tmp_path: Path) -> None:
    done = run_cli(server, tmp_path, "-e", "CREATE STAGE s; SHOW STAGES; LIST @~")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    header, *rows = done.stdout.splitlines()
    assert header.split("\t") == STAGE_COLUMNS
    (row,) = rows  # the empty LIST @~ prints nothing at all in batch mode
    shown = dict(zip(STAGE_COLUMNS, row.split("\t"), strict=True))
    assert (shown["name"], shown["stage_type"], shown["storage_type"]) == ("s", "Internal", "NULL")
    assert shown["creator"] == "'root'@'%'"


def test_cli_batch_list_of_an_external_stage(
    server: ServerProcess, external_dir: Path, tmp_path: Path
) -> None:
    make_files(external_dir, FILES)
    server.query(f"CREATE STAGE s URL = '{stage_url(external_dir)}'")

    done = run_cli(server, tmp_path, "--batch", "-e", "LIST @s")
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    assert header.split("\t") == LIST_COLUMNS
    rows = [line.split("\t") for line in lines]
    assert all(row[2] == "NULL" and row[4] == "NULL" for row in rows)
    check_listing(
        [(name, int(size), None, modified, None) for name, size, _, modified, _ in rows],
        external_dir,
        FILES,
    )

    done = run_cli(server, tmp_path, "--batch", "-N", "-e", "LIST @s/dir/")
    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[:3] for line in done.stdout.splitlines()] == [
        ["dir/b.txt", str(len(FILES["dir/b.txt"])), "NULL"],
        ["dir/sub/c.json", str(len(FILES["dir/sub/c.json"])), "NULL"],
    ]


def test_cli_batch_script_on_stdin(
    server: ServerProcess, external_dir: Path, tmp_path: Path
) -> None:
    make_files(external_dir, FILES)
    script = (
        "-- make a stage over the files\n"
        f"CREATE STAGE s\n  URL = '{stage_url(external_dir)}'\n  COMMENT = 'from a script';\n"
        "LIST @s\n  PATTERN = '.*[.](csv|json)';\n"
        "DESC STAGE s;\n"
    )
    done = run_cli(server, tmp_path, "--batch", "-N", stdin=script)
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert [line[0] for line in lines] == ["a.csv", "dir/sub/c.json", "s"]
    assert lines[2][1] == "External" and lines[2][11] == "from a script"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("LIST @~ FOO", "ERROR 1064 (42000) at line 1: SyntaxException. Code: 1005, "
                        "Text = You have an error in your SQL syntax near 'FOO'"),
        ("LIST @nope", "ERROR 1051 (42S02) at line 1: UnknownStage. Code: 2501, "
                       "Text = Stage 'nope' does not exist."),
    ],
)  # fmt: skip
def test_cli_batch_errors_exit_non_zero(
    server: ServerProcess, tmp_path: Path, sql: str, expected: str
) -> None:
    done = run_cli(server, tmp_path, "--batch", "-e", f"CREATE STAGE a; {sql}; CREATE STAGE b")
    assert done.returncode == 1
    # MariaDB's client echoes the failing statement between dashes, then the error line.
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and errors[0].startswith(expected), done.stderr
    assert done.stdout == ""
    # The CLI stops at the failing statement: only the first stage was created.
    assert [row[0] for row in server.query("SHOW STAGES")] == ["a"]


# -- the mysql CLI on a terminal ------------------------------------------------------------

PROMPT = r"(?:MariaDB|MySQL) \[[^\]\r\n]*\]> |mysql> "


def test_cli_interactive_session(server: ServerProcess, external_dir: Path, tmp_path: Path) -> None:
    """Drive ``mysql`` through a pseudo-terminal like a person at a keyboard."""
    make_files(external_dir, {"a.csv": b"1,2\n", "d/b.csv": b"3,4\n"})
    server.query(f"CREATE STAGE s URL = '{stage_url(external_dir)}'")
    argv = [mysql_cli() or "mysql", "--no-defaults", f"-h{server.host}",
            f"-P{server.mysql_port}", "-uroot"]  # fmt: skip
    child = PtyProcess(argv, env=cli_env(tmp_path), cwd=str(tmp_path))
    try:
        banner = child.expect(r"(?s)^.*?(?=" + PROMPT + ")").group(0)
        assert "Server version: 8.0.36-stagedb-" in banner
        child.expect(PROMPT)

        # \s: the client sends `select DATABASE(), USER() limit 1`, a character-set
        # select and COM_STATISTICS (answered with MySQL's status line).
        child.sendline("\\s")
        status = child.expect(r"(?s)-{14}.*?-{14}").group(0).replace("\r\n", "\n")
        child.expect(PROMPT)
        assert re.search(r"^Connection id:\s+\d+$", status, re.M), status
        assert re.search(r"^Current user:\s+root\b", status, re.M), status
        assert re.search(r"^Server version:\s+8\.0\.36-stagedb-\S+ stagedb", status, re.M)
        assert re.search(r"^Protocol version:\s+10$", status, re.M), status
        assert re.search(rf"^Connection:\s+{re.escape(server.host)} via TCP/IP$", status, re.M)
        assert re.search(rf"^TCP port:\s+{server.mysql_port}$", status, re.M), status
        assert re.search(r"^Server characterset:\s+utf8mb4$", status, re.M), status
        assert "ERROR" not in status
        assert re.search(r"^Threads: \d+  Questions: \d+  Slow queries: 0", status, re.M), status

        child.sendline("LIST @~;")
        child.expect(r"Empty set \(\d+\.\d+ sec\)")
        child.expect(PROMPT)

        child.sendline("LIST @s;")
        table = child.expect(r"(?s)\+-+.*?2 rows in set").group(0).replace("\r\n", "\n")
        child.expect(PROMPT)
        assert re.search(r"^\| name\s+\| size \| md5\s+\| last_modified\s+\| creator \|$",
                         table, re.M), table  # fmt: skip
        assert re.search(r"^\| a\.csv\s+\|\s+4 \| NULL \| [0-9-]+ [0-9:.]+ \+0000 \| NULL\s+\|$",
                         table, re.M), table  # fmt: skip
        assert "| d/b.csv " in table

        child.sendline("LIST @s BOGUS;")
        child.expect(r"ERROR 1064 \(42000\): SyntaxException\. Code: 1005, [^\r\n]*near 'BOGUS'")
        child.expect(PROMPT)

        child.sendline("SHOW STAGES LIKE 's';")
        child.expect(r"1 row in set")
        child.expect(PROMPT)

        child.sendline("exit")
        child.expect("Bye")
        assert child.wait(timeout=15) == 0
    finally:
        child.kill()
