"""Secrets never show: a full session, then every result, error and log line is searched.

The secrets: root's and the users' passwords (old and new, and wrong guesses),
an external stage's credentials, and the presigned-URL key.  The server runs
at DEBUG, its most talkative level.  Passwords are also set with SET PASSWORD,
and statements holding secrets are looked at in SHOW PROCESSLIST while they run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors
from accesstools import HttpReply, http, upload
from conftest import ServerProcess, start_server
from s3fixtures import AWS_ENV, MotoS3

ROOT_PW = "Root-Secret-7f3a9c"
BOB_PW = "Bob-Secret-41d2e8"
BOB_NEW_PW = "Bob-Newer-Secret-c0ffee"
ALICE_PW = "Alice-Secret-93b7aa"
BOB_SET_PW = "Bob-Set-Secret-4e77d1"
WRONG_PW = "Wrong-Guess-55e1f0"
STAGE_KEY_ID = "AKIASTAGEKEY7Q2W"
STAGE_SECRET = "Stage-Secret-Key-9b1e4d"
BUCKET = "secret-bucket"


class Transcript:
    """Everything a client saw: rows, column names, error texts, HTTP replies."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def sql(self, server: ServerProcess, user: str, password: str, *statements: str) -> None:
        try:
            conn = server.connect(user=user, password=password)
        except pymysql.err.MySQLError as error:
            self.seen.append(repr(error.args))
            return
        with conn, conn.cursor() as cur:
            for statement in statements:
                try:
                    cur.execute(statement)
                    self.seen.append(repr(cur.description))
                    self.seen.append(repr(cur.fetchall()))
                except pymysql.err.MySQLError as error:
                    self.seen.append(repr(error.args))

    def reply(self, reply: HttpReply) -> HttpReply:
        self.seen.append(f"{reply.status} {reply.headers!r} {reply.body!r}")
        return reply

    def rows(self, server: ServerProcess, user: str, password: str, sql: str) -> list[Any]:
        with server.connect(user=user, password=password) as conn, conn.cursor() as cur:
            cur.execute(sql)
            rows = list(cur.fetchall())
        self.seen.append(repr(rows))
        return rows


def full_session(server: ServerProcess, moto: MotoS3, t: Transcript) -> None:
    root = ("root", ROOT_PW)
    bucket_url = f"s3://{BUCKET}/data/"
    connection = (
        f"CONNECTION = (ENDPOINT_URL = '{moto.endpoint}' ACCESS_KEY_ID = '{STAGE_KEY_ID}' "
        f"SECRET_ACCESS_KEY = '{STAGE_SECRET}' REGION = 'us-east-1')"
    )
    t.sql(
        server, *root,
        f"CREATE USER bob IDENTIFIED BY '{BOB_PW}'",
        f"CREATE USER alice IDENTIFIED BY '{ALICE_PW}'",
        f"CREATE USER alice IDENTIFIED BY '{ALICE_PW}'",  # exists: an error
        "GRANT CREATE STAGE ON *.* TO alice",
        f"ALTER USER bob IDENTIFIED BY '{BOB_NEW_PW}'",
        "SHOW USERS", "SHOW GRANTS FOR bob", "SHOW GRANTS",
        f"CREATE USER eve IDENTIFED BY '{BOB_PW}'",  # syntax errors quoting a password
        f"ALTER USER bob IDENTIFIED BY '{BOB_PW}' PASSWORD EXPIRE",
        f"CREATE USER eve IDENTIFIED BY '{BOB_PW}",
        "SELECT USER(), CURRENT_USER(), @@version",
        "SHOW VARIABLES",
    )  # fmt: skip
    t.sql(
        server, "alice", ALICE_PW,
        f"CREATE STAGE ext URL = '{bucket_url}' {connection}",
        f"CREATE STAGE missing URL = 's3://no-such-bucket/x/' {connection}",
        f"CREATE STAGE bad URL = '{bucket_url}' CONNECTION = (SECRET_ACCESS_KEY = "
        f"'{STAGE_SECRET}' NOPE = 'x')",
        f"CREATE STAGE broken URL = '{bucket_url}' CONNECTION = (SECRET_ACCESS_KEY = "
        f"'{STAGE_SECRET}' NOPE)",
        "CREATE STAGE local_one",
        "GRANT READ ON STAGE ext TO bob",
        "SHOW STAGES", "DESC STAGE ext", "LIST @ext", "SHOW GRANTS",
    )  # fmt: skip
    assert t.reply(upload(server, "ext", ("alice", ALICE_PW), "a.csv", b"1,2\n")).status == 200
    assert (
        t.reply(upload(server, "local_one", ("alice", ALICE_PW), "b.csv", b"3,4\n")).status == 200
    )
    assert t.reply(upload(server, "~", ("bob", BOB_NEW_PW), "mine.txt")).status == 200
    # S3's own presigned URL names the stage's access key id (S3 needs it; AWS does not
    # count key ids as secret): kept out of the transcript, checked for the secret key only.
    with server.connect(user="bob", password=BOB_NEW_PW) as conn, conn.cursor() as cur:
        cur.execute("PRESIGN @ext/a.csv")
        ((_, _, native_url),) = cur.fetchall()
    assert STAGE_KEY_ID in native_url and STAGE_SECRET not in native_url
    assert t.reply(http(native_url)).body == b"1,2\n"
    for url in (
        t.rows(server, "alice", ALICE_PW, "PRESIGN @local_one/b.csv")[0][2],
        t.rows(server, "alice", ALICE_PW, "PRESIGN UPLOAD @local_one/c.csv")[0][2],
    ):
        t.reply(http(url, "PUT" if "c.csv" in url else "GET", b"5,6\n" if "c.csv" in url else None))
        t.reply(http(url + "x"))  # an altered URL
    t.sql(
        server, "bob", BOB_NEW_PW,
        "LIST @ext", "REMOVE @ext", "DROP STAGE ext", "SHOW STAGES", "DESC STAGE ext",
        "SHOW GRANTS", "SHOW USERS", f"ALTER USER alice IDENTIFIED BY '{WRONG_PW}'",
    )  # fmt: skip
    set_password_and_processlist(server, t, connection)
    # wrong and old passwords on both ports
    for password in (WRONG_PW, BOB_PW, ""):
        t.sql(server, "bob", password, "SELECT 1")
        t.reply(upload(server, "~", ("bob", password)))
    t.sql(server, "root", WRONG_PW, "SELECT 1")
    t.reply(upload(server, "~", ("root", WRONG_PW)))
    t.reply(upload(server, "~", ("nobody", WRONG_PW)))
    t.reply(http(f"{server.http_url}/v1/health"))
    t.sql(server, *root, "DROP USER bob", "DROP USER root", "SHOW USERS")


def set_password_and_processlist(server: ServerProcess, t: Transcript, connection: str) -> None:
    """SET PASSWORD in every form, and SHOW PROCESSLIST while statements with secrets run."""
    t.sql(
        server, "bob", BOB_NEW_PW,
        f"SET PASSWORD = '{BOB_SET_PW}'",
        f"SET PASSWORD FOR bob '{BOB_SET_PW}'",  # syntax errors quoting passwords
        f"SET PASSWORD = '{BOB_SET_PW}' REPLACE '{BOB_NEW_PW}'",
        f"SET PASSWORD FOR 'bob'@'%' = '{BOB_NEW_PW}'",
    )  # fmt: skip
    t.sql(server, "alice", ALICE_PW, f"SET PASSWORD FOR bob = '{WRONG_PW}'")  # denied
    t.sql(server, "root", WRONG_PW, f"SET PASSWORD FOR bob = '{WRONG_PW}'")  # no login
    # a script whose last statement streams a big result the client stops reading
    big = (
        "SELECT a.WORD, b.WORD FROM information_schema.KEYWORDS a, "
        "information_schema.KEYWORDS b, information_schema.KEYWORDS c LIMIT 5000000"
    )
    running = {
        "bob": (BOB_NEW_PW, f"SET PASSWORD FOR CURRENT_USER() = '{BOB_NEW_PW}'; {big}"),
        "alice": (
            ALICE_PW,
            f"CREATE STAGE IF NOT EXISTS ext URL = 's3://{BUCKET}/data/' {connection}; {big}",
        ),
    }
    stalled = []  # connections and cursors (a cursor let go of would read all its rows)
    try:
        for user, (password, script) in running.items():
            conn = server.connect(
                user=user, password=password, cursorclass=pymysql.cursors.SSCursor,
                client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
            )  # fmt: skip
            cur = conn.cursor()
            stalled.append((conn, cur))
            cur.execute(script)
            assert cur.fetchone() is not None
        shown = len(t.seen)
        t.sql(
            server, "root", ROOT_PW,
            "SHOW FULL PROCESSLIST", "SHOW PROCESSLIST",
            "SELECT INFO FROM information_schema.PROCESSLIST",
        )  # fmt: skip
        t.sql(server, "bob", BOB_NEW_PW, "SHOW FULL PROCESSLIST")
        listed = "\n".join(t.seen[shown:])
        assert "SET PASSWORD FOR CURRENT_USER() = '***'; SELECT" in listed
        assert "SECRET_ACCESS_KEY = '***'" in listed
    finally:
        for conn, _ in stalled:
            if conn._result is not None:  # the rest is never read
                conn._result.unbuffered_active = False
            conn.close()


def test_no_secret_in_any_result_error_or_log(data_dir: Path, moto_s3: MotoS3) -> None:
    moto_s3.reset()
    moto_s3.client().create_bucket(Bucket=BUCKET)
    server = start_server(
        str(data_dir), "--root-password", ROOT_PW, "--log-level", "DEBUG", env=AWS_ENV
    )
    transcript = Transcript()
    try:
        full_session(server, moto_s3, transcript)
        presign_key = (data_dir / "secrets" / "presign.key").read_text().strip()
    finally:
        server.stop()
    log = "".join(server.output)
    assert "DEBUG" in log and "stagedb stopped" in log  # the log is the talkative one
    seen = "\n".join(transcript.seen)
    assert "Permission denied" in seen and "Access denied" in seen  # errors were collected
    assert "'***'" in seen  # syntax errors were, with the passwords masked
    secrets = {
        "root password": ROOT_PW, "bob's password": BOB_PW, "bob's new password": BOB_NEW_PW,
        "alice's password": ALICE_PW, "a wrong guess": WRONG_PW,
        "bob's password set with SET PASSWORD": BOB_SET_PW,
        "the stage's secret key": STAGE_SECRET, "the stage's key id": STAGE_KEY_ID,
        "the presign key": presign_key,
    }  # fmt: skip
    for what, secret in secrets.items():
        assert secret not in seen, f"{what} in a result or error"
        assert secret not in log, f"{what} in the server log"
        beginning = secret[:12]  # an error's near text is cut after 30 characters
        assert beginning not in seen and beginning not in log, f"the beginning of {what}"
    # on disk, passwords are not anywhere (the stage's keys are, in its catalog record)
    passwords = (ROOT_PW, BOB_PW, BOB_NEW_PW, ALICE_PW, WRONG_PW, BOB_SET_PW)
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            leaked: Callable[[str], bool] = lambda p, c=content: p.encode() in c  # noqa: E731
            assert not any(leaked(p) for p in passwords), path
