"""Directory tables and the stages table: SELECTs over a stage's files, run on DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from conftest import ServerProcess, start_server
from pymysql.constants import FIELD_TYPE

FILES = {
    "d1/a.csv": b"a,b\n1,2\n",
    "d1/b.json": b"{}",
    "d1/sub/c.csv": b"x" * 100,
    "d10/e.txt": b"hello",
    "d2/f_g.csv": b"12345678",
    "D1/upper.csv": b"1",
    "top.parquet": b"",
}


@pytest.fixture(scope="module")
def stage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with an external stage ``files`` over FILES and an empty internal stage."""
    base = tmp_path_factory.mktemp("directory")
    external = base / "external"
    for name, body in FILES.items():
        path = external / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    (base / "data").mkdir()
    proc = start_server(str(base / "data"))
    try:
        proc.query(f"CREATE STAGE files URL = 'fs://{external}/' COMMENT = 'test files'")
        proc.query("CREATE STAGE empty_stage")
        yield proc
    finally:
        proc.stop()


def rows(server: ServerProcess, sql: str) -> list[tuple[Any, ...]]:
    return server.query(sql)


def error_of(server: ServerProcess, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as caught:
        server.query(sql)
    code, message = caught.value.args[:2]
    return int(code), str(message)


def test_select_star_is_list(stage_server: ServerProcess) -> None:
    with stage_server.connect() as conn, conn.cursor() as cur:
        cur.execute("LIST @files")
        listed, list_description = cur.fetchall(), cur.description
        cur.execute("SELECT * FROM stagedb.files")
        selected, description = cur.fetchall(), cur.description
    assert selected == listed
    assert [d[0] for d in description] == ["name", "size", "md5", "last_modified", "creator"]
    assert [d[1] for d in description] == [d[1] for d in list_description]
    assert description[1][1] == FIELD_TYPE.LONGLONG
    assert sorted(name for name, *_ in selected) == sorted(FILES)
    assert {name: size for name, size, *_ in selected} == {k: len(v) for k, v in FILES.items()}


def test_directory_function_is_the_same_table(stage_server: ServerProcess) -> None:
    assert rows(stage_server, "SELECT * FROM DIRECTORY(@files)") == rows(
        stage_server, "SELECT * FROM stagedb.files"
    )
    assert rows(stage_server, "SELECT name FROM DIRECTORY(@files/d1/) AS d ORDER BY d.name") == [
        ("d1/a.csv",), ("d1/b.json",), ("d1/sub/c.csv",),
    ]  # fmt: skip
    assert rows(stage_server, "SELECT COUNT(*) FROM DIRECTORY(@empty_stage)") == [(0,)]


def test_user_stage_through_directory(stage_server: ServerProcess) -> None:
    assert rows(stage_server, "SELECT * FROM DIRECTORY(@~)") == rows(stage_server, "LIST @~")


def test_like_prefix_matches_list_of_the_prefix(stage_server: ServerProcess) -> None:
    by_like = rows(stage_server, "SELECT * FROM stagedb.files WHERE name LIKE 'd1%'")
    assert by_like == rows(stage_server, "LIST @files/d1")
    assert {r[0] for r in by_like} == {"d1/a.csv", "d1/b.json", "d1/sub/c.csv", "d10/e.txt"}
    # names are case-sensitive (utf8mb4_bin): 'D1%' is another prefix
    assert rows(stage_server, "SELECT name FROM stagedb.files WHERE name LIKE 'D1%'") == [
        ("D1/upper.csv",)
    ]
    # the LIKE pattern keeps filtering past the prefix; backslash escapes as in MySQL
    assert rows(stage_server, "SELECT name FROM stagedb.files WHERE name LIKE 'd1/%.csv'") == [
        ("d1/a.csv",), ("d1/sub/c.csv",),
    ]  # fmt: skip
    assert rows(stage_server, r"SELECT name FROM stagedb.files WHERE name LIKE 'd2/f\_%'") == [
        ("d2/f_g.csv",)
    ]
    assert rows(stage_server, "SELECT name FROM stagedb.files WHERE name = 'd10/e.txt'") == [
        ("d10/e.txt",)
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("size > 5", {"d1/a.csv", "d1/sub/c.csv", "d2/f_g.csv"}),
        ("size <= 1 AND name <> 'top.parquet'", {"D1/upper.csv"}),
        ("size IN (2, 5)", {"d1/b.json", "d10/e.txt"}),
        ("size BETWEEN 5 AND 8", {"d10/e.txt", "d2/f_g.csv", "d1/a.csv"}),
        ("md5 IS NULL AND size = 0", {"top.parquet"}),
        ("creator IS NOT NULL", set()),
        ("NOT (name LIKE 'd%') OR size = 100", {"D1/upper.csv", "top.parquet", "d1/sub/c.csv"}),
        ("name LIKE '%.csv' AND NOT size > 8", {"d1/a.csv", "d2/f_g.csv", "D1/upper.csv"}),
    ],
)
def test_where(stage_server: ServerProcess, where: str, expected: set[str]) -> None:
    found = rows(stage_server, f"SELECT name FROM stagedb.files WHERE {where}")
    assert {r[0] for r in found} == expected


def test_order_by_and_both_limit_forms(stage_server: ServerProcess) -> None:
    ordered = sorted(FILES.items(), key=lambda item: (-len(item[1]), item[0]))
    expected = [(name, len(body)) for name, body in ordered]
    sql = "SELECT name, size FROM stagedb.files ORDER BY size DESC, name"
    assert rows(stage_server, sql) == expected
    assert rows(stage_server, sql + " LIMIT 2") == expected[:2]
    assert rows(stage_server, sql + " LIMIT 2 OFFSET 3") == expected[3:5]
    assert rows(stage_server, sql + " LIMIT 3, 2") == expected[3:5]


def test_aggregates_group_by_having(stage_server: ServerProcess) -> None:
    sizes = [len(b) for b in FILES.values()]
    [(count, total, low, high, mean)] = rows(
        stage_server,
        "SELECT COUNT(*), SUM(size), MIN(size), MAX(size), AVG(size) FROM stagedb.files",
    )
    assert (count, int(total), low, high) == (len(sizes), sum(sizes), min(sizes), max(sizes))
    assert float(mean) == pytest.approx(sum(sizes) / len(sizes))
    grouped = rows(
        stage_server,
        "SELECT SUBSTRING_INDEX(name, '/', 1) AS top, COUNT(*) AS n, SUM(size) AS bytes "
        "FROM stagedb.files GROUP BY top HAVING COUNT(*) > 1 ORDER BY top",
    )
    assert [(t, n, int(b)) for t, n, b in grouped] == [("d1", 3, 8 + 2 + 100)]


def test_mysql_functions(stage_server: ServerProcess) -> None:
    [row] = rows(
        stage_server,
        "SELECT IF(size > 3, 'big', 'small'), IFNULL(md5, 'none'), NULLIF(size, 8), "
        "LEAST(size, 3), GREATEST(size, 10), CONCAT(name, '#', size), LOWER('AbC'), UPPER(name), "
        "DATE_FORMAT(STR_TO_DATE(SUBSTRING(last_modified, 1, 19), '%Y-%m-%d %H:%i:%s'), '%Y') "
        "FROM stagedb.files WHERE name = 'd2/f_g.csv'",
    )
    year = rows(stage_server, "SELECT last_modified FROM stagedb.files LIMIT 1")[0][0][:4]
    assert row == ("big", "none", None, 3, 10, "d2/f_g.csv#8", "abc", "D2/F_G.CSV", year)


def test_column_names_follow_mysql(stage_server: ServerProcess) -> None:
    with stage_server.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*), SUM(size) AS total, f.name FROM stagedb.files f GROUP BY f.name"
        )
        assert [d[0] for d in cur.description] == ["COUNT(*)", "total", "name"]
        cur.execute("SELECT count(*), IFNULL(md5,'-') FROM stagedb.files GROUP BY 2")
        assert [d[0] for d in cur.description] == ["count(*)", "IFNULL(md5,'-')"]
        cur.execute("SELECT 1; SELECT COUNT(name) FROM stagedb.files")
        cur.nextset()
        assert [d[0] for d in cur.description] == ["COUNT(name)"]


def test_stages_table_is_show_stages(stage_server: ServerProcess) -> None:
    with stage_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW STAGES")
        shown, names = cur.fetchall(), [d[0] for d in cur.description]
        cur.execute("SELECT * FROM stagedb.stages ORDER BY name")
        assert cur.fetchall() == shown
        assert [d[0] for d in cur.description] == names


def test_join_stages_with_a_directory(stage_server: ServerProcess) -> None:
    found = rows(
        stage_server,
        "SELECT s.name, s.comment, COUNT(*) FROM stagedb.stages s "
        "JOIN DIRECTORY(@files) d ON s.name = 'files' GROUP BY s.name, s.comment",
    )
    assert found == [("files", "test files", len(FILES))]


def test_unqualified_names_need_a_database(stage_server: ServerProcess) -> None:
    code, message = error_of(stage_server, "SELECT * FROM files")
    assert code == 1046 and "USE stagedb" in message
    with stage_server.connect(database="stagedb") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM files")
        assert cur.fetchall() == ((len(FILES),),)


@pytest.mark.parametrize(
    ("sql", "code", "text"),
    [
        ("SELECT * FROM stagedb.nope", 1146, "Table 'stagedb.nope' doesn't exist"),
        ("SELECT * FROM nodb.files", 1049, "Unknown database 'nodb'"),
        ("SELECT nosuch FROM stagedb.files", 1054, "Unknown column 'nosuch'"),
        ("SELECT * FROM DIRECTORY(@nope)", 1051, "Stage 'nope' does not exist"),
        ("SELECT * FROM DIRECTORY(files)", 1064, "DIRECTORY(@my_stage)"),
        ("SELECT * FROM read_csv('/etc/passwd')", 1105, "Unsupported table reference"),
        ("SELECT * FROM DIRECTORY(@files/../x)", 1210, ".."),
    ],
)
def test_errors(stage_server: ServerProcess, sql: str, code: int, text: str) -> None:
    got_code, message = error_of(stage_server, sql)
    assert (got_code, text in message) == (code, True), message


def test_embedded_engine_cannot_touch_files(stage_server: ServerProcess) -> None:
    with stage_server.connect(database="stagedb") as conn, conn.cursor() as cur:
        for sql in (
            "SELECT 1 FROM (SELECT * FROM '/etc/passwd') t",
            "SELECT * FROM stagedb.files WHERE name IN (SELECT * FROM read_text('/etc/passwd'))",
        ):
            with pytest.raises(pymysql.MySQLError) as caught:
                cur.execute(sql)
            code, message = caught.value.args[:2]
            assert code in (1105, 1146) and "root:" not in message, message


def test_large_listing_streams(tmp_path: Path) -> None:
    external = tmp_path / "many"
    for i in range(30):
        (external / f"p{i:02d}").mkdir(parents=True)
        for j in range(200):
            (external / f"p{i:02d}" / f"f{j:03d}").write_bytes(b"x" * (j % 7))
    (tmp_path / "data").mkdir()
    proc = start_server(str(tmp_path / "data"))
    try:
        proc.query(f"CREATE STAGE many URL = 'fs://{external}/'")
        with proc.connect(cursorclass=pymysql.cursors.SSCursor) as conn, conn.cursor() as cur:
            cur.execute("SELECT name, size FROM stagedb.many")
            count = sum(1 for _ in cur)
        assert count == 6000
        [(n, total)] = proc.query(
            "SELECT COUNT(*), SUM(size) FROM stagedb.many WHERE name LIKE 'p1%'"
        )
        assert (n, int(total)) == (2000, 10 * sum(j % 7 for j in range(200)))
    finally:
        proc.stop()


def test_database_name_is_configurable(tmp_path: Path) -> None:
    proc = start_server(str(tmp_path), "--database-name", "files_db")
    try:
        proc.query("CREATE STAGE s")
        assert ("files_db",) in proc.query("SHOW DATABASES")
        assert proc.query("SELECT name FROM files_db.stages") == [("s",)]
        assert proc.query("SELECT COUNT(*) FROM files_db.s") == [(0,)]
    finally:
        proc.stop()


def test_many_concurrent_queries_finish(stage_server: ServerProcess) -> None:
    """More concurrent directory SELECTs (and LISTs) than the server has worker threads."""
    import concurrent.futures

    expected = rows(stage_server, "SELECT COUNT(*), SUM(size) FROM stagedb.files")

    def run(i: int) -> object:
        if i % 4 == 0:
            return len(rows(stage_server, "LIST @files"))
        sql = "SELECT COUNT(*), SUM(size) FROM stagedb.files a WHERE a.name IN "
        return rows(stage_server, sql + "(SELECT name FROM DIRECTORY(@files))")

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(run, range(48), timeout=120))
    for i, answer in enumerate(answers):
        assert answer == (len(FILES) if i % 4 == 0 else expected)


@pytest.mark.parametrize("name", ["information_schema", "MySQL", "my db", "1st"])
def test_bad_database_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(RuntimeError, match="Invalid database name"):
        start_server(str(tmp_path), "--database-name", name)
