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
* :class:`RssSampler` -- sample a process's RSS every few milliseconds in a
  background thread, plus :func:`read_vmhwm` for the kernel's own high-water mark.
* :func:`connect` -- a pymysql connection with bounded timeouts.
* :func:`machine_busy`, :func:`wait_until_idle`, :class:`OtherLoad` -- how busy
  the machine is before a run (or between measurements), and how much CPU other
  processes used during it (2 cores: it matters).
* :func:`stop_process`, :func:`kill_group`, :func:`exit_cleanly_on_sigterm` --
  cleanup of the process groups a script started, also on SIGTERM.
* :func:`fmt_seconds`, :func:`fmt_mib`, :func:`fmt_ratio`, :func:`verdict` --
  output formatting.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

import psutil
import pymysql

if TYPE_CHECKING:
    from pymysql.connections import Connection as _Connection
    from pymysql.cursors import Cursor

    Connection = _Connection[Cursor]

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

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


class StagedbServer:
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
        self.data_dir = self.workdir / "stagedb-data"
        self.log_path = self.workdir / "stagedb.log"
        self.startup_timeout = startup_timeout
        self.requested_mysql_port = mysql_port
        self.requested_http_port = http_port
        self.extra_args = extra_args
        self.mysql_port = 0
        self.http_port = 0
        self.banner: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.server: psutil.Process | None = None
        self._log: IO[bytes] | None = None

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
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_ready(mysql_port, http_port)
        self.server = listening_process(self.proc.pid, self.mysql_port)
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

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def connect(self, timeout: float = 300.0) -> Connection:
        return connect(self.mysql_port, timeout)

    def internal_stage_dir(self, stage: str) -> Path:
        """Where internal stage ``stage`` keeps its files (its directory is in its record)."""
        record = json.loads((self.data_dir / "catalog" / "stages" / f"{stage}.json").read_text())
        return self.data_dir / "stage" / "internal" / (record.get("files_dir") or stage)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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


class MariaDBServer:
    """A throwaway MariaDB server on a private port, socket and datadir.

    The datadir is initialised with ``mariadb-install-db --no-defaults`` (root
    with an empty password) and the server runs as root with ``--user=root``.
    It listens on 127.0.0.1 only.
    """

    def __init__(self, workdir: Path, startup_timeout: float = 60.0) -> None:
        self.workdir = workdir / "mariadb"
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "mariadbd.err"
        self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

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
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, self.startup_timeout, self.proc, self.log_path)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            self.version = str(row[0]) if row else "?"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            # mariadbd performs a clean shutdown on SIGTERM.
            stop_process(self.proc, timeout=30.0)
            self.proc = None

    def connect(self, timeout: float = 300.0) -> Connection:
        return connect(self.port, timeout)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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
# Memory
# --------------------------------------------------------------------------- #
class RssSampler:
    """Poll a process's RSS in a background thread and keep the peak.

    Use as a context manager around the work to observe.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            rss = int(self.process.memory_info().rss)
            self.samples += 1
            self.peak = max(self.peak, rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()


def current_rss(pid: int) -> int:
    """Current RSS of ``pid`` in bytes (0 if it is gone)."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def read_vmhwm(pid: int) -> int | None:
    """The kernel's peak-RSS high-water mark (VmHWM) for ``pid`` in bytes, if readable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            parts = line.split()
            return int(parts[1]) * 1024  # reported in kB
    return None


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


def machine_busy(wait_idle: float = 0.0, idle_percent: float = 20.0) -> str:
    """One line on how busy the machine is (other load skews the figures).

    Waits up to ``wait_idle`` seconds for CPU use to fall below ``idle_percent``.
    """
    deadline = time.monotonic() + wait_idle
    waited = 0
    busy = psutil.cpu_percent(interval=1.0)
    while busy > idle_percent and time.monotonic() < deadline:
        if waited == 0:
            log(f"machine is {busy:.0f}% busy; waiting up to {wait_idle:g} s for it to calm down")
        waited += 1
        busy = psutil.cpu_percent(interval=1.0)
    load1, _, _ = os.getloadavg()
    note = f"machine before start: {busy:.0f}% CPU busy over 1 s, load average {load1:.2f}"
    if busy > idle_percent:
        note += "  (WARNING: other processes are using the CPU; figures may be low)"
    return note


def wait_until_idle(timeout: float, idle_percent: float = 20.0, interval: float = 0.5) -> float:
    """Wait up to ``timeout`` seconds for machine-wide CPU use to fall below ``idle_percent``.

    For use between measurements (our own servers idle).  Returns the last
    reading (percent of all CPUs busy over ``interval`` seconds).
    """
    deadline = time.monotonic() + timeout
    busy = psutil.cpu_percent(interval=interval)
    while busy > idle_percent and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=interval)
    return busy


def other_processes_cpu() -> dict[int, float]:
    """CPU-seconds so far of every process that is not ours, by pid.

    Ours = this process and its descendants; kernel threads are left out too.
    Each figure includes the process's waited-for children, so short-lived
    processes (e.g. servers a test suite starts and stops) are counted when
    their parent reaps them.  Per-task accounting, unlike /proc/stat's tick
    sampling, stays accurate under heavy context switching.
    """
    me = psutil.Process()
    ours = {me.pid}
    with contextlib.suppress(psutil.Error):
        ours.update(child.pid for child in me.children(recursive=True))
    out: dict[int, float] = {}
    for proc in psutil.process_iter(["ppid", "cpu_times"]):
        if proc.pid in ours or proc.pid == 2 or proc.info["ppid"] == 2:
            continue
        t = proc.info["cpu_times"]
        if t is not None:
            out[proc.pid] = t.user + t.system + t.children_user + t.children_system
    return out


class OtherLoad:
    """Measure CPU used by *other* processes on the machine while the block runs.

    Sums per-process CPU deltas of every process outside this script's process
    tree (see :func:`other_processes_cpu`).  Use as a context manager.
    """

    def __init__(self) -> None:
        self.other_seconds = 0.0
        self.wall = 0.0
        self._t0 = 0.0
        self._cpu0: dict[int, float] = {}

    def __enter__(self) -> Self:
        self._cpu0 = other_processes_cpu()
        self._t0 = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wall = time.monotonic() - self._t0
        now = other_processes_cpu()
        grown = sum(t - self._cpu0.get(pid, 0.0) for pid, t in now.items())
        # A process that ended during the block shows up again in its parent's
        # children times with its whole life: take off what it had used before.
        ended_before = sum(t for pid, t in self._cpu0.items() if pid not in now)
        limit = (os.cpu_count() or 1) * self.wall
        self.other_seconds = min(limit, max(0.0, grown - ended_before))

    @property
    def cores(self) -> float:
        """Average number of cores other processes kept busy."""
        return self.other_seconds / self.wall if self.wall > 0 else 0.0

    def summary(self) -> str:
        note = (
            f"other processes used {self.other_seconds:.1f} CPU-s during the "
            f"{self.wall:.0f} s run ({self.cores:.2f} cores on average)"
        )
        if self.cores > 0.1:
            note += "  (WARNING: outside load; figures may be skewed)"
        return note


def remove_tree(path: Path) -> None:
    """Remove ``path`` recursively, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    return f"{value:.3f} s"


def fmt_mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f} MiB"


def fmt_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator == 0:
        return "n/a"
    return f"{numerator / denominator:.2f}x"


def verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "FAIL")


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally`` blocks stop servers and remove temp dirs."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def log(message: str) -> None:
    """Progress output on stderr (results go to stdout)."""
    print(message, file=sys.stderr, flush=True)
