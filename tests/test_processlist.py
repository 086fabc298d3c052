"""SHOW [FULL] PROCESSLIST, information_schema.PROCESSLIST and KILL [CONNECTION | QUERY]:
the server's live MySQL connections, seen and stopped by root (all) or their own user."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors
import pytest
from accesstools import run, sql_error
from clienttools import RawClient, parse_err
from conftest import ServerProcess, mysql_cli, required_tool
from testtools import wait_until

ROOT = ("root", "")
COM_PROCESS_KILL = 0x0C
COLUMNS = ["Id", "User", "Host", "db", "Command", "Time", "State", "Info"]
# A statement with a result far larger than the sockets' buffers, made as it is sent:
# a client that stops reading holds it "executing" without the server doing any work.
BIG = (
    "SELECT a.WORD AS first_word, b.WORD AS second_word, c.WORD AS third_word "
    "FROM information_schema.KEYWORDS a, information_schema.KEYWORDS b, "
    "information_schema.KEYWORDS c LIMIT 5000000"
)


def make_users(server: ServerProcess, *names: str) -> None:
    for name in names:
        run(server, *ROOT, f"CREATE USER {name} IDENTIFIED BY '{name}-pw'")


def connect(server: ServerProcess, user: str, **kwargs: Any) -> pymysql.connections.Connection:
    password = "" if user == "root" else f"{user}-pw"
    return server.connect(user=user, password=password, **kwargs)


@contextmanager
def stalled(server: ServerProcess, user: str) -> Iterator[pymysql.cursors.SSCursor]:
    """A connection of ``user`` running BIG whose client read one row and stopped."""
    conn = connect(server, user, cursorclass=pymysql.cursors.SSCursor)
    try:
        cur = conn.cursor()
        cur.execute(BIG)
        assert cur.fetchone() is not None
        yield cur
    finally:
        if conn._result is not None:  # the rest is never read: pymysql must not try to
            conn._result.unbuffered_active = False
        conn.close()


def processlist(conn: pymysql.connections.Connection, sql: str = "SHOW FULL PROCESSLIST") -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        assert [d[0] for d in cur.description or []] == COLUMNS
        return {row[0]: row for row in cur.fetchall()}


def local_host(conn: pymysql.connections.Connection) -> str:
    """The client's side of the connection, as the server's Host column shows it."""
    assert conn._sock is not None
    host, port = conn._sock.getsockname()[:2]
    return f"{host}:{port}"


def test_processlist_shows_each_connection_as_mysql_does(server: ServerProcess) -> None:
    make_users(server, "bob")
    with connect(server, "root") as root, connect(server, "bob", database="stagedb") as idle:
        with stalled(server, "bob") as busy:
            bob_busy = busy.connection
            time.sleep(1.1)  # the idle one has slept a second
            with root.cursor() as cur:
                cur.execute("SELECT CONNECTION_ID()")
                assert cur.fetchall() == ((root.thread_id(),),)  # the id in the list
            rows = processlist(root)
            me = rows[root.thread_id()]
            assert me[1:] == ("root", local_host(root), None, "Query", 0, "executing",
                              "SHOW FULL PROCESSLIST")  # fmt: skip
            sleeping = rows[idle.thread_id()]
            assert sleeping[1:5] == ("bob", local_host(idle), "stagedb", "Sleep")
            assert sleeping[5] >= 1 and sleeping[6] == "" and sleeping[7] is None
            running = rows[bob_busy.thread_id()]
            assert running[1:5] == ("bob", local_host(bob_busy), None, "Query")
            assert running[6] == "executing" and running[7] == BIG  # FULL: the whole statement
            short = processlist(root, "SHOW PROCESSLIST")
            assert short[bob_busy.thread_id()][7] == BIG[:100]  # without FULL: 100 characters
            # information_schema.PROCESSLIST: the same rows, queried like a table
            with root.cursor() as cur:
                cur.execute(
                    "SELECT ID, USER, DB, COMMAND, INFO FROM information_schema.PROCESSLIST "
                    "WHERE USER = 'bob'"
                )
                assert set(cur.fetchall()) == {
                    (idle.thread_id(), "bob", "stagedb", "Sleep", None),
                    (bob_busy.thread_id(), "bob", None, "Query", BIG),
                }
        # a closed connection leaves the list
        assert wait_until(lambda: bob_busy.thread_id() not in processlist(root))


def test_a_user_sees_only_their_own_connections(server: ServerProcess) -> None:
    make_users(server, "bob", "carol")
    with (
        connect(server, "root") as root,
        connect(server, "bob") as bob,
        connect(server, "bob") as bob2,
        connect(server, "carol") as carol,
        RawClient(server.host, server.mysql_port, timeout=30) as unauthenticated,
    ):
        unauthenticated.read_handshake()  # connected, not logged in
        rows = processlist(root)
        assert {bob.thread_id(), bob2.thread_id(), carol.thread_id()} < set(rows)
        logins = [row for row in rows.values() if row[1] == "unauthenticated user"]
        assert [(row[4], row[6]) for row in logins] == [("Connect", "login")]
        assert set(processlist(bob)) == {bob.thread_id(), bob2.thread_id()}
        assert set(processlist(carol)) == {carol.thread_id()}
        with carol.cursor() as cur:
            cur.execute("SELECT ID, USER FROM information_schema.PROCESSLIST")
            assert cur.fetchall() == ((carol.thread_id(), "carol"),)


def test_kill_query_stops_a_running_statement_and_keeps_the_connection(
    server: ServerProcess,
) -> None:
    make_users(server, "bob", "carol")
    with stalled(server, "bob") as busy, connect(server, "bob") as bob2:
        target = busy.connection.thread_id()
        errno, message = sql_error(server, "carol", "carol-pw", f"KILL QUERY {target}")
        assert (errno, message) == (
            1095, f"KillDenied. Code: 1095, Text = You are not owner of thread {target}.",
        )  # fmt: skip
        with bob2.cursor() as cur:
            cur.execute(f"KILL QUERY {target}")  # a user stops their own statement
        with pytest.raises(pymysql.err.MySQLError) as caught:
            busy.fetchall()  # the rows sent before the KILL, then the error
        assert caught.value.args == (
            1317, "QueryInterrupted. Code: 1317, Text = Query execution was interrupted.",
        )  # fmt: skip
        busy.execute("SELECT 1")  # the connection goes on
        assert list(busy.fetchall()) == [(1,)]
        with bob2.cursor() as cur:
            cur.execute(f"KILL QUERY {target}")  # an idle connection: nothing to stop
            cur.execute("SELECT 2")
            assert cur.fetchall() == ((2,),)
        busy.execute("SELECT 3")
        assert list(busy.fetchall()) == [(3,)]


def test_kill_connection_closes_it_at_once(server: ServerProcess) -> None:
    make_users(server, "bob")
    with connect(server, "root") as root, connect(server, "bob") as idle:
        with stalled(server, "bob") as busy:
            target = busy.connection.thread_id()
            with root.cursor() as cur:
                cur.execute(f"KILL {target}")  # a client that reads nothing is cut off too
            assert wait_until(lambda: target not in processlist(root))
            with pytest.raises(pymysql.err.OperationalError):
                busy.fetchall()
        with root.cursor() as cur:
            cur.execute(f"KILL CONNECTION {idle.thread_id()}")
        with pytest.raises(pymysql.err.OperationalError), idle.cursor() as cur:
            cur.execute("SELECT 1")
        assert wait_until(lambda: idle.thread_id() not in processlist(root))


def test_kill_errors_and_killing_oneself(server: ServerProcess) -> None:
    make_users(server, "bob")
    errno, message = sql_error(server, *ROOT, "KILL 4242")
    assert (errno, message) == (1094, "UnknownThread. Code: 1094, Text = Unknown thread id: 4242.")
    errno, message = sql_error(server, *ROOT, "KILL QUERY 'x'")
    assert errno == 1210 and "KILL takes a connection id" in message
    with connect(server, "root") as root:
        errno, message = sql_error(server, "bob", "bob-pw", f"KILL {root.thread_id()}")
        assert errno == 1095 and "You are not owner of thread" in message
        assert root.thread_id() in processlist(root)  # untouched
    with connect(server, "bob") as bob, bob.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as caught:
            cur.execute(f"KILL QUERY {bob.thread_id()}")
        assert caught.value.args[0] == 1317, caught.value.args
        cur.execute("SELECT 1")  # still connected
        assert cur.fetchall() == ((1,),)
        with pytest.raises(pymysql.err.MySQLError) as caught:
            cur.execute(f"KILL {bob.thread_id()}")
        assert caught.value.args[0] == 1317  # as MySQL: interrupted, then disconnected
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("SELECT 1")


def test_the_mysql_cli_shows_and_kills(server: ServerProcess, tmp_path: Path) -> None:
    cli = mysql_cli()
    make_users(server, "bob")
    base = [cli, "--no-defaults", "-h", server.host, "-P", str(server.mysql_port), "--batch"]

    def cli_run(user: str, sql: str) -> subprocess.CompletedProcess[str]:
        password = [] if user == "root" else [f"-p{user}-pw"]
        return subprocess.run(
            [*base, "-u", user, *password, "-e", sql],
            capture_output=True, text=True, timeout=30, cwd=tmp_path,
        )  # fmt: skip

    with stalled(server, "bob") as busy:
        target = busy.connection.thread_id()
        done = cli_run("root", "SHOW PROCESSLIST")
        assert done.returncode == 0, done.stderr
        header, *lines = done.stdout.splitlines()
        assert header.split("\t") == COLUMNS
        rows = {int(line.split("\t")[0]): line.split("\t") for line in lines}
        assert rows[target][1] == "bob" and rows[target][4] == "Query"
        assert rows[target][7] == BIG[:100]
        mine = [row for row in rows.values() if row[7] == "SHOW PROCESSLIST"]
        assert len(mine) == 1 and mine[0][1:5] == ["root", mine[0][2], "NULL", "Query"]
        done = cli_run("bob", "SHOW FULL PROCESSLIST")
        assert done.returncode == 0, done.stderr
        assert {line.split("\t")[1] for line in done.stdout.splitlines()[1:]} == {"bob"}
        done = cli_run("bob", f"KILL QUERY {target}")
        assert done.returncode == 0, done.stderr
        with pytest.raises(pymysql.err.MySQLError) as caught:
            busy.fetchall()
        assert caught.value.args[0] == 1317, caught.value.args
        done = cli_run("bob", "KILL 4242")
        assert done.returncode == 1 and "ERROR 1094 (HY000)" in done.stderr


def mysqladmin() -> str:
    """Path of ``mysqladmin`` (MariaDB's client package has it beside ``mysql``)."""
    return required_tool("mysqladmin", "mysqladmin", "mariadb-admin")


def test_mysqladmin_lists_and_kills(server: ServerProcess, tmp_path: Path) -> None:
    admin = mysqladmin()
    make_users(server, "bob")
    base = [admin, "--no-defaults", "-h", server.host, "-P", str(server.mysql_port)]
    with connect(server, "bob") as bob, connect(server, "root") as root:
        done = subprocess.run(
            [*base, "-uroot", "-v", "processlist"], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        assert re.search(rf"^\| {bob.thread_id()} +\| bob +\| 127\.0\.0\.1:\d+ +\|", done.stdout,
                         re.M), done.stdout  # fmt: skip
        assert "| show full processlist |" in done.stdout
        done = subprocess.run(
            [*base, "-ubob", "-pbob-pw", "kill", str(root.thread_id())],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 1 and "You are not owner of thread" in done.stderr
        done = subprocess.run(
            [*base, "-uroot", "kill", str(bob.thread_id())],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert wait_until(lambda: bob.thread_id() not in processlist(root))


def test_com_process_kill_follows_the_same_rules(server: ServerProcess) -> None:
    make_users(server, "bob")
    with connect(server, "bob") as bob, connect(server, "root") as root:
        with RawClient(server.host, server.mysql_port, timeout=30) as raw:
            assert raw.login().is_ok  # root
            raw.write_packet(bytes([COM_PROCESS_KILL]) + (4242).to_bytes(4, "little"), seq=0)
            assert parse_err(raw.read_packet()).errno == 1094
            raw.write_packet(
                bytes([COM_PROCESS_KILL]) + bob.thread_id().to_bytes(4, "little"), seq=0
            )
            assert raw.read_packet().is_ok
            raw.write_packet(bytes([COM_PROCESS_KILL]) + b"\x01", seq=0)  # too short
            assert parse_err(raw.read_packet()).errno == 1835
            assert raw.handshake is not None
            (own,) = raw.query(f"KILL QUERY {raw.handshake.connection_id}")
            error = parse_err(own)  # MySQL's errno and SQLSTATE
            assert (error.errno, error.sqlstate) == (1317, "70100")
            (unknown,) = raw.query("KILL 4242")
            assert (parse_err(unknown).errno, parse_err(unknown).sqlstate) == (1094, "HY000")
        assert wait_until(lambda: bob.thread_id() not in processlist(root))
