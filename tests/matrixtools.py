"""One scenario for every client of the client matrix, and thin adapters to run it.

Every client answers the same small interface (:class:`SqlClient`): ``query`` runs a
statement and returns its columns and rows as text, ``fail`` runs one that must
fail and returns the error.  :func:`stage_scenario` then runs the issue's sequence
(CREATE STAGE, upload through the HTTP side port with curl, LIST, SELECT from the
directory table, DROP, and an error) the same way through each of them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from conftest import ServerProcess

#: Files the scenario uploads: names and contents.
UPLOADS = {"orders.csv": b"id,amount\n1,10\n2,20\n", "notes/readme.txt": b"hello stage\n"}
DIRECTORY_COLUMNS = ["name", "size", "md5", "last_modified", "creator"]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+0000")


@dataclass
class Answer:
    """A statement's result: column names and rows, every value as text (None for NULL)."""

    columns: list[str]
    rows: list[tuple[str | None, ...]]

    def column(self, name: str) -> list[str | None]:
        """The values of one column, by name (case-insensitive)."""
        index = [c.lower() for c in self.columns].index(name.lower())
        return [row[index] for row in self.rows]


@dataclass
class SqlError(Exception):
    """An error as the client reported it."""

    errno: int
    sqlstate: str | None
    message: str


class SqlClient(Protocol):
    """What the scenario needs of a client."""

    def query(self, sql: str) -> Answer:
        """Run ``sql``; its result set (no columns for a statement without one)."""
        ...

    def fail(self, sql: str) -> SqlError:
        """Run ``sql``, which must fail; the error."""
        ...


def as_text(value: Any) -> str | None:
    """A driver's value as the text the server sent."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    return str(value)


class DbApiClient:
    """A PEP 249 connection (pymysql, mysql.connector, MySQLdb)."""

    def __init__(self, connection: Any, error_class: type[Exception], **cursor_options: Any):
        self.connection = connection
        self.error_class = error_class
        self.cursor_options = cursor_options

    def query(self, sql: str) -> Answer:
        cur = self.connection.cursor(**self.cursor_options)
        try:
            cur.execute(sql)
            if cur.description is None:
                return Answer([], [])
            rows = [tuple(as_text(v) for v in row) for row in cur.fetchall()]
            return Answer([as_text(d[0]) or "" for d in cur.description], rows)
        finally:
            cur.close()

    def fail(self, sql: str) -> SqlError:
        try:
            self.query(sql)
        except self.error_class as error:
            errno, message = error.args[0], error.args[1] if len(error.args) > 1 else ""
            if hasattr(error, "errno") and error.errno is not None:  # mysql.connector
                errno, message = error.errno, getattr(error, "msg", message)
            return SqlError(int(errno), getattr(error, "sqlstate", None), str(message))
        raise AssertionError(f"{sql!r} did not fail")


class LineClient:
    """A client program (Java, Node) driven by tab-separated requests, answering JSON lines."""

    def __init__(self, argv: Sequence[str], cwd: Path | None = None, query_kind: str = "query"):
        self.process = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=cwd,
        )  # fmt: skip
        self.query_kind = query_kind
        self.greeting = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            self.process.wait(10)
            raise AssertionError(f"the client program ended:\n{self.process.stderr.read()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def request(self, *fields: str) -> dict[str, Any]:
        """Send one request; its JSON answer."""
        assert self.process.stdin is not None
        assert all("\t" not in f and "\n" not in f for f in fields), fields
        self.process.stdin.write("\t".join(fields) + "\n")
        self.process.stdin.flush()
        return self._read()

    def answer(self, reply: dict[str, Any]) -> Answer:
        if "error" in reply:
            error = reply["error"]
            raise SqlError(error["errno"], error["sqlstate"], error["message"])
        if "update" in reply:
            return Answer([], [])
        return Answer([c["name"] for c in reply["columns"]], [tuple(r) for r in reply["rows"]])

    def query(self, sql: str) -> Answer:
        return self.answer(self.request(self.query_kind, sql))

    def fail(self, sql: str) -> SqlError:
        try:
            self.query(sql)
        except SqlError as error:
            return error
        raise AssertionError(f"{sql!r} did not fail")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_CLI_ERROR = re.compile(r"^ERROR (\d+) \((\w{5})\)(?: at line \d+)?: (.*)$", re.M)


class CommandLineClient:
    """A command-line client run once per statement, printing tab-separated output."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]):
        self.argv = list(argv)
        self.env = env

    def run(self, sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, "-e", sql], capture_output=True, text=True, env=self.env, timeout=120,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def query(self, sql: str) -> Answer:
        done = self.run(sql)
        if done.returncode != 0:
            raise self.error(done)
        lines = list(csv.reader(io.StringIO(done.stdout), delimiter="\t", quoting=csv.QUOTE_NONE))
        if not lines:
            return Answer([], [])
        header, *rows = lines
        return Answer(header, [tuple(None if v == "NULL" else v for v in row) for row in rows])

    def error(self, done: subprocess.CompletedProcess[str]) -> SqlError:
        match = _CLI_ERROR.search(done.stderr)
        assert match, (done.stdout, done.stderr)
        return SqlError(int(match.group(1)), match.group(2), match.group(3))

    def fail(self, sql: str) -> SqlError:
        done = self.run(sql)
        assert done.returncode != 0, done.stdout
        return self.error(done)


_MYCLI_ERROR = re.compile(r"^\((\d+), ['\"](.*)['\"]\)$", re.M)


class MycliClient(CommandLineClient):
    """mycli with ``--format tsv -e``: errors print as ``(errno, 'message')``."""

    def query(self, sql: str) -> Answer:
        answer = super().query(sql)
        # mycli prints NULL as an empty field (its default null_string is "<null>" in tables).
        return Answer(answer.columns, [tuple(v or None for v in r) for r in answer.rows])

    def error(self, done: subprocess.CompletedProcess[str]) -> SqlError:
        match = _MYCLI_ERROR.search(done.stderr + done.stdout)
        assert match, (done.stdout, done.stderr)
        return SqlError(int(match.group(1)), None, match.group(2))


def curl_upload(server: ServerProcess, stage: str, files: dict[str, bytes], work: Path) -> None:
    """Upload ``files`` to ``stage`` through the side port's upload API with curl -F."""
    for relative, content in files.items():
        directory, _, name = relative.rpartition("/")
        (work / name).write_bytes(content)
        headers = ["-H", f"stage_name:{stage}"]
        if directory:
            headers += ["-H", f"relative_path:{directory}"]
        done = subprocess.run(
            ["curl", "-sS", "-f", "-u", "root:", *headers, "-F", f"upload=@{name}", "-XPUT",
             f"{server.http_url}/v1/upload_to_stage"],
            cwd=work, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        reply = json.loads(done.stdout)
        assert (reply["state"], reply["files"]) == ("SUCCESS", [name]), reply


def stage_scenario(client: SqlClient, server: ServerProcess, work: Path) -> None:
    """CREATE STAGE, upload, LIST, SELECT from the directory table, DROP, and an error."""
    assert client.query("CREATE STAGE landing COMMENT = 'client matrix'").columns == []
    curl_upload(server, "landing", UPLOADS, work)
    expected = sorted((name, str(len(content))) for name, content in UPLOADS.items())

    listed = client.query("LIST @landing")
    assert [c.lower() for c in listed.columns] == DIRECTORY_COLUMNS
    assert [(row[0], row[1]) for row in listed.rows] == expected
    assert all(TIMESTAMP.fullmatch(v or "") for v in listed.column("last_modified"))

    selected = client.query("SELECT name, size FROM stagedb.landing ORDER BY name")
    assert [c.lower() for c in selected.columns] == ["name", "size"]
    assert [(row[0], row[1]) for row in selected.rows] == expected
    directory = client.query("SELECT * FROM DIRECTORY(@landing) WHERE size > 15")
    assert directory.column("name") == ["orders.csv"]

    assert client.query("DROP STAGE landing").columns == []
    error = client.fail("LIST @landing")
    assert error.errno == 1051, error
    assert error.sqlstate in (None, "42S02"), error
    assert "Stage 'landing' does not exist" in error.message
    # The session (or the next invocation) goes on after the error.
    assert "landing" not in [row[0] for row in client.query("SHOW STAGES").rows]


def browse_checks(databases: Sequence[str | None], tables: Sequence[str | None]) -> None:
    """A browse found the ``stagedb`` database, its ``stages`` table and a directory table."""
    assert "stagedb" in databases, databases
    assert {"stages", "existing"} <= set(tables), tables


def isolated_env(home: Path) -> dict[str, str]:
    """An environment for a command-line client that keeps the user's files out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), MYSQL_HISTFILE=os.devnull, TERM="dumb", LC_ALL="C.UTF-8")
    return env
