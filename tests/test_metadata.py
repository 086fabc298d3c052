"""What BI tools and MySQL drivers see when they browse: SHOW statements and information_schema."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from accesstools import run
from conftest import ServerProcess, mysql_cli, start_server

LIST_COLUMNS = ["name", "size", "md5", "last_modified", "creator"]


@pytest.fixture(scope="module")
def meta_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with stages ``alpha`` (a file in it) and ``beta``."""
    base = tmp_path_factory.mktemp("metadata")
    (base / "data").mkdir()
    (base / "ext").mkdir()
    (base / "ext" / "one.csv").write_bytes(b"1,2\n")
    proc = start_server(str(base / "data"))
    try:
        proc.query(f"CREATE STAGE alpha URL = 'fs://{base / 'ext'}/' COMMENT = 'it''s alpha'")
        proc.query("CREATE STAGE beta")
        yield proc
    finally:
        proc.stop()


def fetch(
    server: ServerProcess, sql: str, **connect: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    with server.connect(**connect) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [d[0] for d in cur.description or []], list(cur.fetchall())


def test_show_databases(meta_server: ServerProcess) -> None:
    assert fetch(meta_server, "SHOW DATABASES") == (
        ["Database"],
        [("information_schema",), ("stagedb",)],
    )
    assert fetch(meta_server, "SHOW SCHEMAS LIKE 'stage%'")[1] == [("stagedb",)]


def test_show_tables(meta_server: ServerProcess) -> None:
    assert fetch(meta_server, "SHOW TABLES FROM stagedb") == (
        ["Tables_in_stagedb"],
        [("alpha",), ("beta",), ("stages",)],
    )
    names, rows = fetch(meta_server, "SHOW FULL TABLES FROM stagedb LIKE '%a'")
    assert names == ["Tables_in_stagedb", "Table_type"]
    assert rows == [("alpha", "BASE TABLE"), ("beta", "BASE TABLE")]
    assert fetch(meta_server, "SHOW TABLES", database="stagedb")[1][0] == ("alpha",)
    _, system = fetch(meta_server, "SHOW TABLES FROM information_schema")
    assert {"COLUMNS", "KEYWORDS", "SCHEMATA", "TABLES"} <= {r[0] for r in system}


def test_show_tables_needs_a_database(meta_server: ServerProcess) -> None:
    with pytest.raises(pymysql.MySQLError) as caught:
        meta_server.query("SHOW TABLES")
    assert caught.value.args[0] == 1046


def test_show_columns_and_describe(meta_server: ServerProcess) -> None:
    names, rows = fetch(meta_server, "SHOW COLUMNS FROM alpha FROM stagedb")
    assert names == ["Field", "Type", "Null", "Key", "Default", "Extra"]
    assert rows == [
        ("name", "varchar(1024)", "NO", "PRI", None, ""),
        ("size", "bigint unsigned", "NO", "", None, ""),
        ("md5", "varchar(64)", "YES", "", None, ""),
        ("last_modified", "varchar(32)", "NO", "", None, ""),
        ("creator", "varchar(128)", "YES", "", None, ""),
    ]
    assert fetch(meta_server, "DESCRIBE stagedb.alpha") == (names, rows)
    assert fetch(meta_server, "DESC alpha", database="stagedb") == (names, rows)
    names, rows = fetch(meta_server, "SHOW FULL COLUMNS FROM alpha FROM stagedb LIKE '%'")
    assert names == ["Field", "Type", "Collation", "Null", "Key", "Default", "Extra",
                     "Privileges", "Comment"]  # fmt: skip
    assert rows[0][:3] == ("name", "varchar(1024)", "utf8mb4_bin")
    assert rows[1][2] is None  # no collation for a number


def test_desc_stage_still_describes_the_stage(meta_server: ServerProcess) -> None:
    names, rows = fetch(meta_server, "DESC STAGE alpha")
    assert names[:2] == ["name", "stage_type"] and rows[0][:2] == ("alpha", "External")


def test_show_columns_of_the_stages_table(meta_server: ServerProcess) -> None:
    _, rows = fetch(meta_server, "SHOW COLUMNS FROM stagedb.stages")
    with meta_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW STAGES")
        shown = [d[0] for d in cur.description]
    assert [r[0] for r in rows] == shown
    assert ("has_credentials", "tinyint(1)", "YES", "", None, "") in rows


@pytest.mark.parametrize(
    ("statement", "table"),
    [("SHOW STAGES", "stages"), ("DESC STAGE alpha", "stages"), ("LIST @alpha", "alpha")],
)
def test_statement_columns_are_the_tables_columns(
    meta_server: ServerProcess, statement: str, table: str
) -> None:
    """SHOW STAGES / DESC STAGE and LIST say, in their column definitions, what SHOW
    COLUMNS says of the stages table and of a directory table: names, order, nullability."""
    with meta_server.connect() as conn, conn.cursor() as cur:
        cur.execute(statement)
        described = [(d[0], bool(d[6])) for d in cur.description or []]
        cur.execute(f"SHOW COLUMNS FROM stagedb.{table}")
        listed = [(row[0], row[2] == "YES") for row in cur.fetchall()]
    assert described == listed
    assert described[0] == ("name", False) and any(nullable for _, nullable in described)


def test_show_create_table(meta_server: ServerProcess) -> None:
    names, [(table, text)] = fetch(meta_server, "SHOW CREATE TABLE stagedb.alpha")
    assert names == ["Table", "Create Table"] and table == "alpha"
    assert text.startswith("CREATE TABLE `alpha` (\n  `name` varchar(1024) NOT NULL")
    assert "PRIMARY KEY (`name`)" in text
    assert text.endswith(
        "ENGINE=STAGEDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin "
        "COMMENT='Files of stage alpha: it''s alpha'"
    )


def test_show_table_status_and_keys(meta_server: ServerProcess) -> None:
    names, rows = fetch(meta_server, "SHOW TABLE STATUS FROM stagedb LIKE 'alpha'")
    assert names[:2] == ["Name", "Engine"] and names[14] == "Collation"
    assert [(r[0], r[1], r[14]) for r in rows] == [("alpha", "STAGEDB", "utf8mb4_bin")]
    names, rows = fetch(meta_server, "SHOW KEYS FROM alpha FROM stagedb")
    assert names[:5] == ["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name"]
    assert [r[:5] for r in rows] == [("alpha", 0, "PRIMARY", 1, "name")]
    assert fetch(meta_server, "SHOW INDEX FROM stagedb.alpha")[1] == rows


def test_unknown_tables_and_databases(meta_server: ServerProcess) -> None:
    for sql, code in (
        ("SHOW COLUMNS FROM nope FROM stagedb", 1146),
        ("SHOW CREATE TABLE stagedb.nope", 1146),
        ("SHOW COLUMNS FROM `a/b` FROM stagedb", 1146),  # names no stage can have
        ("SHOW COLUMNS FROM `..` FROM stagedb", 1146),
        ("DESCRIBE stagedb.`~`", 1146),
        ("SHOW INDEX FROM `@alpha` FROM stagedb", 1146),
        ("SHOW COLUMNS FROM ALPHA FROM stagedb", 1146),  # stage names are case-sensitive
        ("SHOW COLUMNS FROM nope FROM information_schema", 1146),
        ("SHOW TABLES FROM nodb", 1049),
        ("USE nodb", 1049),
    ):
        with pytest.raises(pymysql.MySQLError) as caught:
            meta_server.query(sql)
        assert caught.value.args[0] == code, sql


def test_one_table_is_looked_up_as_its_user_sees_it(tmp_path: Any) -> None:
    """SHOW COLUMNS / SHOW CREATE TABLE of a directory table answer for a stage the user
    sees (owned or granted) and 1146 for one they do not, exactly as SHOW TABLES lists."""
    bob = ("bob", "Bob-Meta-9f2c")
    proc = start_server(str(tmp_path))
    try:
        run(proc, "root", "", f"CREATE USER bob IDENTIFIED BY '{bob[1]}'")
        run(proc, "root", "", "CREATE STAGE hidden")
        run(proc, "root", "", "CREATE STAGE granted COMMENT = 'for bob'")
        run(proc, "root", "", "GRANT READ ON STAGE granted TO bob")
        assert run(proc, *bob, "SHOW TABLES FROM stagedb") == [("granted",), ("stages",)]
        columns = run(proc, *bob, "SHOW COLUMNS FROM stagedb.granted")
        assert [c[0] for c in columns] == LIST_COLUMNS
        [(_, text)] = run(proc, *bob, "SHOW CREATE TABLE stagedb.granted")
        assert text.endswith("COMMENT='Files of stage granted: for bob'")
        assert [c[0] for c in run(proc, *bob, "DESCRIBE stagedb.stages")][:2] == [
            "name",
            "stage_type",
        ]
        for sql in ("SHOW COLUMNS FROM stagedb.hidden", "SHOW CREATE TABLE stagedb.hidden"):
            with pytest.raises(pymysql.MySQLError) as caught:
                run(proc, *bob, sql)
            assert caught.value.args[0] == 1146, sql
            assert "hidden" in caught.value.args[1]
        assert [c[0] for c in run(proc, "root", "", "SHOW COLUMNS FROM stagedb.hidden")] == (
            LIST_COLUMNS
        )
    finally:
        proc.stop()


def test_information_schema_conventions(meta_server: ServerProcess) -> None:
    names, rows = fetch(
        meta_server,
        "SELECT column_name, ordinal_position, data_type, column_type, is_nullable, "
        "character_set_name, collation_name, column_key FROM information_schema.columns "
        "WHERE table_schema = 'stagedb' AND table_name = 'alpha' ORDER BY ordinal_position",
    )
    assert names[:2] == ["COLUMN_NAME", "ORDINAL_POSITION"]
    assert [r[0] for r in rows] == LIST_COLUMNS
    assert [r[1] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][2:] == ("varchar", "varchar(1024)", "NO", "utf8mb4", "utf8mb4_bin", "PRI")
    assert rows[1][2:] == ("bigint", "bigint unsigned", "NO", None, None, "")
    _, tables = fetch(
        meta_server,
        "SELECT table_name, table_type, engine, table_collation FROM information_schema.tables "
        "WHERE table_schema = 'stagedb' ORDER BY table_name",
    )
    assert tables == [
        (n, "BASE TABLE", "STAGEDB", "utf8mb4_bin") for n in ("alpha", "beta", "stages")
    ]
    _, schemata = fetch(
        meta_server,
        "SELECT schema_name, default_character_set_name, default_collation_name "
        "FROM information_schema.schemata ORDER BY 1",
    )
    assert schemata[1] == ("stagedb", "utf8mb4", "utf8mb4_bin")


def test_keywords_engines_charsets(meta_server: ServerProcess) -> None:
    _, words = fetch(meta_server, "SELECT WORD FROM INFORMATION_SCHEMA.KEYWORDS WHERE RESERVED=1")
    assert {("SELECT",), ("FROM",), ("DUAL",)} <= set(words) and ("DIRECTORY",) not in words
    names, engines = fetch(meta_server, "SHOW ENGINES")
    assert names == ["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"]
    assert engines[0][:2] == ("STAGEDB", "DEFAULT")
    names, charsets = fetch(meta_server, "SHOW CHARSET")
    assert names == ["Charset", "Description", "Default collation", "Maxlen"]
    assert ("utf8mb4", "UTF-8 Unicode", "utf8mb4_general_ci", 4) in charsets
    assert fetch(meta_server, "SHOW CHARACTER SET LIKE 'utf8mb4'")[1] == [
        ("utf8mb4", "UTF-8 Unicode", "utf8mb4_general_ci", 4)
    ]
    names, collations = fetch(meta_server, "SHOW COLLATION WHERE Id = 46 AND Compiled = 'Yes'")
    assert names[:3] == ["Collation", "Charset", "Id"] and collations[0][:3] == (
        "utf8mb4_bin",
        "utf8mb4",
        46,
    )
    names, plugins = fetch(meta_server, "SHOW PLUGINS")
    assert names == ["Name", "Status", "Type", "Library", "License"]
    assert ("mysql_native_password", "ACTIVE", "AUTHENTICATION", None, "GPL") in plugins


@pytest.mark.parametrize(
    "sql",
    [
        # MariaDB Connector/J 2.7 (Metabase, DBeaver) on connect
        "set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')",
        "SELECT @@max_allowed_packet,@@system_time_zone,@@time_zone,@@auto_increment_increment",
        "SET @@session.time_zone = '+00:00'",
        "SELECT 1 FROM DUAL WHERE 1=0",
        "SELECT @@GLOBAL.character_set_server,@@GLOBAL.collation_server",
        "SELECT WORD FROM INFORMATION_SCHEMA.KEYWORDS WHERE RESERVED=1 ORDER BY WORD",
        "SHOW VARIABLES LIKE 'lower_case_table_names'",
        "SHOW STATUS",
        # Connector/J-style metadata queries (LEAST, NULLIF, IF)
        "SELECT SCHEMA_NAME TABLE_CAT, NULL TABLE_CATALOG FROM INFORMATION_SCHEMA.SCHEMATA "
        "ORDER BY SCHEMA_NAME",
        "SELECT TABLE_SCHEMA TABLE_CAT, NULL TABLE_SCHEM, TABLE_NAME, IF(TABLE_TYPE='BASE TABLE' "
        "or TABLE_TYPE='SYSTEM VERSIONED', 'TABLE', TABLE_TYPE) as TABLE_TYPE, TABLE_COMMENT "
        "REMARKS FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'stagedb' AND TABLE_NAME "
        "LIKE '%' ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME",
        "SELECT TABLE_SCHEMA TABLE_CAT, NULL TABLE_SCHEM, TABLE_NAME, COLUMN_NAME, DATA_TYPE, "
        "COLUMN_TYPE TYPE_NAME, LEAST(CHARACTER_MAXIMUM_LENGTH, 2147483647) COLUMN_SIZE, "
        "NUMERIC_SCALE DECIMAL_DIGITS, IF(IS_NULLABLE = 'yes',1,0) NULLABLE, "
        "COLUMN_COMMENT REMARKS, NULLIF(COLUMN_DEFAULT, 'NULL') COLUMN_DEF, "
        "ORDINAL_POSITION, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_SCHEMA = 'stagedb' AND TABLE_NAME LIKE 'alpha' ORDER BY ORDINAL_POSITION",
        # Grafana, mycli
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'stagedb' "
        "ORDER BY table_name",
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'stagedb' ORDER BY table_name, ordinal_position",
        'SELECT name from mysql.help_topic WHERE name like "SHOW %"',
        "SELECT * FROM information_schema.statistics WHERE table_schema = 'stagedb'",
        "SELECT * FROM information_schema.key_column_usage WHERE table_schema = 'stagedb'",
        "SELECT * FROM information_schema.routines",
        "SELECT * FROM information_schema.views",
        "SHOW TABLE STATUS FROM stagedb",
        "SHOW CREATE DATABASE stagedb",
        # BI tools browsing a table
        "SELECT * FROM stagedb.alpha LIMIT 200",
        "SELECT * FROM stagedb.alpha LIMIT 0, 200",
    ],
)
def test_client_statements_answer(meta_server: ServerProcess, sql: str) -> None:
    """No error, and the shape a client expects: SET answers OK (no columns); every
    other statement answers a result set whose rows are as wide as its columns."""
    names, rows = fetch(meta_server, sql)
    if sql.lower().startswith("set "):
        assert names == [] and rows == []
        return
    assert names, f"no result set for {sql!r}"
    assert all(len(row) == len(names) for row in rows)
    has_rows = ("alpha", "SCHEMATA", "KEYWORDS", "SHOW VARIABLES", "SHOW TABLE", "SHOW CREATE")
    if any(marker in sql for marker in has_rows):  # (SHOW STATUS answers no rows)
        assert rows, f"no rows for {sql!r}"


def test_connector_j_columns_query_values(meta_server: ServerProcess) -> None:
    _, rows = fetch(
        meta_server,
        "SELECT COLUMN_NAME, LEAST(CHARACTER_MAXIMUM_LENGTH, 2147483647) COLUMN_SIZE, "
        "IF(IS_NULLABLE = 'YES', 1, 0) NULLABLE, NULLIF(COLUMN_DEFAULT, 'NULL') "
        "FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = 'stagedb' AND TABLE_NAME = 'alpha'",
    )
    assert rows[0] == ("name", 1024, 0, None)
    assert rows[2] == ("md5", 64, 1, None)


def test_metabase_time_zone_probe(meta_server: ServerProcess) -> None:
    names, rows = fetch(
        meta_server,
        "SELECT @@GLOBAL.time_zone AS global_tz, @@system_time_zone AS system_tz, "
        "time_format(timediff(now(), convert_tz(now(), @@GLOBAL.time_zone, '+00:00')), "
        "'%H:%i') AS 'offset'",
    )
    assert names == ["global_tz", "system_tz", "offset"] and rows[0][2] == "00:00"
    _, [(shifted,)] = fetch(
        meta_server,
        "SELECT time_format(timediff(now(), convert_tz(now(), '+00:00', '+05:30')), '%H:%i')",
    )
    assert shifted == "-05:30"


def test_set_session_variables_are_kept(meta_server: ServerProcess) -> None:
    with meta_server.connect() as conn, conn.cursor() as cur:
        cur.execute("set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')")
        cur.execute("SELECT @@sql_mode")
        assert str(cur.fetchone()[0]).endswith(",STRICT_TRANS_TABLES")  # type: ignore[index]
        cur.execute("SET @@session.time_zone = '+02:00'")
        cur.execute("SELECT @@time_zone")
        assert cur.fetchone() == ("+02:00",)


def test_mysql_cli_use_and_browse(meta_server: ServerProcess) -> None:
    cli = mysql_cli()
    done = subprocess.run(
        [cli, "-h", meta_server.host, "-P", str(meta_server.mysql_port), "-u", "root",
         "--skip-ssl", "stagedb", "-e",
         "SHOW TABLES; SELECT name, size FROM alpha; DESCRIBE alpha; DESC STAGE alpha"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0 and "skip-ssl" in done.stderr:
        pytest.skip("this mysql client has no --skip-ssl")
    assert done.returncode == 0, done.stderr
    assert "one.csv\t4" in done.stdout and "varchar(1024)" in done.stdout
    assert "External" in done.stdout


def test_all_stages_appear_once_a_stage_is_created(tmp_path: Any) -> None:
    proc = start_server(str(tmp_path))
    try:
        assert proc.query("SHOW TABLES FROM stagedb") == [("stages",)]
        proc.query("CREATE STAGE fresh")
        assert proc.query("SHOW TABLES FROM stagedb") == [("fresh",), ("stages",)]
        proc.query("DROP STAGE fresh")
        assert proc.query("SHOW TABLES FROM stagedb") == [("stages",)]
    finally:
        proc.stop()


def test_show_variables_where(meta_server: ServerProcess) -> None:
    names, rows = fetch(
        meta_server,
        "SHOW VARIABLES WHERE Variable_name = 'lower_case_table_names' OR Variable_name = 'x'",
    )
    assert names == ["Variable_name", "Value"] and rows == [("lower_case_table_names", "0")]
