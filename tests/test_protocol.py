"""Protocol-level regression tests: a raw-socket MySQL client against a running stagedb.

The client (tests/clienttools.RawClient) logs in with capability flags chosen per
test and returns packets undecoded, so these tests pin down the exact bytes that
clients with strict parsers (MariaDB Connector/J 2.x, Metabase, DBeaver) rely on.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clienttools import (
    BASE_CLIENT_CAPABILITIES,
    COM_PING,
    Capability,
    Packet,
    RawClient,
    lenenc_int,
    make_files,
    parse_column_definition,
    parse_eof,
    parse_err,
    parse_ok,
    parse_text_row,
)
from conftest import ServerProcess, start_server

STAGE_COLUMNS = [
    "name", "stage_type", "storage_type", "url", "endpoint", "has_credentials",
    "has_encryption_key", "storage_params", "file_format_options", "creator", "created_on",
    "comment", "owner",
]  # fmt: skip
LIST_COLUMNS = ["name", "size", "md5", "last_modified", "creator"]
SERVER_MORE_RESULTS_EXISTS = 0x0008
COM_STATISTICS = 0x09
MYSQL_TYPE_LONGLONG = 0x08
UNSIGNED_FLAG = 0x0020
NOT_NULL_FLAG = 0x0001
BINARY_FLAG = 0x0080
NUM_FLAG = 0x8000
BINARY_CHARSET = 63
UTF8MB4_COLLATIONS = (45, 255)
COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
SERVER_STATUS_AUTOCOMMIT = 0x0002


def raw_client(server: ServerProcess) -> RawClient:
    return RawClient(server.host, server.mysql_port)


def logged_in(server: ServerProcess, capabilities: int = BASE_CLIENT_CAPABILITIES) -> RawClient:
    """A raw client logged in as root; fails the test unless the login is OK."""
    client = raw_client(server)
    reply = client.login("root", capabilities)
    assert reply.seq == 2 and parse_ok(reply).header == 0x00, reply
    return client


def assert_works(server: ServerProcess) -> None:
    """A fresh connection logs in and runs a statement."""
    with logged_in(server) as client:
        packets = client.query("SELECT 1")
    count, definition, eof, row, end = packets
    assert (count.payload, parse_column_definition(definition.payload).name) == (b"\x01", "1")
    assert eof.is_eof and row.payload == b"\x011" and end.is_eof


def stage_names(server: ServerProcess, password: str = "") -> list[object]:
    """SHOW STAGES through pymysql."""
    with server.connect(password=password) as conn, conn.cursor() as cur:
        cur.execute("SHOW STAGES")
        return [row[0] for row in cur.fetchall()]


# -- handshake and result-set layout -------------------------------------------------------


def test_handshake_does_not_advertise_deprecate_eof(server: ServerProcess) -> None:
    with raw_client(server) as client:
        handshake = client.read_handshake()
    assert handshake.protocol_version == 10
    assert handshake.server_version.startswith("8.0.36-stagedb-")
    assert handshake.auth_plugin == "mysql_native_password"
    assert len(handshake.auth_data.rstrip(b"\0")) == 20  # the 20-byte scramble
    for needed in (
        Capability.CLIENT_PROTOCOL_41,
        Capability.CLIENT_SECURE_CONNECTION,
        Capability.CLIENT_PLUGIN_AUTH,
    ):
        assert handshake.capabilities & needed, needed.name
    assert not handshake.capabilities & Capability.CLIENT_DEPRECATE_EOF


@pytest.fixture
def three_stages_three_files(server: ServerProcess, external_dir: Path) -> ServerProcess:
    """Stages ``a`` (internal), ``b`` (internal) and ``s`` over three files."""
    make_files(
        external_dir, {"one.csv": b"1", "sub/two.csv": b"22", "sub/deeper/three.csv": b"333"}
    )
    for sql in ("CREATE STAGE a", "CREATE STAGE b", f"CREATE STAGE s URL = 'fs://{external_dir}/'"):
        server.query(sql)
    return server


@pytest.mark.parametrize(
    "capabilities",
    [
        pytest.param(
            BASE_CLIENT_CAPABILITIES | Capability.CLIENT_DEPRECATE_EOF, id="deprecate_eof"
        ),
        pytest.param(BASE_CLIENT_CAPABILITIES, id="classic"),
        pytest.param(
            BASE_CLIENT_CAPABILITIES
            | Capability.CLIENT_DEPRECATE_EOF
            | Capability.CLIENT_MULTI_RESULTS
            | Capability.CLIENT_SESSION_TRACK,
            id="connector_j_like",
        ),
    ],
)
@pytest.mark.parametrize(
    ("sql", "columns", "first_values"),
    [
        ("SHOW STAGES", STAGE_COLUMNS, ["a", "b", "s"]),
        ("LIST @s", LIST_COLUMNS, ["one.csv", "sub/deeper/three.csv", "sub/two.csv"]),
    ],
)
def test_result_sets_end_with_a_classic_eof(
    three_stages_three_files: ServerProcess,
    capabilities: int,
    sql: str,
    columns: list[str],
    first_values: list[str],
) -> None:
    """MariaDB Connector/J 2.x crashes on an EOF-replacing OK packet with affected rows != 0.

    Whatever the client asks for, a result set is: column count, column definitions,
    EOF, rows, EOF -- with sequence ids 1, 2, 3, ... and EOFs of exactly 5 bytes.
    """
    with logged_in(three_stages_three_files, capabilities) as client:
        packets = client.query(sql)
        n = len(columns)
        assert [p.seq for p in packets] == list(range(1, len(packets) + 1))
        assert len(packets) == 1 + n + 1 + 3 + 1
        assert packets[0].payload == lenenc_int(n)
        definitions = [parse_column_definition(p.payload) for p in packets[1 : 1 + n]]
        assert [d.name for d in definitions] == columns

        for eof in (packets[1 + n], packets[-1]):
            assert eof.payload[0] == 0xFE and len(eof.payload) == 5, eof
            decoded = parse_eof(eof)
            assert decoded.warnings == 0
            assert not decoded.status_flags & SERVER_MORE_RESULTS_EXISTS

        rows = [parse_text_row(p.payload) for p in packets[2 + n : -1]]
        assert [row[0] for row in rows] == first_values
        assert all(len(row) == n for row in rows)
        if sql.startswith("LIST"):
            assert [row[1] for row in rows] == ["1", "3", "2"]
            assert all(row[2] is None and row[4] is None for row in rows)

        # Nothing is left over on the wire: the next command gets its own answer.
        client.write_packet(bytes([COM_PING]), seq=0)
        pong = client.read_packet()
        assert pong.seq == 1 and parse_ok(pong).affected_rows == 0


def test_empty_result_set_and_ok_packets(server: ServerProcess) -> None:
    with logged_in(server, BASE_CLIENT_CAPABILITIES | Capability.CLIENT_DEPRECATE_EOF) as client:
        (created,) = client.query("CREATE STAGE s")
        assert created.seq == 1
        assert created.payload == b"\x00\x00\x00" + created.payload[3:7]  # OK, 0 rows, id 0
        assert parse_ok(created).warnings == 0

        packets = client.query("LIST @s")
        assert [p.seq for p in packets] == list(range(1, 9))
        assert packets[0].payload == b"\x05"
        assert packets[6].is_eof and len(packets[6].payload) == 5
        assert packets[7].is_eof and len(packets[7].payload) == 5  # no rows at all


def test_list_column_metadata_says_bigint_unsigned_not_null(
    three_stages_three_files: ServerProcess,
) -> None:
    with logged_in(three_stages_three_files) as client:
        packets = client.query("LIST @s")
    name, size, md5 = (parse_column_definition(p.payload) for p in packets[1:4])
    assert (name.name, size.name, size.type) == ("name", "size", MYSQL_TYPE_LONGLONG)
    assert size.flags & UNSIGNED_FLAG
    assert size.flags & NOT_NULL_FLAG and name.flags & NOT_NULL_FLAG
    assert not md5.flags & NOT_NULL_FLAG  # md5 is NULL on local disks
    # Numbers are binary (63) with BINARY_FLAG and NUM_FLAG; text is utf8mb4.
    assert (size.charset, size.length) == (BINARY_CHARSET, 20)
    assert size.flags & BINARY_FLAG and size.flags & NUM_FLAG
    assert name.charset in UTF8MB4_COLLATIONS and not name.flags & BINARY_FLAG


def test_column_flags_in_the_binary_protocol(three_stages_three_files: ServerProcess) -> None:
    """Prepared statements (COM_STMT_EXECUTE) describe their columns the same way."""
    with logged_in(three_stages_three_files) as client:
        client.write_packet(bytes([COM_STMT_PREPARE]) + b"LIST @s", seq=0)
        prepare_ok = client.read_packet()
        assert prepare_ok.payload[0] == 0x00, prepare_ok
        statement_id = prepare_ok.payload[1:5]
        # COM_STMT_EXECUTE: id, no cursor, iteration count 1, no parameters.
        client.write_packet(bytes([COM_STMT_EXECUTE]) + statement_id + b"\x00\x01\x00\x00\x00", 0)
        count = client.read_packet()
        assert count.payload == b"\x05"
        definitions = [parse_column_definition(client.read_packet().payload) for _ in range(5)]
    size = definitions[1]
    assert (size.name, size.charset) == ("size", BINARY_CHARSET)
    assert size.flags & UNSIGNED_FLAG and size.flags & NOT_NULL_FLAG
    assert definitions[0].flags & NOT_NULL_FLAG and not definitions[2].flags & NOT_NULL_FLAG


def test_handshake_says_autocommit(server: ServerProcess) -> None:
    with raw_client(server) as client:
        handshake = client.read_handshake()
    assert handshake.status_flags & SERVER_STATUS_AUTOCOMMIT


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "errno", "sqlstate", "text"),
    [
        ("LIST @s FOO", 1064, "42000", "near 'FOO' at line 1"),
        ("SHOW STAGES LIKE", 1064, "42000", "near 'LIKE'"),
        ("CREATE STAGE x URL = 'fs:///tmp/' BOGUS = 1", 1064, "42000", "near 'BOGUS = 1'"),
        ("DROP STAGE", 1064, "42000", "Expected a stage name"),
        ("LIST @nope", 1051, "42S02",
         "UnknownStage. Code: 2501, Text = Stage 'nope' does not exist."),
        ("DROP STAGE nope", 1051, "42S02", "Stage 'nope' does not exist."),
        ("CREATE STAGE s", 1050, "42S01",
         "StageAlreadyExists. Code: 2502, Text = Stage 's' already exists."),
    ],
)  # fmt: skip
def test_errors_carry_their_own_errno_and_sqlstate(
    server: ServerProcess, sql: str, errno: int, sqlstate: str, text: str
) -> None:
    server.query("CREATE STAGE s")
    with logged_in(server) as client:
        (packet,) = client.query(sql)
        assert packet.seq == 1
        error = parse_err(packet)
        assert (error.errno, error.sqlstate) == (errno, sqlstate), error
        assert error.errno != 1105
        assert text in error.message
        if errno == 1064:
            assert error.message.startswith("SyntaxException. Code: 1005, Text = ")
        # The session goes on after the error.
        assert client.query("LIST @s")[0].payload == b"\x05"


@pytest.mark.parametrize(("sql", "token"), [("CREAT STAGE x", "CREAT"), ("SELEC 1", "SELEC")])
def test_syntax_error_names_the_first_bad_token(
    server: ServerProcess, sql: str, token: str
) -> None:
    with logged_in(server) as client:
        error = parse_err(client.query(sql)[0])
    assert error.errno == 1064
    assert f"near '{sql}' at line 1, column 1" in error.message
    assert f"Unknown statement '{token}'" in error.message


# -- failed logins --------------------------------------------------------------------------


@pytest.fixture
def password_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose root has a password."""
    proc = start_server(str(tmp_path / "pw-data"), "--root-password", "s3cret")
    try:
        yield proc
    finally:
        proc.stop()


@dataclass(frozen=True)
class FailedLogin:
    """A login that must fail: on which server, as whom, and the ERR it gets."""

    server: ServerProcess
    user: str
    errno: int
    sqlstate: str
    root_password: str


@pytest.fixture(params=["unknown_user", "wrong_password"])
def failed_login(request: pytest.FixtureRequest) -> FailedLogin:
    if request.param == "unknown_user":
        return FailedLogin(request.getfixturevalue("server"), "nobody", 1045, "28000", "")
    return FailedLogin(request.getfixturevalue("password_server"), "root", 1045, "28000", "s3cret")


def test_no_session_after_a_failed_login(failed_login: FailedLogin) -> None:
    server = failed_login.server
    with raw_client(server) as client:
        reply = client.login(failed_login.user)  # empty auth response
        assert reply.seq == 2
        error = parse_err(reply)
        assert (error.errno, error.sqlstate) == (failed_login.errno, failed_login.sqlstate)
        # A client that ignores the error and goes on gets no result and no OK.
        with contextlib.suppress(OSError):  # already closed: fine
            client.send_query("CREATE STAGE intruder")
        rest, closed = client.read_until_closed()
    assert closed, rest
    assert all(p.is_err for p in rest), rest
    assert rest == []  # the connection is closed right after the one ERR
    assert stage_names(server, failed_login.root_password) == []


def test_unknown_user_gets_access_denied(server: ServerProcess) -> None:
    with raw_client(server) as client:
        error = parse_err(client.login("nobody"))
    assert (error.errno, error.sqlstate) == (1045, "28000")
    assert error.message.startswith("Access denied for user")


def test_failed_login_sends_exactly_one_err_packet(failed_login: FailedLogin) -> None:
    with raw_client(failed_login.server) as client:
        assert client.login(failed_login.user).is_err
        rest, closed = client.read_until_closed()
    assert closed and rest == []


# -- clients that go away -------------------------------------------------------------------


def close_at_once(server: ServerProcess) -> None:
    socket.create_connection((server.host, server.mysql_port), timeout=5).close()


def reset_at_once(server: ServerProcess) -> None:
    sock = socket.create_connection((server.host, server.mysql_port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST instead of FIN


def close_after_banner(server: ServerProcess) -> None:
    with raw_client(server) as client:
        client.read_handshake()


def close_mid_packet(server: ServerProcess) -> None:
    with raw_client(server) as client:
        client.read_handshake()
        client.sock.sendall(b"\x50\x00\x00\x01\x8d\xa2")  # header of 80 bytes, then 2 bytes


def close_after_login(server: ServerProcess) -> None:
    logged_in(server).close()


def quit_after_login(server: ServerProcess) -> None:
    with logged_in(server) as client:
        client.write_packet(b"\x01", seq=0)  # COM_QUIT
        assert client.read_until_closed() == ([], True)


HEALTH_CHECKS: list[Callable[[ServerProcess], None]] = [
    close_at_once, reset_at_once, close_after_banner, close_mid_packet, close_after_login,
    quit_after_login,
]  # fmt: skip


@pytest.mark.parametrize("probe", HEALTH_CHECKS, ids=lambda f: f.__name__)
def test_health_checks_do_not_disturb_the_server(
    server: ServerProcess, probe: Callable[[ServerProcess], None]
) -> None:
    with logged_in(server) as before:  # a session open across the probes
        for _ in range(5):
            probe(server)
        assert_works(server)
        assert parse_ok(before.query("CREATE STAGE still_here")[0]).affected_rows == 0
    assert server.process.poll() is None
    assert stage_names(server) == ["still_here"]


def server_log_after(server: ServerProcess, action: Callable[[], None]) -> str:
    """What the server printed while ``action`` ran (waiting a moment for the log to arrive)."""
    start = len(server.output)
    action()
    assert_works(server)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and "Traceback" not in "".join(server.output[start:]):
        time.sleep(0.05)
    return "".join(server.output[start:])


@pytest.mark.parametrize("probe", HEALTH_CHECKS, ids=lambda f: f.__name__)
def test_health_checks_log_no_traceback(
    server: ServerProcess, probe: Callable[[ServerProcess], None]
) -> None:
    log = server_log_after(server, lambda: probe(server))
    assert "Traceback" not in log and "Unhandled exception" not in log, log


def test_failed_login_logs_no_traceback(server: ServerProcess) -> None:
    def fail() -> None:
        with raw_client(server) as client:
            client.login("nobody")
            client.read_until_closed()

    log = server_log_after(server, fail)
    assert "Traceback" not in log, log


# -- other commands -------------------------------------------------------------------------


def test_com_statistics_answers_mysql_status_line(server: ServerProcess) -> None:
    """``\\s`` in the mysql CLI and ``mysqladmin status`` send COM_STATISTICS."""
    with logged_in(server) as client, logged_in(server) as other:
        for _ in range(3):
            client.query("SELECT 1")
        other.query("SELECT 1")
        client.write_packet(bytes([COM_STATISTICS]), seq=0)
        answer = client.read_packet()
        assert answer.seq == 1
        assert not answer.is_err and not answer.is_ok, answer  # a plain string, as MySQL's
        text = answer.payload.decode()
        match = re.fullmatch(
            r"Uptime: (\d+)  Threads: (\d+)  Questions: (\d+)  Slow queries: 0  Opens: 0  "
            r"Flush tables: 0  Open tables: 0  Queries per second avg: \d+\.\d{3}",
            text,
        )
        assert match, text
        uptime, threads, questions = (int(g) for g in match.groups())
        assert uptime >= 1 and threads == 2 and questions >= 5  # 4 SELECTs and this command
        # The session goes on.
        packets: list[Packet] = client.query("LIST @~")
        assert packets[0].payload == b"\x05"


def test_kill_connection_ends_the_other_session(server: ServerProcess) -> None:
    """``KILL <id>`` from another session ends an idle one with an error packet."""
    with logged_in(server) as victim:
        assert victim.handshake is not None
        server.query(f"KILL {victim.handshake.connection_id}")
        packets, closed = victim.read_until_closed()
    assert closed and len(packets) == 1 and packets[0].is_err, packets
    assert "killed" in parse_err(packets[0]).message
    assert_works(server)
