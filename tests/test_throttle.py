"""Failed-login throttling per user and source address, on the MySQL port and HTTP Basic."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pymysql
import pytest
from accesstools import upload
from conftest import ServerProcess, start_server
from testtools import wait_until
from transporttools import curl

from stagedb.errors import LoginThrottled
from stagedb.throttle import LoginThrottle, ThrottlePolicy

PASSWORD = "right-pw"
FLAGS = ("--root-password", PASSWORD, "--login-max-failures", "3",
         "--login-lockout", "2", "--login-lockout-max", "4")  # fmt: skip
_BLOCKED = re.compile(r"Account is blocked for (\d+) second\(s\) \((\d+) second\(s\) remaining\)")


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    proc = start_server(str(data_dir), *FLAGS)
    try:
        yield proc
    finally:
        proc.stop()


def login(server: ServerProcess, password: str, **kwargs: object) -> tuple[int, str] | None:
    """None if ``root`` logs in with ``password``, else the (errno, message) it got."""
    try:
        server.connect(password=password, ssl_disabled=True, **kwargs).close()
    except pymysql.err.OperationalError as error:
        return int(error.args[0]), str(error.args[1])
    return None


def fail_three_times(server: ServerProcess, **kwargs: object) -> None:
    for _ in range(3):
        result = login(server, "guess", **kwargs)
        assert result is not None and result[0] == 1045, result


def test_lockout_after_max_failures_refuses_even_the_right_password(server: ServerProcess) -> None:
    fail_three_times(server)
    locked = login(server, PASSWORD)
    assert locked is not None
    errno, message = locked
    assert errno == 3955
    assert message.startswith("Access denied for user 'root'@'127.0.0.1'. Account is blocked")
    assert "due to 3 consecutive failed logins" in message
    assert PASSWORD not in message


def test_lockout_expires_and_a_success_resets(server: ServerProcess) -> None:
    fail_three_times(server)
    assert wait_until(lambda: login(server, PASSWORD) is None, timeout=10)
    fail_three_times(server)  # the success cleared the count: three fresh failures
    assert login(server, PASSWORD) is not None


def test_lockout_doubles_up_to_the_maximum(server: ServerProcess) -> None:
    fail_three_times(server)
    seconds = []
    for _ in range(3):
        refused = login(server, "guess")
        assert refused is not None and refused[0] == 3955
        match = _BLOCKED.search(refused[1])
        assert match, refused
        seconds.append(int(match.group(1)))
        assert wait_until(lambda: (login(server, "guess") or (0,))[0] == 1045, timeout=10)
    assert seconds[0] == 2  # after the third failure
    assert seconds[1:] == [4, 4]  # doubled, then capped by --login-lockout-max


def test_other_addresses_and_users_are_not_locked_out(server: ServerProcess) -> None:
    fail_three_times(server)
    assert login(server, PASSWORD) is not None
    assert login(server, PASSWORD, bind_address="127.0.0.2") is None  # another address
    try:
        server.connect(user="nobody", password="x", ssl_disabled=True)
    except pymysql.err.OperationalError as error:
        assert error.args[0] == 1045  # another user name: its own count
    else:
        pytest.fail("an unknown user logged in")


def test_unknown_users_are_throttled_the_same_way(server: ServerProcess) -> None:
    for _ in range(3):
        with pytest.raises(pymysql.err.OperationalError) as wrong:
            server.connect(user="ghost", password="x", ssl_disabled=True)
        assert wrong.value.args[0] == 1045
    with pytest.raises(pymysql.err.OperationalError) as locked:
        server.connect(user="ghost", password="x", ssl_disabled=True)
    assert locked.value.args[0] == 3955


def test_a_lockout_holds_no_connection_and_blocks_nobody_else(server: ServerProcess) -> None:
    fail_three_times(server)
    other = server.connect(password=PASSWORD, bind_address="127.0.0.2", ssl_disabled=True)
    refusals: list[int] = []

    def hammer() -> None:
        for _ in range(20):
            result = login(server, "guess")
            refusals.append(result[0] if result else 0)

    threads = [threading.Thread(target=hammer) for _ in range(5)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    with other.cursor() as cur:  # served while the attacker hammers
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    for thread in threads:
        thread.join()
    # refused at once, not held open until the lockout ends
    assert set(refusals) <= {3955, 1045} and refusals.count(3955) >= 90
    assert time.monotonic() - started < 60
    other.close()


def http_get(server: ServerProcess, credentials: str, cwd: Path) -> tuple[int, dict[str, str]]:
    url = f"{server.http_url}/v1/upload_to_stage"
    reply = curl("-u", credentials, "-H", "stage_name:~", "-F", "f=@a.txt", url, cwd=cwd)
    return reply.status, reply.headers


def test_http_basic_is_throttled_with_429_and_retry_after(
    server: ServerProcess, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    for _ in range(3):
        assert http_get(server, "root:guess", tmp_path)[0] == 401
    status, headers = http_get(server, f"root:{PASSWORD}", tmp_path)
    assert status == 429
    assert headers["retry-after"] in ("1", "2")
    assert wait_until(lambda: http_get(server, f"root:{PASSWORD}", tmp_path)[0] == 200, 10)


def test_the_ports_share_one_count(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    for _ in range(3):
        assert http_get(server, "root:guess", tmp_path)[0] == 401
    refused = login(server, PASSWORD)
    assert refused is not None and refused[0] == 3955


def test_throttling_can_be_turned_off(data_dir: Path) -> None:
    proc = start_server(str(data_dir), "--root-password", PASSWORD, "--login-max-failures", "0")
    try:
        for _ in range(8):
            assert (login(proc, "guess") or (0,))[0] == 1045
        assert login(proc, PASSWORD) is None
    finally:
        proc.stop()


def test_policy_forgets_failures_after_the_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(ThrottlePolicy(3, 1.0, 8.0, 60.0), clock=lambda: now[0])
    for _ in range(3):
        throttle.check("u", "a")
        throttle.failed("u", "a")
    with pytest.raises(LoginThrottled):
        throttle.check("u", "a")
    now[0] = 61.0  # a quiet window: everything forgotten
    throttle.check("u", "a")
    throttle.failed("u", "a")
    throttle.check("u", "a")  # one failure: no lockout


def test_failed_change_user_closes_the_connection_and_counts(server: ServerProcess) -> None:
    import mysql.connector  # COM_CHANGE_USER: pymysql cannot send it

    conn = mysql.connector.connect(
        host=server.host, port=server.mysql_port, user="root", password=PASSWORD,
        use_pure=True, ssl_disabled=True,
    )  # fmt: skip
    with pytest.raises(mysql.connector.Error) as caught:
        conn.cmd_change_user(username="root", password="guess")
    assert caught.value.errno == 1045
    with pytest.raises(mysql.connector.Error):  # no session is left behind
        conn.cmd_query("SELECT 1")
    for _ in range(2):  # with the change of user: three failures
        assert (login(server, "guess") or (0,))[0] == 1045
    refused = login(server, PASSWORD)
    assert refused is not None and "due to 3 consecutive failed logins" in refused[1]
    assert "Traceback" not in "".join(server.output)


# -- logins in parallel: each counts from the moment its check begins ----------------------

T = TypeVar("T")
BOB = ("bob", "bob-Pa55word")


def in_parallel(count: int, attempt: Callable[[], T]) -> list[T]:
    """Run ``attempt`` on ``count`` threads released at once; the results."""
    barrier = threading.Barrier(count)
    results: list[T] = []

    def run() -> None:
        barrier.wait()
        results.append(attempt())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def create_bob(server: ServerProcess) -> None:
    with server.connect(password=PASSWORD) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER {BOB[0]} IDENTIFIED BY '{BOB[1]}'")


def mysql_login(server: ServerProcess, user: str, password: str) -> int:
    """0 if the login succeeds, else its errno."""
    try:
        server.connect(user=user, password=password, ssl_disabled=True).close()
    except pymysql.err.OperationalError as error:
        return int(error.args[0])
    return 0


def test_parallel_wrong_http_guesses_beyond_the_limit_are_refused(server: ServerProcess) -> None:
    create_bob(server)  # a stored user: each check runs scrypt (about 50 ms)
    statuses = in_parallel(12, lambda: upload(server, "~", (BOB[0], "guess")).status)
    assert sorted(statuses) == [401] * 3 + [429] * 9  # only --login-max-failures were checked
    assert upload(server, "~", BOB).status == 429  # locked out, right password or not
    unknown = in_parallel(12, lambda: upload(server, "~", ("ghost", "guess")).status)
    assert sorted(unknown) == [401] * 3 + [429] * 9


def test_parallel_wrong_mysql_guesses_beyond_the_limit_are_refused(server: ServerProcess) -> None:
    create_bob(server)
    errnos = in_parallel(12, lambda: mysql_login(server, BOB[0], "guess"))
    assert sorted(errnos) == [1045] * 3 + [3955] * 9
    assert mysql_login(server, *BOB) == 3955


def test_parallel_logins_with_the_right_password_all_get_in(server: ServerProcess) -> None:
    create_bob(server)  # more at once than --login-max-failures: they wait, never refused
    assert in_parallel(12, lambda: upload(server, "~", BOB).status) == [200] * 12
    assert in_parallel(12, lambda: mysql_login(server, *BOB)) == [0] * 12
    assert mysql_login(server, BOB[0], "guess") == 1045  # the count starts from zero


def test_an_attempt_in_flight_counts_and_an_undecided_one_does_not() -> None:
    throttle = LoginThrottle(ThrottlePolicy(2, 1.0, 8.0, 60.0))

    async def scenario() -> None:
        first = await throttle.begin("u", "a")
        second = await throttle.begin("u", "a")
        third = asyncio.ensure_future(throttle.begin("u", "a"))  # waits for one of the two
        await asyncio.sleep(0.05)
        assert not third.done()
        second.release()  # the client left before its check ended: nothing counted
        with await third as attempt:
            attempt.succeeded()
        first.failed()  # ends after the success: one failure counted
        throttle.check("u", "a")
        with await throttle.begin("u", "a") as last:
            last.failed()
        with pytest.raises(LoginThrottled):
            await throttle.begin("u", "a")

    asyncio.run(scenario())
