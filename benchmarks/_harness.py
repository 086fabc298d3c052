"""Shared helpers for the stagedb benchmarks.

Everything here talks to 127.0.0.1 only.  Servers are started in their own
session (process group) so that ``stop()`` can always clean them up, and every
wait is bounded by a timeout.

Helpers:

* :func:`free_port` -- pick a free TCP port on 127.0.0.1 by binding port 0.
* :func:`wait_for_port` -- poll a TCP port until it accepts a connection.
* :class:`StagedbServer` -- start / stop ``stagedb serve``, learn its addresses
  from the start-up banner (:func:`parse_banner`) and find the real server
  process (``uv run`` puts a wrapper process in front of it).
* :class:`MariaDBServer` -- initialise a throwaway MariaDB datadir, start
  ``mariadbd`` on a private port and shut it down again.
* :class:`ManagedProcess` -- base of the server managers here and in :mod:`_s3`:
  start in a session of its own, stop with SIGTERM then SIGKILL of the group.
* :func:`connect` -- a pymysql connection with bounded timeouts.
* re-exported from :mod:`_measure`: :class:`Block`, :class:`RssSampler`,
  :func:`read_vmhwm`, :func:`machine_busy`, :func:`wait_until_idle`,
  :class:`OtherLoad`, :func:`log` and friends.
* :func:`stop_process`, :func:`kill_group`, :func:`exit_cleanly_on_sigterm` --
  cleanup of the process groups a script started, also on SIGTERM.
* :func:`run_in_workdir` -- the frame of every script's run: machine notes, a
  fresh work directory, outside load.
* re-exported from :mod:`_measure` too: :func:`fmt_seconds`, :func:`fmt_mib`,
  :func:`fmt_ratio`, :func:`verdict` -- output formatting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, Self, TypeVar

import psutil
import pymysql
from _cli import add_json_arg as add_json_arg
from _cli import add_wait_idle_arg as add_wait_idle_arg
from _cli import add_workdir_arg as add_workdir_arg
from _measure import MIB as MIB
from _measure import Block as Block
from _measure import OtherLoad as OtherLoad
from _measure import PollingSampler as PollingSampler
from _measure import RssSampler as RssSampler
from _measure import current_rss as current_rss
from _measure import fmt_mib as fmt_mib
from _measure import fmt_ratio as fmt_ratio
from _measure import fmt_seconds as fmt_seconds
from _measure import log as log
from _measure import machine_busy as machine_busy
from _measure import other_processes_cpu as other_processes_cpu
from _measure import read_vmhwm as read_vmhwm
from _measure import verdict as verdict
from _measure import wait_until_idle as wait_until_idle

if TYPE_CHECKING:
    from pymysql.connections import Connection as _Connection
    from pymysql.cursors import Cursor

    Connection = _Connection[Cursor]

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Failures a benchmark step reports and survives (so the other figures still print).
STEP_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    OSError,
    ValueError,
    subprocess.SubprocessError,
    pymysql.Error,
    psutil.Error,
)


# --------------------------------------------------------------------------- #
# Ports
# --------------------------------------------------------------------------- #
def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ``127.0.0.1:port`` until it accepts a TCP connection.

    Raises ``RuntimeError`` if ``proc`` exits first or ``timeout`` elapses.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server exited with code {proc.returncode} before listening on "
                f"port {port}{_log_tail(log_path)}"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection((HOST, port), timeout=0.5),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"port {port} not accepting connections after {timeout:.0f}s{_log_tail(log_path)}"
    )


def _accepts(port: int) -> bool:
    """Whether ``127.0.0.1:port`` accepts a TCP connection right now."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(log_path: Path | None, lines: int = 20) -> str:
    if log_path is None or not log_path.exists():
        return ""
    text = log_path.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- last lines of " + str(log_path) + " ---\n" + "\n".join(text)


# --------------------------------------------------------------------------- #
# Process helpers
# --------------------------------------------------------------------------- #
def kill_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGKILL the process group led by ``proc`` (started with start_new_session=True)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM ``proc`` (which leads its own process group); SIGKILL the group after that.

    The group was created by us (start_new_session=True) and its id is proc.pid,
    so only survivors of that group are killed (e.g. the child of a `uv run`
    wrapper).
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    kill_group(proc)


def listening_process(root_pid: int, port: int) -> psutil.Process:
    """Return the process in ``root_pid``'s tree that listens on ``port``.

    Falls back to the deepest descendant (or the root itself) if no listening
    socket can be attributed.
    """
    root = psutil.Process(root_pid)
    tree = [root, *root.children(recursive=True)]
    for candidate in tree:
        with contextlib.suppress(psutil.Error):
            for conn in candidate.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return candidate
    return tree[-1]


class ManagedProcess(Block):
    """A server process in a session of its own, stopped with SIGTERM, then SIGKILL of its group.

    Subclasses implement :meth:`start` with :meth:`spawn`.  Use as a context
    manager: a failed start stops whatever was started.
    """

    stop_timeout = 15.0
    """Seconds allowed for a clean exit after SIGTERM."""

    def __init__(self, log_path: Path, startup_timeout: float) -> None:
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """PID of the process started."""
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def start(self) -> Self:
        """Start the process and wait until it serves."""
        raise NotImplementedError

    def spawn(
        self, cmd: list[str], cwd: Path | None = None, *, to_log: bool = True
    ) -> subprocess.Popen[bytes]:
        """Run ``cmd`` in a new session, its output to ``log_path`` (or nowhere)."""
        out: IO[bytes] | int = subprocess.DEVNULL
        if to_log:
            self._log = out = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.proc

    def stop(self) -> None:
        """Stop the process (and its group) and close its log."""
        if self.proc is not None:
            stop_process(self.proc, timeout=self.stop_timeout)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def begin(self) -> None:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    def end(self) -> None:
        self.stop()


# --------------------------------------------------------------------------- #
# stagedb
# --------------------------------------------------------------------------- #
def stagedb_command() -> list[str]:
    """The command that runs the stagedb CLI, avoiding the ``uv run`` wrapper if possible.

    ``STAGEDB_BENCH_SERVER`` (a shell-quoted command line) overrides it, e.g. to
    measure an experimental build: ``STAGEDB_BENCH_SERVER='.venv/bin/python
    /tmp/patched.py'``; ``serve --host ...`` is appended as usual.
    """
    override = os.environ.get("STAGEDB_BENCH_SERVER", "").strip()
    if override:
        return shlex.split(override)
    venv_exe = REPO_ROOT / ".venv" / "bin" / "stagedb"
    if venv_exe.exists():
        return [str(venv_exe)]
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("neither .venv/bin/stagedb nor uv found")
    return [uv, "run", "--project", str(REPO_ROOT), "stagedb"]


def stagedb_revision() -> str:
    """The git revision of the stagedb sources being benchmarked (``-dirty`` if modified)."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "stagedb"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


BANNER_KEYS = ("MySQL protocol", "HTTP", "Data")
"""Lines ``stagedb serve`` prints once both listeners are up (in this order)."""


def parse_banner(text: str) -> dict[str, str]:
    """The ``Key: value`` lines of stagedb's start-up banner found in ``text``.

    ``stagedb serve`` prints ``MySQL protocol: host:port``, ``HTTP: host:port``
    and ``Data: <url>`` after binding both ports; log lines around them are
    ignored.  The first occurrence of each key wins.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in BANNER_KEYS and key not in found:
            found[key] = value.strip()
    return found


def banner_port(address: str) -> int:
    """The port of a banner address such as ``127.0.0.1:3307 (TLS off)`` or ``[::1]:3307``."""
    return int(address.split(" ", 1)[0].rpartition(":")[2])


class StagedbServer(ManagedProcess):
    """``stagedb serve`` on private ports with a private data directory.

    Ports: ``None`` (the default) picks a free port here and passes it on; ``0``
    lets the server choose.  Either way the actual ports are read back from the
    start-up banner (``MySQL protocol:`` and ``HTTP:`` lines), which also tells
    that *both* listeners are up (the MySQL port opens first).

    Use as a context manager; the server is SIGTERMed (then SIGKILLed) on exit.
    """

    def __init__(
        self,
        workdir: Path,
        startup_timeout: float = 30.0,
        *,
        mysql_port: int | None = None,
        http_port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir.resolve()  # the server's cwd: relative paths would move
        super().__init__(self.workdir / "stagedb.log", startup_timeout)
        self.data_dir = self.workdir / "stagedb-data"
        self.requested_mysql_port = mysql_port
        self.requested_http_port = http_port
        self.extra_args = extra_args
        self.mysql_port = 0
        self.http_port = 0
        self.banner: dict[str, str] = {}
        self.server: psutil.Process | None = None

    @property
    def pid(self) -> int:
        """PID of the actual server process (not a ``uv`` wrapper)."""
        assert self.server is not None, "server not started"
        return self.server.pid

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP side port, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{HOST}:{self.http_port}"

    def start(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        mysql_port = self.requested_mysql_port
        http_port = self.requested_http_port
        if mysql_port is None:
            mysql_port = free_port()
        while http_port is None or (http_port != 0 and http_port == mysql_port):
            http_port = free_port()
        cmd = [
            *stagedb_command(),
            "serve",
            "--host",
            HOST,
            "--mysql-port",
            str(mysql_port),
            "--http-port",
            str(http_port),
            "--data",
            str(self.data_dir),
            *self.extra_args,
        ]
        proc = self.spawn(cmd, self.workdir)
        self._wait_until_ready(mysql_port, http_port)
        self.server = listening_process(proc.pid, self.mysql_port)
        return self

    def _wait_until_ready(self, mysql_port: int, http_port: int) -> None:
        """Wait for the banner; set ``mysql_port``/``http_port`` from it.

        A server that prints no banner (an older revision) is taken as ready
        once both requested ports accept connections (not possible with 0).
        """
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            self.banner = parse_banner(text)
            if "MySQL protocol" in self.banner and "HTTP" in self.banner:
                self.mysql_port = banner_port(self.banner["MySQL protocol"])
                self.http_port = banner_port(self.banner["HTTP"])
                break
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"stagedb exited with code {self.proc.returncode} during start-up"
                    f"{_log_tail(self.log_path)}"
                )
            if mysql_port and http_port and _accepts(mysql_port) and _accepts(http_port):
                self.mysql_port, self.http_port = mysql_port, http_port
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"stagedb not ready after {self.startup_timeout:.0f}s{_log_tail(self.log_path)}"
                )
            time.sleep(0.05)
        # The banner comes after both binds; this only guards against surprises.
        wait_for_port(self.mysql_port, self.startup_timeout, self.proc, self.log_path)
        wait_for_port(self.http_port, self.startup_timeout, self.proc, self.log_path)

    def connect(self, timeout: float = 300.0) -> Connection:
        """A pymysql connection to the server's MySQL port."""
        return connect(self.mysql_port, timeout)

    def internal_stage_dir(self, stage: str) -> Path:
        """Where internal stage ``stage`` keeps its files (its directory is in its record)."""
        record = json.loads((self.data_dir / "catalog" / "stages" / f"{stage}.json").read_text())
        return self.data_dir / "stage" / "internal" / (record.get("files_dir") or stage)


# --------------------------------------------------------------------------- #
# MariaDB
# --------------------------------------------------------------------------- #
def find_mariadbd() -> str | None:
    """Path of the MariaDB server binary, or None if it is not installed."""
    for name in ("mariadbd", "mysqld"):
        for candidate in (f"/usr/sbin/{name}", shutil.which(name)):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
    return None


def find_install_db() -> str | None:
    """Path of ``mariadb-install-db`` (or ``mysql_install_db``), or None."""
    for name in ("mariadb-install-db", "mysql_install_db"):
        found = shutil.which(name)
        if found:
            return found
    return None


class MariaDBServer(ManagedProcess):
    """A throwaway MariaDB server on a private port, socket and datadir.

    The datadir is initialised with ``mariadb-install-db --no-defaults`` (root
    with an empty password) and the server runs as root with ``--user=root``.
    It listens on 127.0.0.1 only.
    """

    stop_timeout = 30.0  # mariadbd performs a clean shutdown on SIGTERM

    def __init__(self, workdir: Path, startup_timeout: float = 60.0) -> None:
        self.workdir = workdir / "mariadb"
        super().__init__(self.workdir / "mariadbd.err", startup_timeout)
        self.data_dir = self.workdir / "data"
        self.port = 0
        self.version = ""

    def start(self) -> Self:
        mariadbd = find_mariadbd()
        install_db = find_install_db()
        if mariadbd is None or install_db is None:
            raise RuntimeError("MariaDB is not installed (apt-get install mariadb-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        install_log = self.workdir / "install-db.log"
        with install_log.open("wb") as log:
            subprocess.run(
                [
                    install_db,
                    "--no-defaults",
                    f"--datadir={self.data_dir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                    "--user=root",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
        self.port = free_port()
        cmd = [
            mariadbd,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--user=root",
            "--skip-networking=0",
            f"--bind-address={HOST}",
            f"--port={self.port}",
            f"--socket={self.workdir / 'mariadbd.sock'}",
            f"--pid-file={self.workdir / 'mariadbd.pid'}",
            f"--log-error={self.log_path}",
            "--skip-log-bin",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=128M",
            "--max-connections=64",
        ]
        proc = self.spawn(cmd, self.workdir, to_log=False)  # it writes --log-error itself
        wait_for_port(self.port, self.startup_timeout, proc, self.log_path)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            self.version = str(row[0]) if row else "?"
        return self

    def connect(self, timeout: float = 300.0) -> Connection:
        """A pymysql connection to the server as root."""
        return connect(self.port, timeout)


# --------------------------------------------------------------------------- #
# Client
# --------------------------------------------------------------------------- #
def connect(port: int, timeout: float = 300.0) -> Connection:
    """A pymysql connection to 127.0.0.1:port as root with an empty password.

    ``timeout`` bounds every read and write on the socket.
    """
    return pymysql.connect(
        host=HOST,
        port=port,
        user="root",
        password="",
        connect_timeout=10,
        read_timeout=timeout,
        write_timeout=timeout,
        autocommit=True,
    )


# --------------------------------------------------------------------------- #
# Work directory and formatting
# --------------------------------------------------------------------------- #
def make_workdir(prefix: str, parent: str | None) -> Path:
    """A fresh temporary directory (under ``parent`` if given, else the system temp dir).

    The path is absolute: servers run with their cwd inside it, so a relative
    ``--workdir`` would otherwise point them somewhere else.
    """
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent)).resolve()


def remove_tree(path: Path) -> None:
    """Remove ``path`` recursively, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)


class RunNotes(Protocol):
    """The notes on the machine every script's results carry."""

    machine: str
    stagedb_revision: str
    other_load: str


R = TypeVar("R", bound=RunNotes)


def run_in_workdir(
    res: R,
    args: argparse.Namespace,
    prefix: str,
    run: Callable[[R, argparse.Namespace, Path], None],
) -> None:
    """Note how busy the machine is, then ``run(res, args, workdir)`` in a fresh work directory.

    Waits up to ``args.wait_idle`` seconds for the machine to calm down, makes
    the directory under ``args.workdir`` and removes it afterwards; fills in
    ``res.machine``, ``res.stagedb_revision`` and ``res.other_load``.
    """
    res.machine = machine_busy(args.wait_idle)
    res.stagedb_revision = stagedb_revision()
    log(res.machine)
    workdir = make_workdir(prefix, args.workdir)
    try:
        with OtherLoad() as load:
            run(res, args, workdir)
        res.other_load = load.summary()
    finally:
        remove_tree(workdir)


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally`` blocks stop servers and remove temp dirs."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
