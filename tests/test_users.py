"""Users: CREATE / ALTER / DROP USER, SHOW USERS, root's password, logins on both ports."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import mysql.connector
import pytest
from accesstools import (
    assert_denied,
    columns_and_rows,
    connect,
    http,
    login_fails,
    run,
    sql_error,
    upload,
)
from clienttools import RawClient, parse_err
from conftest import ServerProcess, mysql_cli, start_server
from s3fixtures import AWS_ENV, MotoS3

from stagedb.passwords import check_http_verifier

BOB_PW = "bob-Pa55word"
ROOT = ("root", "")


def create_user(server: ServerProcess, name: str, password: str) -> None:
    run(server, *ROOT, f"CREATE USER '{name}' IDENTIFIED BY '{password}'")


def test_a_user_logs_in_on_both_ports_until_dropped(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    assert run(server, "bob", BOB_PW, "SELECT 1") == [(1,)]
    assert upload(server, "~", ("bob", BOB_PW)).status == 200
    assert run(server, "bob", BOB_PW, "LIST @~")[0][0] == "f.txt"
    login_fails(server, "bob", "wrong")
    login_fails(server, "bob", "")
    refused = upload(server, "~", ("bob", "wrong"))
    assert refused.status == 401 and refused.error()[0] == 2201
    assert refused.headers["www-authenticate"].startswith("Basic")

    run(server, *ROOT, "DROP USER bob")
    login_fails(server, "bob", BOB_PW)
    assert upload(server, "~", ("bob", BOB_PW)).status == 401  # the cached check is gone too
    errno, message = sql_error(server, *ROOT, "DROP USER bob")
    assert (
        errno == 1396
        and message == "UnknownUser. Code: 2201, Text = User 'bob'@'%' does not exist."
    )
    assert run(server, *ROOT, "DROP USER IF EXISTS bob") == []  # no error


def test_alter_user_changes_the_password_everywhere(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    assert upload(server, "~", ("bob", BOB_PW)).status == 200  # now remembered as verified
    run(server, *ROOT, "ALTER USER bob IDENTIFIED BY 'n3w-password'")
    login_fails(server, "bob", BOB_PW)
    assert upload(server, "~", ("bob", BOB_PW)).status == 401
    assert run(server, "bob", "n3w-password", "SELECT 1") == [(1,)]
    assert upload(server, "~", ("bob", "n3w-password")).status == 200
    # a user changes their own password; nobody else but root may
    run(server, "bob", "n3w-password", "ALTER USER 'bob'@'%' IDENTIFIED BY 'third-one'")
    assert run(server, "bob", "third-one", "SELECT 1") == [(1,)]
    create_user(server, "carol", "carol-pw")
    assert_denied(server, "carol", "carol-pw", "ALTER USER bob IDENTIFIED BY 'x'")
    assert run(server, "bob", "third-one", "SELECT 1") == [(1,)]
    errno, message = sql_error(server, *ROOT, "ALTER USER nobody IDENTIFIED BY 'x'")
    assert errno == 1396 and "User 'nobody'@'%' does not exist" in message
    assert run(server, *ROOT, "ALTER USER IF EXISTS nobody IDENTIFIED BY 'x'") == []


def test_create_user_errors(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    errno, message = sql_error(server, *ROOT, "CREATE USER bob IDENTIFIED BY 'other'")
    assert errno == 1396
    assert message == "UserAlreadyExists. Code: 2202, Text = User 'bob'@'%' already exists."
    assert run(server, *ROOT, "CREATE USER IF NOT EXISTS bob IDENTIFIED BY 'other'") == []
    assert run(server, "bob", BOB_PW, "SELECT 1") == [(1,)]  # unchanged
    cases = {
        "CREATE USER eve IDENTIFIED BY ''": "password must not be empty",
        "CREATE USER 'a b' IDENTIFIED BY 'pw'": "Invalid user name 'a b'",
        "CREATE USER '1x' IDENTIFIED BY 'pw'": "Invalid user name '1x'",
        "CREATE USER 'eve'@'localhost' IDENTIFIED BY 'pw'": "not tied to a host",
        "CREATE USER root IDENTIFIED BY 'pw'": "--root-password",
        "ALTER USER root IDENTIFIED BY 'pw'": "STAGEDB_ROOT_PASSWORD",
        f"CREATE USER eve IDENTIFIED BY '{'x' * 1025}'": "at most 1024",
    }
    for sql, expected in cases.items():
        errno, message = sql_error(server, *ROOT, sql)
        assert errno == 1210 and message.startswith("BadArguments. Code: 1006"), (sql, message)
        assert expected in message, (sql, message)
    message = assert_denied(server, *ROOT, "DROP USER root")
    assert "'root'@'%' cannot be dropped" in message
    assert [r[0] for r in run(server, *ROOT, "SHOW USERS")] == ["root", "bob"]


def test_the_catalog_keeps_verifiers_and_never_a_password(
    server: ServerProcess, data_dir: Path
) -> None:
    create_user(server, "bob", BOB_PW)
    path = data_dir / "catalog" / "users" / "bob.json"
    raw = path.read_text()
    assert BOB_PW not in raw
    record = json.loads(raw)
    native = hashlib.sha1(hashlib.sha1(BOB_PW.encode()).digest()).hexdigest()
    assert record["native_password"] == native
    assert record["http_password"].startswith("scrypt$16384$8$1$")
    assert check_http_verifier(BOB_PW, record["http_password"])
    assert not check_http_verifier("wrong", record["http_password"])
    columns, rows = columns_and_rows(server, *ROOT, "SHOW USERS")
    assert columns == ["name", "hostname", "auth_type", "has_password", "created_on"]
    assert rows[0] == ("root", "%", "mysql_native_password", 0, None)
    assert rows[1][:4] == ("bob", "%", "mysql_native_password", 1)
    shown = repr(rows)
    for secret in (BOB_PW, native, record["http_password"].split("$")[-1]):
        assert secret not in shown


def test_only_root_administers_users(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    create_user(server, "carol", "carol-pw")
    for sql in (
        "CREATE USER eve IDENTIFIED BY 'pw'",
        "DROP USER carol",
        "SHOW USERS",
        "SHOW GRANTS FOR carol",
        "SHOW GRANTS FOR 'root'@'%'",
        "GRANT CREATE STAGE ON *.* TO bob",
        "REVOKE CREATE STAGE ON *.* FROM carol",
    ):
        assert_denied(server, "bob", BOB_PW, sql)
    assert [r[0] for r in run(server, *ROOT, "SHOW USERS")] == ["root", "bob", "carol"]


def test_root_password_comes_from_the_configuration_at_every_start(data_dir: Path) -> None:
    first = start_server(str(data_dir), "--root-password", "flag-Secret-1")
    try:
        assert run(first, "root", "flag-Secret-1", "SELECT 1") == [(1,)]
        login_fails(first, "root", "")
        assert http(f"{first.http_url}/v1/upload_to_stage", "PUT").status == 401
        assert upload(first, "~", ("root", "flag-Secret-1")).status == 200
        assert upload(first, "~", ("root", "")).status == 401
        rows = run(first, "root", "flag-Secret-1", "SHOW USERS")
        assert rows[0][:4] == ("root", "%", "mysql_native_password", 1)
        run(first, "root", "flag-Secret-1", "CREATE USER bob IDENTIFIED BY 'bob-pw'")
    finally:
        first.stop()
    second = start_server(str(data_dir), env={"STAGEDB_ROOT_PASSWORD": "env-Secret-2"})
    try:
        login_fails(second, "root", "flag-Secret-1")
        assert run(second, "root", "env-Secret-2", "SELECT 1") == [(1,)]
        assert upload(second, "~", ("root", "env-Secret-2")).status == 200
        assert run(second, "bob", "bob-pw", "SELECT 1") == [(1,)]  # users outlive restarts
    finally:
        second.stop()


def test_no_session_after_a_users_failed_login(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    with RawClient(server.host, server.mysql_port) as client:
        error = parse_err(client.login("bob"))  # an empty password: wrong
        assert (error.errno, error.sqlstate) == (1045, "28000")
        with contextlib.suppress(OSError):
            client.send_query("CREATE USER intruder IDENTIFIED BY 'x'")
        rest, closed = client.read_until_closed()
    assert closed and rest == []
    assert [r[0] for r in run(server, *ROOT, "SHOW USERS")] == ["root", "bob"]


def test_mysql_connector_sees_sqlstates(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    options: dict[str, Any] = {"host": server.host, "port": server.mysql_port, "user": "bob"}
    with pytest.raises(mysql.connector.Error) as caught:
        mysql.connector.connect(**options, password="wrong", use_pure=True)
    assert (caught.value.errno, caught.value.sqlstate) == (1045, "28000")
    conn = mysql.connector.connect(**options, password=BOB_PW, use_pure=True)
    try:
        cur = conn.cursor()
        with pytest.raises(mysql.connector.Error) as denied:
            cur.execute("CREATE STAGE nope")
        assert (denied.value.errno, denied.value.sqlstate) == (1142, "42000")
        assert "PermissionDenied. Code: 1063" in denied.value.msg
    finally:
        conn.close()


def test_a_dropped_users_open_session_can_do_nothing_more(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    with connect(server, "bob", BOB_PW) as conn, conn.cursor() as cur:
        cur.execute("LIST @~")
        run(server, *ROOT, "DROP USER bob")
        with pytest.raises(Exception) as caught:
            cur.execute("LIST @~")
        assert caught.value.args[0] == 1142
        assert "user 'bob'@'%' no longer exists" in caught.value.args[1]


def test_drop_user_hands_stages_to_root_and_deletes_the_user_stage(
    server: ServerProcess, data_dir: Path
) -> None:
    create_user(server, "alice", "alice-pw")
    run(server, *ROOT, "GRANT CREATE STAGE ON *.* TO alice")
    run(server, "alice", "alice-pw", "CREATE STAGE mine")
    assert upload(server, "~", ("alice", "alice-pw"), "private.txt").status == 200
    assert (data_dir / "stage" / "user" / "alice" / "private.txt").exists()
    run(server, *ROOT, "DROP USER alice")
    assert run(server, *ROOT, "SHOW STAGES")[0][-1] == "root"
    assert not (data_dir / "stage" / "user" / "alice").exists()
    create_user(server, "alice", "new-alice-pw")  # a new user of the same name
    assert run(server, "alice", "new-alice-pw", "LIST @~") == []
    assert_denied(server, "alice", "new-alice-pw", "DROP STAGE mine")


def test_concurrent_grants_to_one_user_are_all_kept(server: ServerProcess) -> None:
    create_user(server, "bob", BOB_PW)
    names = [f"s{i}" for i in range(12)]
    for name in names:
        run(server, *ROOT, f"CREATE STAGE {name}")
    barrier = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def grant(name: str) -> None:
        try:
            with server.connect() as conn, conn.cursor() as cur:
                barrier.wait()
                cur.execute(f"GRANT READ ON STAGE {name} TO bob")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=grant, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    lines = [r[0] for r in run(server, "bob", BOB_PW, "SHOW GRANTS")]
    assert lines == ["GRANT USAGE ON *.* TO 'bob'@'%'"] + [
        f"GRANT READ ON STAGE {n} TO 'bob'@'%'" for n in sorted(names)
    ]


def test_the_mysql_cli_logs_in_as_a_user(server: ServerProcess) -> None:
    cli = mysql_cli()
    create_user(server, "bob", BOB_PW)
    base = [cli, "-h", server.host, "-P", str(server.mysql_port), "-u", "bob", "--batch"]
    done = subprocess.run(
        [*base, f"-p{BOB_PW}", "-e", "SHOW GRANTS"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Grants for bob@%", "GRANT USAGE ON *.* TO 'bob'@'%'"]
    refused = subprocess.run(
        [*base, "-pwrong", "-e", "SELECT 1"], capture_output=True, text=True, timeout=30
    )
    assert refused.returncode != 0 and "1045" in refused.stderr


# -- a data root on S3: users are shared by every server on the bucket ----------------------

BUCKET = "stagedb-users"


def test_users_and_grants_on_s3_are_shared_by_two_servers(moto_s3: MotoS3) -> None:
    moto_s3.reset()
    moto_s3.client().create_bucket(Bucket=BUCKET)
    data = f"s3://{BUCKET}/prefix"
    first = start_server(data, *moto_s3.storage_flags(), env=AWS_ENV)
    second = start_server(data, *moto_s3.storage_flags(), env=AWS_ENV)
    try:
        create_user(first, "bob", BOB_PW)
        run(first, *ROOT, "CREATE STAGE shared")
        run(first, *ROOT, "GRANT READ ON STAGE shared TO bob")
        assert run(second, "bob", BOB_PW, "LIST @shared") == []
        assert upload(second, "~", ("bob", BOB_PW)).status == 200
        assert_denied(second, "bob", BOB_PW, "REMOVE @shared")
        run(second, *ROOT, "GRANT WRITE ON STAGE shared TO bob")
        assert run(first, "bob", BOB_PW, "REMOVE @shared") == []
        run(second, *ROOT, "ALTER USER bob IDENTIFIED BY 'changed-pw'")
        login_fails(first, "bob", BOB_PW)
        assert upload(first, "~", ("bob", BOB_PW)).status == 401
        run(first, *ROOT, "DROP USER bob")
        login_fails(second, "bob", "changed-pw")
        objects = {o["Key"] for o in moto_s3.client().list_objects_v2(Bucket=BUCKET)["Contents"]}
        assert "prefix/catalog/users/bob.json" not in objects
    finally:
        first.stop()
        second.stop()
