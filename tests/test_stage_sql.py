"""Stage statements against a running server: results, semantics and every user error."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pymysql
import pytest
from conftest import ServerProcess
from testtools import internal_stage_dir

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+0000")


def error_of(server: ServerProcess, sql: str) -> tuple[int, str]:
    """The (errno, message) a statement fails with."""
    with pytest.raises(pymysql.MySQLError) as caught:
        server.query(sql)
    errno, message = caught.value.args[0], caught.value.args[1]
    return errno, message


def names(rows: list[tuple[object, ...]]) -> list[object]:
    return [row[0] for row in rows]


def make_files(root: Path, *paths: str) -> None:
    for relative in paths:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"content of {relative}")


# -- CREATE / SHOW / DESC / DROP -------------------------------------------------


def test_create_internal_stage_is_shown_with_every_column(server: ServerProcess) -> None:
    server.query("CREATE STAGE my_stage FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1) COMMENT = 'raw'")
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW STAGES")
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    assert columns == [
        "name", "stage_type", "storage_type", "url", "endpoint", "has_credentials",
        "has_encryption_key", "storage_params", "file_format_options", "creator", "created_on",
        "comment", "owner",
    ]  # fmt: skip
    (row,) = rows
    shown = dict(zip(columns, row, strict=True))
    assert shown["name"] == "my_stage"
    assert shown["stage_type"] == "Internal"
    assert shown["storage_type"] is None and shown["url"] is None
    assert shown["has_credentials"] == 0
    assert json.loads(str(shown["file_format_options"])) == {"type": "CSV", "skip_header": "1"}
    assert shown["comment"] == "raw"
    assert shown["creator"] == "'root'@'%'"
    assert shown["owner"] == "root"
    assert TIMESTAMP.fullmatch(str(shown["created_on"]))


def test_default_file_format_is_parquet(server: ServerProcess) -> None:
    server.query("CREATE STAGE s")
    (row,) = server.query("DESC STAGE s")
    assert json.loads(str(row[8])) == {"type": "PARQUET"}


def test_create_existing_stage_fails_with_1050(server: ServerProcess) -> None:
    server.query("CREATE STAGE s1")
    errno, message = error_of(server, "CREATE STAGE s1")
    assert errno == 1050
    assert message == "StageAlreadyExists. Code: 2502, Text = Stage 's1' already exists."


def test_create_if_not_exists_keeps_the_existing_stage(server: ServerProcess) -> None:
    server.query("CREATE STAGE s1 COMMENT = 'first'")
    server.query("CREATE STAGE IF NOT EXISTS s1 COMMENT = 'second'")
    assert server.query("DESC STAGE s1")[0][11] == "first"


def test_create_or_replace_replaces(server: ServerProcess, external_dir: Path) -> None:
    server.query("CREATE STAGE s1 COMMENT = 'first'")
    server.query(f"CREATE OR REPLACE STAGE s1 URL = 'fs://{external_dir}/' COMMENT = 'second'")
    (row,) = server.query("DESC STAGE s1")
    assert (row[1], row[3], row[11]) == ("External", f"fs://{external_dir}/", "second")


def test_or_replace_with_if_not_exists_is_a_syntax_error(server: ServerProcess) -> None:
    errno, message = error_of(server, "CREATE OR REPLACE STAGE IF NOT EXISTS s1")
    assert errno == 1064
    assert "OR REPLACE and IF NOT EXISTS cannot be used together" in message


@pytest.mark.parametrize(
    ("sql", "errno", "text"),
    [
        ("CREATE STAGE `@s`", 1210, "BadArguments. Code: 1006"),
        ("CREATE STAGE @s", 1210, "without '@'"),
        ("CREATE STAGE `a-b`", 1210, "Invalid stage name 'a-b'"),
        ("CREATE STAGE `9lives`", 1210, "Invalid stage name"),
        ("CREATE STAGE ~", 1142, "StagePermissionDenied. Code: 2506"),
        ("DROP STAGE ~", 1142, "StagePermissionDenied. Code: 2506"),
        ("CREATE OR REPLACE STAGE ~", 1142, "cannot be created"),
        ("DROP STAGE `@s`", 1210, "Invalid stage name"),
    ],
)
def test_bad_stage_names(server: ServerProcess, sql: str, errno: int, text: str) -> None:
    got_errno, message = error_of(server, sql)
    assert got_errno == errno
    assert text in message
    assert server.query("SHOW STAGES") == []


def test_drop_stage(server: ServerProcess) -> None:
    server.query("CREATE STAGE s1")
    server.query("DROP STAGE s1")
    assert server.query("SHOW STAGES") == []
    errno, message = error_of(server, "DROP STAGE s1")
    assert errno == 1051
    assert message == "UnknownStage. Code: 2501, Text = Stage 's1' does not exist."
    server.query("DROP STAGE IF EXISTS s1")  # no error


def test_show_stages_like_is_case_insensitive_and_ordered(server: ServerProcess) -> None:
    for name in ("beta", "Alpha", "alpine", "gamma"):
        server.query(f"CREATE STAGE {name}")
    assert names(server.query("SHOW STAGES")) == ["Alpha", "alpine", "beta", "gamma"]
    assert names(server.query("SHOW STAGES LIKE 'AL%'")) == ["Alpha", "alpine"]
    assert names(server.query("SHOW STAGES LIKE '_eta'")) == ["beta"]


def test_desc_missing_stage_gives_no_rows(server: ServerProcess) -> None:
    assert server.query("DESC STAGE nothing_here") == []


def test_desc_user_stage(server: ServerProcess) -> None:
    (row,) = server.query("DESCRIBE STAGE ~")
    assert (row[0], row[1], row[12]) == ("~", "User", "root")


# -- external stage URLs ---------------------------------------------------------


def test_url_without_trailing_slash_names_the_same_directory(
    server: ServerProcess, external_dir: Path
) -> None:
    make_files(external_dir, "a.csv")
    server.query(f"CREATE STAGE s URL = 'fs://{external_dir}'")
    assert server.query("DESC STAGE s")[0][3] == f"fs://{external_dir}/"
    assert names(server.query("LIST @s")) == ["a.csv"]


def test_file_url_is_accepted(server: ServerProcess, external_dir: Path) -> None:
    make_files(external_dir, "x/y.txt")
    server.query(f"CREATE STAGE s 'file://{external_dir}/'")
    assert names(server.query("LIST @s")) == ["x/y.txt"]
    assert server.query("DESC STAGE s")[0][2] == "file"


@pytest.mark.parametrize(
    ("url", "errno", "text"),
    [
        ("/tmp/", 1210, "fs:///abs/path/"),
        ("file://relative/path/", 1210, "absolute directory"),
        ("fs:///tmp/../etc/", 1210, "'..'"),
        ("ftp://host/prefix/", 1235, "StorageUnsupported. Code: 3902"),
        ("s3:///no-bucket/", 1210, "has no bucket"),
        ("fs:///no/such/directory/here/", 1105, "StorageOther. Code: 4000"),
    ],
)
def test_bad_urls_create_nothing(server: ServerProcess, url: str, errno: int, text: str) -> None:
    got_errno, message = error_of(server, f"CREATE STAGE s URL = '{url}'")
    assert (got_errno, text in message) == (errno, True), message
    assert server.query("SHOW STAGES") == []


def test_local_stage_rejects_connection_options(server: ServerProcess, external_dir: Path) -> None:
    errno, message = error_of(
        server, f"CREATE STAGE s URL = 'fs://{external_dir}/' CONNECTION = (REGION = 'x')"
    )
    assert errno == 1210
    assert "Unknown CONNECTION option(s) REGION" in message


def test_unknown_file_format_options_are_rejected(server: ServerProcess) -> None:
    errno, message = error_of(server, "CREATE STAGE s FILE_FORMAT = (TYPE = CSV COLOUR = 'red')")
    assert errno == 1210 and "Unknown FILE_FORMAT option(s) COLOUR" in message
    errno, message = error_of(server, "CREATE STAGE s FILE_FORMAT = (TYPE = XLSX)")
    assert errno == 1210 and "Unknown FILE_FORMAT TYPE 'XLSX'" in message


# -- LIST --------------------------------------------------------------------------


@pytest.fixture
def listed(server: ServerProcess, external_dir: Path) -> ServerProcess:
    """A server with stage ``s`` over the prefix example of FACTS.md."""
    make_files(
        external_dir,
        "p/ab.csv", "p/ab/cd.csv", "p/ab/cd.csv.bk",
        "multi_page/multi_page_1.parquet", "z.txt",
    )  # fmt: skip
    server.query(f"CREATE STAGE s URL = 'fs://{external_dir}/'")
    return server


def test_list_columns_and_formats(listed: ServerProcess, external_dir: Path) -> None:
    with listed.connect() as conn, conn.cursor() as cur:
        cur.execute("LIST @s")
        assert [d[0] for d in cur.description] == [
            "name",
            "size",
            "md5",
            "last_modified",
            "creator",
        ]
        rows = cur.fetchall()
    assert names(list(rows)) == sorted(names(list(rows)))
    for name, size, md5, last_modified, creator in rows:
        assert size == (external_dir / str(name)).stat().st_size
        assert md5 is None and creator is None
        assert TIMESTAMP.fullmatch(str(last_modified))


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("@s/p/a", ["p/ab.csv", "p/ab/cd.csv", "p/ab/cd.csv.bk"]),
        ("@s/p/ab", ["p/ab.csv", "p/ab/cd.csv", "p/ab/cd.csv.bk"]),
        ("@s/p/ab/", ["p/ab/cd.csv", "p/ab/cd.csv.bk"]),
        ("@s/p/ab/cd.csv", ["p/ab/cd.csv", "p/ab/cd.csv.bk"]),
        ("@s/nothing", []),
        (
            "@s/",
            [
                "multi_page/multi_page_1.parquet",
                "p/ab.csv",
                "p/ab/cd.csv",
                "p/ab/cd.csv.bk",
                "z.txt",
            ],
        ),
    ],
)
def test_list_path_is_a_raw_prefix(
    listed: ServerProcess, location: str, expected: list[str]
) -> None:
    assert names(listed.query(f"LIST {location}")) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("LIST @s/p/ab/ PATTERN = 'cd[.].*'", ["p/ab/cd.csv", "p/ab/cd.csv.bk"]),
        ("LIST @s/p/ab PATTERN = 'cd[.].*'", []),
        ("LIST @s/p/ab PATTERN = '/cd[.].*'", ["p/ab/cd.csv", "p/ab/cd.csv.bk"]),
        ("LIST @s PATTERN = 'multi_page_1'", []),
        ("LIST @s PATTERN = '.*multi_page_1.*'", ["multi_page/multi_page_1.parquet"]),
        ("LS @s PATTERN = '.*[.]csv'", ["p/ab.csv", "p/ab/cd.csv"]),
    ],
)
def test_list_pattern_matches_the_whole_remainder(
    listed: ServerProcess, sql: str, expected: list[str]
) -> None:
    assert names(listed.query(sql)) == expected


def test_list_invalid_regex_is_1005(listed: ServerProcess) -> None:
    errno, message = error_of(listed, "LIST @s PATTERN = '(unclosed'")
    assert errno == 1064
    assert message.startswith("SyntaxException. Code: 1005")
    assert "(unclosed" in message


@pytest.mark.parametrize("location", ["@s/../x", "@s/p/../../etc", "'@s/a/../b'"])
def test_list_rejects_dotdot(listed: ServerProcess, location: str) -> None:
    errno, message = error_of(listed, f"LIST {location}")
    assert errno == 1210 and "'..'" in message


def test_list_unknown_stage(server: ServerProcess) -> None:
    errno, message = error_of(server, "LIST @nope")
    assert errno == 1051
    assert message == "UnknownStage. Code: 2501, Text = Stage 'nope' does not exist."


def test_list_hides_directories_temporaries_and_symlinks(
    server: ServerProcess, external_dir: Path, tmp_path: Path
) -> None:
    make_files(external_dir, "keep.csv", "empty_dir/.keep")
    (external_dir / "only_dirs" / "deeper").mkdir(parents=True)
    (external_dir / ".stagedb-tmp-abc-partial.csv").write_text("half")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (external_dir / "link.txt").symlink_to(outside)
    server.query(f"CREATE STAGE s URL = 'fs://{external_dir}/'")
    assert names(server.query("LIST @s")) == ["empty_dir/.keep", "keep.csv"]


def test_list_quoted_location_with_spaces_and_unicode(
    server: ServerProcess, external_dir: Path
) -> None:
    make_files(external_dir, "my dir/ünïcødé file.csv", "year=2024/month=01/part-0.parquet")
    server.query(f"CREATE STAGE s URL = 'fs://{external_dir}/'")
    assert names(server.query("LIST '@s/my dir/'")) == ["my dir/ünïcødé file.csv"]
    assert names(server.query("LIST @s/year=2024/month=01/")) == [
        "year=2024/month=01/part-0.parquet"
    ]


def test_list_user_stage(server: ServerProcess, data_dir: Path) -> None:
    assert server.query("LIST @~") == []
    make_files(data_dir / "stage" / "user" / "root", "mine.csv", "sub/other.csv")
    assert names(server.query("LIST @~")) == ["mine.csv", "sub/other.csv"]
    assert names(server.query("LIST @~/sub")) == ["sub/other.csv"]


def test_list_sorted_across_directories(server: ServerProcess, external_dir: Path) -> None:
    paths = ["a/b", "a.csv", "a-b", "a/a", "ab", "A", "a0/x", "a/b.c/d"]
    make_files(external_dir, *paths)
    server.query(f"CREATE STAGE s URL = 'fs://{external_dir}/'")
    assert names(server.query("LIST @s")) == sorted(paths)


# -- internal stage files, DROP and REPLACE ----------------------------------------


def test_drop_internal_stage_deletes_its_files(server: ServerProcess, data_dir: Path) -> None:
    server.query("CREATE STAGE s")
    stage_dir = internal_stage_dir(data_dir, "s")
    make_files(stage_dir, "a.csv", "d/b.csv")
    assert names(server.query("LIST @s")) == ["a.csv", "d/b.csv"]
    server.query("DROP STAGE s")
    assert not stage_dir.exists() or not any(stage_dir.rglob("*"))
    server.query("CREATE STAGE s")
    assert server.query("LIST @s") == []


def test_create_or_replace_internal_stage_deletes_its_files(
    server: ServerProcess, data_dir: Path
) -> None:
    server.query("CREATE STAGE s")
    make_files(internal_stage_dir(data_dir, "s"), "a.csv")
    server.query("CREATE OR REPLACE STAGE s")
    assert server.query("LIST @s") == []


def test_drop_external_stage_keeps_its_files(server: ServerProcess, external_dir: Path) -> None:
    make_files(external_dir, "a.csv", "d/b.csv")
    server.query(f"CREATE STAGE s URL = 'fs://{external_dir}/'")
    server.query("DROP STAGE s")
    server.query(f"CREATE OR REPLACE STAGE t URL = 'fs://{external_dir}/'")
    server.query("CREATE OR REPLACE STAGE t")
    assert sorted(p.name for p in external_dir.rglob("*.csv")) == ["a.csv", "b.csv"]


# -- REMOVE ------------------------------------------------------------------------


def test_remove_returns_removed_names(listed: ServerProcess, external_dir: Path) -> None:
    with listed.connect() as conn, conn.cursor() as cur:
        cur.execute("REMOVE @s/p/ab/ PATTERN = '.*[.]bk'")
        assert [d[0] for d in cur.description] == ["name"]
        assert cur.fetchall() == (("p/ab/cd.csv.bk",),)
    assert not (external_dir / "p/ab/cd.csv.bk").exists()
    assert names(listed.query("RM @s/p")) == ["p/ab.csv", "p/ab/cd.csv"]
    assert names(listed.query("LIST @s")) == ["multi_page/multi_page_1.parquet", "z.txt"]
    assert listed.query("REMOVE @s/nothing") == []


def test_remove_reports_files_it_could_not_delete(
    listed: ServerProcess, external_dir: Path
) -> None:
    stuck = external_dir / "p" / "ab.csv"
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available to make an undeletable file")
    try:
        errno, message = error_of(listed, "REMOVE @s/p/")
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    assert errno == 1105
    assert message.startswith("StorageOther. Code: 4000")
    assert "p/ab.csv" in message and "2 file(s) were removed" in message
    assert names(listed.query("LIST @s/p/")) == ["p/ab.csv"]


# -- everything else ---------------------------------------------------------------


def test_unsupported_statements_fail_clearly(server: ServerProcess) -> None:
    errno, message = error_of(server, "CREATE TABLE t (a INT)")
    assert errno == 1235 and "does not support this statement" in message
    # issue 7: SELECTs read tables; a table that is not there is MySQL's 1146
    errno, message = error_of(server, "SELECT * FROM stagedb.some_table")
    assert errno == 1146 and "Table 'stagedb.some_table' doesn't exist" in message


def test_ordinary_mysql_statements_still_work(server: ServerProcess) -> None:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SET NAMES utf8mb4")
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
        cur.execute("SELECT 1 AS one, 'two', NULL, -3")
        assert cur.fetchall() == ((1, "two", None, -3),)
        assert [d[0] for d in cur.description] == ["one", "two", "NULL", "-3"]
        cur.execute("SELECT @@version_comment LIMIT 1")
        assert "stagedb" in str(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("SHOW DATABASES")
        assert ("information_schema",) in cur.fetchall()
        cur.execute("SELECT 1 + 1")
        assert cur.fetchall() == ((2,),)


def test_syntax_errors_name_position_and_token(server: ServerProcess) -> None:
    errno, message = error_of(server, "LIST @s FOO")
    assert errno == 1064
    assert "near 'FOO' at line 1, column 9" in message
    errno, message = error_of(server, "SELEC 1")
    assert errno == 1064 and "near 'SELEC 1' at line 1, column 1" in message


def test_stage_statements_on_the_memory_filesystem(memory_server: ServerProcess) -> None:
    server = memory_server
    server.query("CREATE STAGE m1 COMMENT = 'in memory'")
    assert server.query("CREATE STAGE IF NOT EXISTS m1") == []
    errno, _ = error_of(server, "CREATE STAGE m1")
    assert errno == 1050
    assert names(server.query("SHOW STAGES")) == ["m1"]
    assert server.query("LIST @m1") == []
    assert server.query("LIST @~") == []
    server.query("DROP STAGE m1")
    assert server.query("DESC STAGE m1") == []
