"""S3 helpers for the stagedb benchmarks: a moto server in a child process, boto3, py-spy.

Everything here talks to 127.0.0.1 only.  Generic helpers (ports, stagedb,
RSS, outside load, formatting) live in :mod:`_harness`; this module adds what
only the S3 benchmark needs:

* :class:`MotoServer` -- moto's S3 in server mode, in a *separate process*
  (so the benchmark's own client threads never share a GIL with it), started
  in its own session and stopped with SIGTERM, then SIGKILL of its group.
  Two ways to run it: ``threaded`` (``moto.server.ThreadedMotoServer`` with
  ``verbose=False`` in a child interpreter: the same server class as
  tests/test_s3_stages.py, without a log line per request) or ``cli`` (the
  ``moto_server -H 127.0.0.1 -p PORT`` command, werkzeug's threaded dev
  server, which logs every request).
* :func:`s3_client`, :func:`fill_bucket`, :func:`list_all_keys`,
  :func:`open_multipart_uploads` -- boto3 against that endpoint.
* :class:`CpuMeter` -- CPU-seconds used by given processes while a block runs.
* :class:`RssTimeline` -- a process's RSS sampled every few ms, every sample kept.
* :class:`PySpy`, :func:`summarize_raw` -- ``py-spy record -f raw`` attached
  to a process while a block runs, and a summary of where its samples went.
"""

from __future__ import annotations

import collections
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Self

import _harness as h
import psutil

ACCESS_KEY = "x"
"""Credentials moto accepts (it accepts any); the benchmark's CREATE STAGE uses the same."""
SECRET_KEY = "y"
REGION = "us-east-1"

MOTO_MODES = ("threaded", "cli")

_THREADED_LAUNCHER = """
import signal, sys
from moto.server import ThreadedMotoServer

def _stop(signum, frame):
    raise SystemExit(0)

signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)
server = ThreadedMotoServer(ip_address=sys.argv[1], port=int(sys.argv[2]), verbose=False)
server.start()
print("moto ready", flush=True)
try:
    while True:
        signal.pause()
finally:
    server.stop()
"""


# --------------------------------------------------------------------------- #
# moto
# --------------------------------------------------------------------------- #
class MotoServer(h.ManagedProcess):
    """moto's S3 on a private port of 127.0.0.1, in a child process of its own.

    ``mode`` is ``threaded`` (``ThreadedMotoServer`` in a child interpreter,
    quiet) or ``cli`` (``python -m moto.server -H 127.0.0.1 -p PORT``, which
    logs one line per request).  Use as a context manager.
    """

    def __init__(self, workdir: Path, mode: str = "threaded", startup_timeout: float = 60.0):
        if mode not in MOTO_MODES:
            raise ValueError(f"unknown moto mode {mode!r}; one of {MOTO_MODES}")
        super().__init__(workdir / f"moto-{mode}.log", startup_timeout)
        self.mode = mode
        self.port = 0

    @property
    def endpoint(self) -> str:
        """moto's base URL, e.g. ``http://127.0.0.1:5000``."""
        return f"http://{h.HOST}:{self.port}"

    def command(self) -> list[str]:
        """The child's command line (this interpreter: it has moto)."""
        if self.mode == "threaded":
            return [sys.executable, "-c", _THREADED_LAUNCHER, h.HOST, str(self.port)]
        return [sys.executable, "-m", "moto.server", "-H", h.HOST, "-p", str(self.port)]

    def start(self) -> Self:
        self.port = h.free_port()
        proc = self.spawn(self.command())
        h.wait_for_port(self.port, self.startup_timeout, proc, self.log_path)
        return self

    def reset(self) -> None:
        """Forget every bucket and object (moto's ``/moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=120) as answer:
            answer.read()

    def rss(self) -> int:
        """moto's current RSS in bytes."""
        return h.current_rss(self.pid)


# --------------------------------------------------------------------------- #
# boto3
# --------------------------------------------------------------------------- #
def s3_client(endpoint: str, pool: int = 10) -> Any:
    """A boto3 S3 client for ``endpoint`` (path-style, dummy credentials, bounded timeouts)."""
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.config import Config

    config = Config(
        max_pool_connections=pool,
        connect_timeout=10,
        read_timeout=300,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=config,
    )


def fill_bucket(client: Any, bucket: str, keys: Sequence[str], body: bytes, threads: int) -> None:
    """``PutObject`` every key with ``body``, from ``threads`` threads."""

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=body)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(put, keys):
            pass


def list_all_keys(client: Any, bucket: str, prefix: str) -> tuple[list[str], int]:
    """Every key under ``prefix`` via the ``list_objects_v2`` paginator, and the page count."""
    keys: list[str] = []
    pages = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        pages += 1
        keys.extend(obj["Key"] for obj in page.get("Contents", ()))
    return keys, pages


def open_multipart_uploads(client: Any, bucket: str) -> list[str]:
    """Keys of the multipart uploads still open in ``bucket``."""
    answer = client.list_multipart_uploads(Bucket=bucket)
    return [str(u["Key"]) for u in answer.get("Uploads", ())]


# --------------------------------------------------------------------------- #
# CPU accounting
# --------------------------------------------------------------------------- #
def cpu_seconds(pid: int) -> float:
    """User + system CPU-seconds of ``pid`` so far (all its threads; 0 if gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


class CpuMeter(h.Block):
    """CPU-seconds each named process used while the block ran.

    ``CpuMeter({"moto": pid1, "client": os.getpid()})``; after the block,
    ``used`` maps each name to its CPU-seconds and ``wall`` is the elapsed time.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, float] = {}
        self.wall = 0.0
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def begin(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._t0 = time.perf_counter()

    def end(self) -> None:
        self.wall = time.perf_counter() - self._t0
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}


class RssTimeline(h.PollingSampler):
    """Sample a process's RSS every ``interval`` seconds in a thread, keeping every sample.

    Like ``_harness.RssSampler`` (peak, samples) plus ``points``: (seconds since
    the start, RSS bytes), to tell a steady per-part footprint from growth.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(pid, interval, name="rss-timeline")
        self.points: list[tuple[float, int]] = []
        self._t0 = 0.0

    @property
    def peak(self) -> int:
        """The highest RSS sampled (bytes)."""
        return max((rss for _, rss in self.points), default=0)

    @property
    def samples(self) -> int:
        """How many samples were taken."""
        return len(self.points)

    def record(self, rss: int) -> None:
        self.points.append((time.perf_counter() - self._t0, rss))

    def at_fractions(self, fractions: Sequence[float]) -> list[tuple[float, int]]:
        """The samples nearest to these fractions of the sampled span."""
        if not self.points:
            return []
        end = self.points[-1][0]
        out = []
        for f in fractions:
            target = f * end
            out.append(min(self.points, key=lambda p: abs(p[0] - target)))
        return out

    def peak_at(self) -> float | None:
        """Seconds from the start to the (first) peak sample."""
        peak = self.peak
        return next((t for t, rss in self.points if rss == peak), None)

    def begin(self) -> None:
        self._t0 = time.perf_counter()
        super().begin()


# --------------------------------------------------------------------------- #
# py-spy
# --------------------------------------------------------------------------- #
class PySpy(h.Block):
    """``py-spy record -f raw`` attached to ``pid`` while the block runs.

    ``gil=True`` keeps only samples of the thread holding the GIL (where the
    Python CPU time goes); ``idle=True`` keeps idle threads too (where the wall
    time goes).  py-spy writes its output when it gets SIGINT on exit.
    """

    def __init__(
        self, pid: int, out: Path, rate: int = 200, *, gil: bool = True, idle: bool = False
    ) -> None:
        exe = shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("py-spy not found on PATH")
        self.out = out
        self.log_path = out.with_suffix(out.suffix + ".log")
        self.cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--threads",
                    "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
        if gil:
            self.cmd.append("--gil")
        if idle:
            self.cmd.append("--idle")
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def begin(self) -> None:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        time.sleep(1.0)  # let py-spy attach before the work starts
        if self.proc.poll() is not None:
            raise RuntimeError(f"py-spy exited {self.proc.returncode}; see {self.log_path}")

    def end(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def _frame_name(frame: str) -> str:
    """``func (pkg/module.py:123)`` -> ``func (pkg/module.py)``; thread labels unchanged."""
    func, sep, where = frame.partition(" (")
    if not sep or not where.endswith(")") or ".py" not in where:
        return frame
    return f"{func} ({where[:-1].rsplit(':', 1)[0]})"


def _thread_name(frame: str) -> str:
    """``thread (123): asyncio_4`` -> ``asyncio_N`` (numbered pool threads merged)."""
    name = frame.partition("): ")[2] or frame
    stem = name.rstrip("0123456789")
    return stem + "N" if stem != name and stem.endswith("_") else name


GENERIC_FRAMES = ("(threading.py)", "(asyncio/", "(concurrent/futures/", "(socketserver.py)",
                  "(click/", "(<frozen ", "(http/server.py)", "(runpy.py)")  # fmt: skip
"""Frames every stack passes through: left out of the inclusive top list."""


def read_raw(path: Path) -> list[tuple[list[str], int]]:
    """The stacks of a py-spy raw (collapsed) file: (frames root-first, samples)."""
    stacks: list[tuple[list[str], int]] = []
    if not path.exists():
        return stacks
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append(([_frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def summarize_raw(
    path: Path, groups: Iterable[tuple[str, Sequence[str]]], top: int = 12
) -> dict[str, Any]:
    """Where the samples of a py-spy raw file (recorded with ``--threads``) went.

    ``groups`` are (label, substrings): a sample counts for a label if any frame
    of its stack contains one of the substrings (inclusive time, each sample
    counted once per label).  Also the samples per thread, and the ``top``
    functions by self samples (the innermost frame) and by inclusive samples
    (leaving out frames every stack passes through, see ``GENERIC_FRAMES``).
    """
    stacks = read_raw(path)
    total = sum(count for _, count in stacks)
    selfs: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    group_list = list(groups)
    grouped: dict[str, int] = {label: 0 for label, _ in group_list}
    for frames, count in stacks:
        if frames and frames[0].startswith("thread ("):
            threads[_thread_name(frames[0])] += count
        code = [f for f in frames if not f.startswith(("thread (", "process "))]
        if code:
            selfs[code[-1]] += count
        for name in set(code):
            if not any(g in name for g in GENERIC_FRAMES):
                inclusive[name] += count
        for label, needles in group_list:
            if any(needle in frame for frame in code for needle in needles):
                grouped[label] += count
    return {
        "file": str(path),
        "samples": total,
        "threads": threads.most_common(),
        "groups": grouped,
        "top_self": selfs.most_common(top),
        "top_inclusive": inclusive.most_common(top),
    }


def format_summary(summary: dict[str, Any], rate: int, indent: str = "  ") -> list[str]:
    """Printable lines for :func:`summarize_raw`'s result."""
    total = int(summary["samples"])
    lines = [f"{indent}{total} samples at {rate}/s (= {total / rate:.2f} s) in {summary['file']}"]
    if total == 0:
        return lines

    def pct(n: int) -> str:
        return f"{100.0 * n / total:5.1f}%"

    threads = ", ".join(f"{name} {pct(n).strip()}" for name, n in summary["threads"])
    lines.append(f"{indent}by thread: {threads}")
    lines.append(f"{indent}by area (inclusive; a sample can count in several):")
    for label, n in summary["groups"].items():
        lines.append(f"{indent}  {pct(n)}  {label}")
    lines.append(f"{indent}top functions by self samples:")
    lines.extend(f"{indent}  {pct(n)}  {name}" for name, n in summary["top_self"])
    lines.append(f"{indent}top functions by inclusive samples:")
    lines.extend(f"{indent}  {pct(n)}  {name}" for name, n in summary["top_inclusive"])
    return lines


def dump_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (for --json)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
