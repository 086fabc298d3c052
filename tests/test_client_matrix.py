"""The client matrix: the MySQL clients and drivers people use, each against a live server.

Each test connects, browses the metadata the way that client (or the BI tool built
on it) does, then runs :func:`matrixtools.stage_scenario`: CREATE STAGE, an upload
through the HTTP side port (curl -F), LIST, a SELECT from the stage's directory
table, DROP, and an error.  Clients: the ``mysql`` CLI (batch and on a terminal),
pymysql, mysql-connector-python (plain and prepared), mysqlclient, SQLAlchemy with
pandas, mycli, MariaDB Connector/J 2.7 (Debian's libmariadb-java: the driver of
Metabase and DBeaver) and Node's mysql2.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import mysql.connector
import MySQLdb
import pandas
import pymysql
import pytest
import sqlalchemy
from clienttools import PtyProcess
from conftest import ServerProcess, mysql_cli
from matrixtools import (
    UPLOADS,
    CommandLineClient,
    DbApiClient,
    LineClient,
    MycliClient,
    browse_checks,
    curl_upload,
    isolated_env,
    stage_scenario,
)

TESTS = Path(__file__).parent
MARIADB_JAR = Path("/usr/share/java/mariadb-java-client.jar")
NODE_CLIENT = TESTS / "clients" / "node"
MYCLI = "mycli==2.30.1"  # run with `uv tool run`, never installed in the project's venv
STATISTICS = re.compile(r"Uptime: \d+  Threads: \d+  Questions: \d+  ")


def required(what: str, hint: str) -> None:
    """Skip without ``what`` (fail under CI, where .ci/run installs it)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI ({hint})")
    pytest.skip(f"{what} is not installed ({hint})")


@pytest.fixture
def matrix_server(server: ServerProcess, tmp_path: Path) -> ServerProcess:
    """A server with one stage, ``existing``, holding one file: something to browse."""
    server.query("CREATE STAGE existing")
    upload_dir = tmp_path / "existing-upload"
    upload_dir.mkdir()
    curl_upload(server, "existing", {"seed.csv": b"a,b\n1,2\n"}, upload_dir)
    return server


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A scratch directory for uploads and client homes."""
    path = tmp_path / "work"
    path.mkdir()
    return path


# -- Python drivers ---------------------------------------------------------------------


def test_pymysql(matrix_server: ServerProcess, work: Path) -> None:
    with matrix_server.connect() as conn:
        client = DbApiClient(conn, pymysql.err.Error)
        databases = client.query("SHOW DATABASES").column("Database")
        tables = client.query("SHOW FULL TABLES FROM stagedb").rows
        browse_checks(databases, [row[0] for row in tables])
        columns = client.query(
            "SELECT column_name, data_type, is_nullable, column_key FROM information_schema.columns"
            " WHERE table_schema = 'stagedb' AND table_name = 'existing'"
            " ORDER BY ordinal_position"
        )
        assert [row[0] for row in columns.rows] == ["name", "size", "md5", "last_modified",
                                                    "creator"]  # fmt: skip
        assert columns.rows[1][1:3] == ("bigint", "NO")
        stage_scenario(client, matrix_server, work)


@pytest.mark.parametrize("prepared", [False, True], ids=["plain", "prepared"])
def test_mysql_connector_python(matrix_server: ServerProcess, work: Path, prepared: bool) -> None:
    conn = mysql.connector.connect(
        host=matrix_server.host, port=matrix_server.mysql_port, user="root", password="",
        use_pure=True, autocommit=True, connection_timeout=10,
    )  # fmt: skip
    try:
        assert "stagedb" in conn.server_info
        statistics = conn.cmd_statistics()  # COM_STATISTICS
        assert statistics["Uptime"] >= 1 and statistics["Threads"] >= 1, statistics
        options = {"prepared": True} if prepared else {}
        client = DbApiClient(conn, mysql.connector.Error, **options)
        databases = client.query("SHOW DATABASES").column("Database")
        tables = client.query("SHOW TABLES FROM stagedb").rows
        browse_checks(databases, [row[0] for row in tables])
        stage_scenario(client, matrix_server, work)
        if prepared:  # a parameter goes through COM_STMT_EXECUTE's binary encoding
            cur = conn.cursor(prepared=True)
            cur.execute("SELECT name, size FROM stagedb.existing WHERE name = %s", ("seed.csv",))
            assert cur.fetchall() == [("seed.csv", 8)]
            cur.close()
    finally:
        conn.close()


def test_mysqlclient(matrix_server: ServerProcess, work: Path) -> None:
    conn = MySQLdb.connect(
        host=matrix_server.host, port=matrix_server.mysql_port, user="root", passwd="",
        autocommit=True, connect_timeout=10,
    )  # fmt: skip
    try:
        assert STATISTICS.match(conn.stat()), conn.stat()  # COM_STATISTICS
        client = DbApiClient(conn, MySQLdb.Error)
        databases = client.query("SHOW DATABASES").column("Database")
        conn.select_db("stagedb")  # COM_INIT_DB
        tables = client.query("SHOW TABLES").rows
        browse_checks(databases, [row[0] for row in tables])
        stage_scenario(client, matrix_server, work)
    finally:
        conn.close()


@pytest.mark.parametrize("driver", ["pymysql", "mysqldb"])
def test_sqlalchemy_and_pandas(matrix_server: ServerProcess, work: Path, driver: str) -> None:
    url = f"mysql+{driver}://root@{matrix_server.host}:{matrix_server.mysql_port}/stagedb"
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        inspector = sqlalchemy.inspect(engine)
        assert "stagedb" in inspector.get_schema_names()
        browse_checks(["stagedb"], inspector.get_table_names(schema="stagedb"))
        columns = inspector.get_columns("existing", schema="stagedb")
        assert [c["name"] for c in columns] == ["name", "size", "md5", "last_modified", "creator"]
        by_name = {c["name"]: c for c in columns}
        assert not by_name["name"]["nullable"] and by_name["md5"]["nullable"]
        assert isinstance(by_name["size"]["type"], sqlalchemy.BigInteger)
        assert inspector.get_pk_constraint("existing", schema="stagedb")["constrained_columns"] == [
            "name"
        ]
        assert [c["name"] for c in inspector.get_columns("stages", schema="stagedb")][:2] == [
            "name",
            "stage_type",
        ]

        frame = pandas.read_sql("SELECT * FROM stagedb.existing", engine)
        assert list(frame.columns) == ["name", "size", "md5", "last_modified", "creator"]
        assert frame["name"].tolist() == ["seed.csv"] and int(frame["size"][0]) == 8
        stages = pandas.read_sql(sqlalchemy.text("SELECT name FROM stagedb.stages"), engine)
        assert stages["name"].tolist() == ["existing"]

        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            error_class = pymysql.err.Error if driver == "pymysql" else MySQLdb.Error
            stage_scenario(DbApiClient(raw, error_class), matrix_server, work)
    finally:
        engine.dispose()


# -- the mysql CLI ----------------------------------------------------------------------


def cli_argv(server: ServerProcess, *extra: str) -> list[str]:
    return [mysql_cli() or "mysql", "--no-defaults", f"-h{server.host}",
            f"-P{server.mysql_port}", "-uroot", *extra]  # fmt: skip


def test_mysql_cli_batch(matrix_server: ServerProcess, work: Path) -> None:
    client = CommandLineClient(cli_argv(matrix_server, "--batch"), isolated_env(work))
    databases = client.query("SHOW DATABASES").column("Database")
    tables = client.query("SHOW TABLES FROM stagedb").rows
    browse_checks(databases, [row[0] for row in tables])
    status = client.run("status")  # \s in batch mode: COM_STATISTICS too
    assert status.returncode == 0, status.stderr
    assert re.search(r"^Threads: \d+  Questions: \d+", status.stdout, re.M), status.stdout
    stage_scenario(client, matrix_server, work)


PROMPT = r"(?:MariaDB|MySQL) \[[^\]\r\n]*\]> |mysql> "


def test_mysql_cli_interactive(matrix_server: ServerProcess, work: Path) -> None:
    """``\\s``, ``USE stagedb`` (which loads table names for completion), tab completion."""
    child = PtyProcess(cli_argv(matrix_server), env=isolated_env(work), cwd=str(work))
    try:
        child.expect(PROMPT)
        child.sendline("\\s")
        status = child.expect(r"(?s)-{14}.*?-{14}").group(0).replace("\r\n", "\n")
        child.expect(PROMPT)
        assert re.search(r"^Uptime:\s+\d+ (sec|min)", status, re.M), status
        assert re.search(r"^Threads: \d+  Questions: \d+  Slow queries: 0", status, re.M), status
        assert "ERROR" not in status

        child.sendline("USE stagedb")
        child.expect("Reading table information for completion")
        child.expect("Database changed")
        child.expect(PROMPT)
        child.sendline("SHOW TABLES;")
        tables = child.expect(r"(?s)\+-+.*?rows? in set").group(0)
        child.expect(PROMPT)
        assert "| existing" in tables and "| stages" in tables, tables

        # Completion: "existi<TAB>" becomes "existing" from the names loaded by USE.
        child.send("SELECT name, size FROM existi\t")
        child.expect("FROM existing")
        child.sendline(";")
        child.expect(r"\| seed\.csv \|\s+8 \|")
        child.expect(PROMPT)

        child.sendline("CREATE STAGE landing;")
        child.expect(r"Query OK, 0 rows affected")
        child.expect(PROMPT)
        curl_upload(matrix_server, "landing", UPLOADS, work)
        child.sendline("SELECT name, size FROM landing ORDER BY name;")
        table = child.expect(r"(?s)\+-+.*?2 rows in set").group(0)
        child.expect(PROMPT)
        assert re.search(r"\| notes/readme\.txt \|\s+12 \|", table), table
        child.sendline("LIST @landing PATTERN = '.*[.]csv';")
        child.expect(r"(?s)\| orders\.csv .*?1 row in set")
        child.expect(PROMPT)
        child.sendline("DROP STAGE landing;")
        child.expect(PROMPT)
        child.sendline("LIST @landing;")
        child.expect(r"ERROR 1051 \(42S02\): UnknownStage\. Code: 2501")
        child.expect(PROMPT)
        child.sendline("exit")
        child.expect("Bye")
        assert child.wait(timeout=15) == 0
    finally:
        child.kill()


# -- mycli (isolated: it pulls compiled sqlglot) -----------------------------------------


def test_sqlglot_in_the_project_is_pure_python() -> None:
    """mycli's compiled sqlglot breaks the stagedb dialect: it must never reach this venv."""
    assert importlib.util.find_spec("sqlglotc") is None, "sqlglotc is installed in the venv"
    import sqlglot

    compiled = [p.name for p in Path(sqlglot.__file__).parent.rglob("*") if p.suffix in (
        ".so", ".pyd")]  # fmt: skip
    assert compiled == [], compiled
    from stagedb.sql import StageDB

    assert StageDB.Parser.__module__.startswith("stagedb")


@pytest.fixture(scope="session")
def mycli() -> list[str]:
    """mycli in its own environment, made (or found in uv's cache) by ``uv tool run``.

    The environment is resolved once, with the user's uv cache, and mycli then runs
    from it directly: each run is one process start, not a uv resolution.
    """
    uv = shutil.which("uv")
    if uv is None:
        required("uv", "pip install uv")
    done = subprocess.run(
        [uv or "uv", "tool", "run", "--from", MYCLI, "python", "-c",
         "import shutil; print(shutil.which('mycli'))"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    executable = done.stdout.strip().splitlines()[-1]
    assert Path(executable).is_file(), done.stdout
    return [executable]


def test_mycli(matrix_server: ServerProcess, work: Path, mycli: list[str]) -> None:
    argv = [*mycli, "-h", matrix_server.host, "-P", str(matrix_server.mysql_port), "-u", "root",
            "--no-warn", "--use-keyring", "false", "--format", "tsv"]  # fmt: skip
    client = MycliClient(argv, isolated_env(work))
    # What mycli's completer loads on connect, then a browse.
    databases = client.query("SHOW DATABASES").column("Database")
    tables = client.query("SHOW TABLES FROM stagedb").rows
    browse_checks(databases, [row[0] for row in tables])
    stage_scenario(client, matrix_server, work)


# -- MariaDB Connector/J 2.7 (Metabase, DBeaver) ------------------------------------------


@pytest.fixture(scope="session")
def jdbc_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/clients/java/JdbcClient.java, compiled with javac."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None or not MARIADB_JAR.exists():
        required(
            "a JDK and libmariadb-java", "apt-get install default-jdk-headless libmariadb-java"
        )
    out = tmp_path_factory.mktemp("jdbc")
    done = subprocess.run(
        [javac or "javac", "-d", str(out), str(TESTS / "clients" / "java" / "JdbcClient.java")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def jdbc_client(server: ServerProcess, classes: Path, database: str = "stagedb") -> LineClient:
    url = f"jdbc:mariadb://{server.host}:{server.mysql_port}/{database}?user=root"
    return LineClient(["java", "-cp", f"{MARIADB_JAR}:{classes}", "JdbcClient", url])


def test_mariadb_connector_j(matrix_server: ServerProcess, work: Path, jdbc_classes: Path) -> None:
    client = jdbc_client(matrix_server, jdbc_classes)
    try:
        assert "stagedb" in client.greeting["server"], client.greeting
        assert client.greeting["driver"].startswith("MariaDB Connector/J 2.7")
        catalogs = client.answer(client.request("catalogs"))
        tables = client.answer(client.request("tables", "stagedb"))
        browse_checks(catalogs.column("TABLE_CAT"), tables.column("TABLE_NAME"))
        columns = client.answer(client.request("columns", "stagedb", "existing"))
        assert columns.column("COLUMN_NAME") == ["name", "size", "md5", "last_modified", "creator"]
        assert columns.column("IS_NULLABLE") == ["NO", "NO", "YES", "NO", "YES"]
        assert columns.column("TYPE_NAME")[1].upper().startswith("BIGINT")
        keys = client.answer(client.request("primary_keys", "stagedb", "existing"))
        assert keys.column("COLUMN_NAME") == ["name"]

        # What Metabase and DBeaver do next: read the table, with its column metadata.
        reply = client.request("query", "SELECT * FROM `stagedb`.`existing` LIMIT 200")
        assert reply["rows"] == [["seed.csv", "8", None, reply["rows"][0][3], None]], reply
        size = reply["columns"][1]
        assert (size["name"], size["type"], size["signed"]) == ("size", "BIGINT UNSIGNED", False)
        listed = client.request("query", "LIST @existing")
        assert [c["nullable"] for c in listed["columns"]] == [False, False, True, False, True]
        assert client.answer(client.request("prepared", "SELECT name FROM stages")).rows == [
            ("existing",)
        ]
        stage_scenario(client, matrix_server, work)
    finally:
        client.close()


# -- Node's mysql2 ------------------------------------------------------------------------


@pytest.fixture
def node_client_dir() -> Path:
    """tests/clients/node with its node_modules (``npm ci`` there, as .ci/run does)."""
    if shutil.which("node") is None:
        required("node", "apt-get install nodejs npm")
    if not (NODE_CLIENT / "node_modules" / "mysql2").is_dir():
        required("mysql2", f"cd {NODE_CLIENT} && npm ci")
    return NODE_CLIENT


@pytest.mark.parametrize("kind", ["query", "execute"])
def test_node_mysql2(
    matrix_server: ServerProcess, work: Path, node_client_dir: Path, kind: str
) -> None:
    options = {"host": matrix_server.host, "port": matrix_server.mysql_port, "user": "root",
               "database": "stagedb"}  # fmt: skip
    client = LineClient(
        ["node", "client.js", json.dumps(options)], cwd=node_client_dir, query_kind=kind
    )
    try:
        assert "stagedb" in (client.greeting["server"] or ""), client.greeting
        databases = client.query("SHOW DATABASES").column("Database")
        tables = client.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'stagedb'"
        )
        browse_checks(databases, tables.column("table_name"))
        reply = client.request(kind, "SELECT * FROM existing")
        size = reply["columns"][1]
        assert (size["name"], size["charset"], size["signed"]) == ("size", 63, False), reply
        assert reply["rows"][0][:2] == ["seed.csv", "8"]
        listed = client.request(kind, "LIST @existing")
        assert [c["nullable"] for c in listed["columns"]] == [False, False, True, False, True]
        stage_scenario(client, matrix_server, work)
    finally:
        client.close()
