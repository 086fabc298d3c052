"""SET PASSWORD [FOR user] = '...': MySQL's other way to change a password, with ALTER USER's
rules, through pymysql and the mysql CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from accesstools import assert_denied, login_fails, run, sql_error, upload
from conftest import ServerProcess, mysql_cli

ROOT = ("root", "")
BOB_PW = "bob-Pa55word"


def make_users(server: ServerProcess, *names: str) -> None:
    for name in names:
        run(server, *ROOT, f"CREATE USER {name} IDENTIFIED BY '{name}-pw'")


def logs_in_everywhere(server: ServerProcess, user: str, password: str) -> None:
    """The password works on the MySQL port and the HTTP port."""
    assert run(server, user, password, "SELECT CURRENT_USER()")[0][0].startswith(user)
    assert upload(server, "~", (user, password)).status == 200


def test_a_user_sets_their_own_password(server: ServerProcess) -> None:
    make_users(server, "bob")
    logs_in_everywhere(server, "bob", "bob-pw")  # the HTTP port now remembers it as checked
    assert run(server, "bob", "bob-pw", "SET PASSWORD = 'second-Pw'") == []
    login_fails(server, "bob", "bob-pw")
    assert upload(server, "~", ("bob", "bob-pw")).status == 401
    logs_in_everywhere(server, "bob", "second-Pw")
    # every way MySQL writes it names the same account
    forms = {
        "SET PASSWORD FOR bob = 'third-Pw'": "third-Pw",
        "SET PASSWORD FOR 'bob'@'%' = 'fourth-Pw'": "fourth-Pw",
        'set password for current_user() := "fifth-Pw"': "fifth-Pw",
        "SET PASSWORD FOR `bob` = 'it''s-Pw'": "it's-Pw",
    }
    password = "second-Pw"
    for sql, new in forms.items():
        assert run(server, "bob", password, sql) == [], sql
        login_fails(server, "bob", password)
        logs_in_everywhere(server, "bob", new)
        password = new


def test_root_sets_anyones_password_and_no_one_else_does(server: ServerProcess) -> None:
    make_users(server, "bob", "carol")
    message = assert_denied(server, "carol", "carol-pw", "SET PASSWORD FOR bob = 'carols-Pw'")
    assert "[AlterUser]" in message and "'carol'@'%'" in message
    logs_in_everywhere(server, "bob", "bob-pw")  # unchanged
    assert run(server, *ROOT, "SET PASSWORD FOR 'bob'@'%' = 'from-Root1'") == []
    login_fails(server, "bob", "bob-pw")
    logs_in_everywhere(server, "bob", "from-Root1")
    logs_in_everywhere(server, "carol", "carol-pw")  # only bob changed


def test_set_password_errors(server: ServerProcess) -> None:
    make_users(server, "bob")
    errno, message = sql_error(server, *ROOT, "SET PASSWORD = 'x'")
    assert errno == 1210 and "STAGEDB_ROOT_PASSWORD" in message  # root's is configuration
    # root's password is configuration for everyone, as with ALTER USER
    refused = sql_error(server, "bob", "bob-pw", "SET PASSWORD FOR root = 'x'")
    assert refused == sql_error(server, "bob", "bob-pw", "ALTER USER root IDENTIFIED BY 'x'")
    assert refused[0] == 1210 and "STAGEDB_ROOT_PASSWORD" in refused[1]
    errno, message = sql_error(server, *ROOT, "SET PASSWORD FOR nobody = 'x'")
    assert errno == 1396 and "User 'nobody'@'%' does not exist" in message
    cases = {
        "SET PASSWORD FOR 'bob'@'localhost' = 'pw'": "not tied to a host",
        "SET PASSWORD = ''": "password must not be empty",
        f"SET PASSWORD = '{'x' * 1025}'": "at most 1024",
    }
    for sql, expected in cases.items():
        errno, message = sql_error(server, "bob", "bob-pw", sql)
        assert errno == 1210 and expected in message, (sql, message)
    logs_in_everywhere(server, "bob", "bob-pw")  # no error changed anything
    syntax = {
        "SET PASSWORD FOR bob 'Hidden-Secret1'": "near ''***''",
        "SET PASSWORD = 'Hidden-Secret1' REPLACE 'Hidden-Secret2'": "Unexpected 'REPLACE'",
        "SET PASSWORD = PASSWORD('Hidden-Secret1')": "PASSWORD('...') is gone since MySQL 8.0",
        "SET PASSWORD TO RANDOM": "stagedb does not make up passwords",
    }
    for sql, expected in syntax.items():
        errno, message = sql_error(server, "bob", "bob-pw", sql)
        assert errno == 1064 and expected in message, (sql, message)
        assert "Hidden-Secret" not in message, message
    # an ordinary SET still goes to the session's variables
    assert run(server, "bob", "bob-pw", "SET @@session.sql_mode = 'ANSI'") == []


def test_the_mysql_cli_sets_a_password(server: ServerProcess, tmp_path: Path) -> None:
    cli = mysql_cli()
    make_users(server, "bob")
    base = [cli, "--no-defaults", "-h", server.host, "-P", str(server.mysql_port), "-u", "bob"]

    def cli_run(password: str, sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, f"-p{password}", "--batch", "-e", sql],
            capture_output=True, text=True, timeout=30, cwd=tmp_path,
        )  # fmt: skip

    done = cli_run("bob-pw", "SET PASSWORD = 'cli-Secret9'; SELECT CURRENT_USER()")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "bob"
    refused = cli_run("bob-pw", "SELECT 1")
    assert refused.returncode != 0 and "1045" in refused.stderr
    done = cli_run("cli-Secret9", "SET PASSWORD FOR someone_else = 'x'")
    assert done.returncode == 1 and "ERROR 1142" in done.stderr
    done = cli_run("cli-Secret9", "SELECT 1")
    assert done.returncode == 0 and done.stdout.splitlines() == ["1", "1"]
