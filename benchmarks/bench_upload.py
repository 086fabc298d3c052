"""Benchmark uploads through stagedb's HTTP side port against a local ``cp``.

In one run, on the local disk that holds the temporary directory (stagedb's
``--data`` dir is in it too):

1. A ``--size-mib`` (1024) file of random-ish bytes (one 8 MiB ``os.urandom``
   block repeated), generated once and fsynced once (so its own writeback does
   not land in the first measurement), then ``--warmup`` (1) untimed and
   ``--repeat`` (3) timed rounds, each round running, one after the other:

   (a) the peer: ``cp`` of the file to another file on the same disk;
   (b) stagedb's upload API: ``curl -H 'stage_name: s' -F 'upload=@FILE' -XPUT
       http://127.0.0.1:PORT/v1/upload_to_stage`` into an internal stage;
   (c) a presigned URL: ``PRESIGN UPLOAD @s/...`` over the MySQL port (once,
       untimed), then ``curl -T FILE URL``;
   (d) the floor for a Python server: ``curl -T FILE`` to a minimal receiver
       in a process of its own (one blocking thread: ``recv_into`` a 1 MiB
       buffer, ``os.write``, temporary file renamed into place; no asyncio, no
       HTTP library), to tell what the machine allows from what stagedb costs.

   The best round of each is reported.  Each measurement runs the same way,
   all untimed until the last step: wait up to ``--wait-idle-each`` seconds
   for other CPU load to stop; delete every earlier output (the cp copy and
   the stage's files: no measurement shares the page cache with another's
   dirty data, and each reuses the memory those freed); pause ``--settle``
   (0) seconds; then time the wall clock of the one ``cp`` / ``curl`` process
   (start-up included for both).  Nothing is synced or dropped from the
   caches.  Each upload is verified: ``LIST @s`` shows the file with the right
   size, the stored file (``<data>/stage/internal/s.<id>/<name>``) has the source's
   SHA-256 and no temporary file is left beside it.

2. ``--concurrency`` (200) concurrent uploads of distinct ``--small-kib`` (64)
   KiB files through the upload API (one file per request) into a second
   stage, from aiohttp's client in this process (``TCPConnector(limit=200)``,
   a new session, hence new connections, per round) or, with ``--small-client
   curl``, from as many concurrent ``curl -F`` processes.  Best of
   ``--repeat`` rounds (the stage is emptied before each).  Reported:
   uploads/s, p50/p99/max latency, errors; verified: ``LIST`` shows every
   file with the right size and the stored bytes match.

The server's RSS is sampled every 20 ms during every upload; its VmHWM is read
at the end.  Targets (PASS/FAIL): each stagedb big upload's throughput >= 0.5
x cp's (best against best); server peak RSS < 100 MiB (the larger of the
sampled peak and VmHWM); every big upload verified; 0 errors in the
concurrent uploads and every file listed.

``--profile DIR`` then repeats one upload of each kind with ``py-spy record``
attached to the server during the upload only (all non-idle threads, then
``--gil``), keeps the collapsed stacks in DIR and prints where the samples
went, per thread and per function.

``STAGEDB_BENCH_SERVER`` (see ``_harness.stagedb_command``) measures another
build of the server, e.g. a patched copy, with everything else the same.

Run from the repository root::

    uv run --with psutil python benchmarks/bench_upload.py
    uv run --with psutil python benchmarks/bench_upload.py --size-mib 64 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _harness as h  # the script's own directory is on sys.path
import aiohttp
import psutil

MB = 1_000_000
KIB = 1024
BLOCK = 8 * h.MIB
BIG_STAGE = "s"
SMALL_STAGE = "small"
FORM_NAME = "big-form.bin"
PRESIGNED_NAME = "big-presigned.bin"
TEMP_MARKER = ".stagedb-tmp-"  # stagedb's prefix for files still being written


# --------------------------------------------------------------------------- #
# Results
# --------------------------------------------------------------------------- #
@dataclass
class Run:
    """One timed copy or upload of the big file."""

    seconds: float
    server_cpu: float | None = None  # CPU-seconds of the stagedb process during the run
    client_cpu: float = 0.0  # CPU-seconds of the cp / curl process(es)
    script_cpu: float = 0.0  # CPU-seconds of this script's own process
    other_cores: float = 0.0  # average cores used by everything else meanwhile
    rss_peak: int | None = None  # stagedb RSS peak, 20 ms sampling


@dataclass
class BigMeasurement:
    """Repeated runs of one way of writing the big file."""

    label: str
    runs: list[Run] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> Run | None:
        return min(self.runs, key=lambda r: r.seconds) if self.runs else None


@dataclass
class BurstRound:
    """One round of concurrent small uploads."""

    seconds: float = 0.0
    ok: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    server_cpu: float | None = None
    client_cpu: float = 0.0
    other_cores: float = 0.0
    rss_peak: int | None = None
    listed: int | None = None
    verified: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float | None:
        return self.ok / self.seconds if self.seconds > 0 and self.ok else None


@dataclass
class Results:
    """Everything measured in one run (dumped with --json)."""

    size_bytes: int
    repeat: int
    concurrency: int
    small_bytes: int
    small_client: str
    settle: float
    warmup: int
    machine: str = ""
    stagedb_revision: str = ""
    server_command: str = ""
    other_load: str = ""
    versions: str = ""
    generate_seconds: float = 0.0
    cp: BigMeasurement = field(default_factory=lambda: BigMeasurement("cp"))
    form: BigMeasurement = field(default_factory=lambda: BigMeasurement("form"))
    presigned: BigMeasurement = field(default_factory=lambda: BigMeasurement("presigned"))
    raw: BigMeasurement = field(default_factory=lambda: BigMeasurement("raw receiver"))
    burst: list[BurstRound] = field(default_factory=list)
    burst_error: str | None = None
    stagedb_error: str | None = None
    stagedb_rss_before: int | None = None
    stagedb_vmhwm: int | None = None
    rss_samples: int = 0
    profile: dict[str, list[str]] = field(default_factory=dict)

    @property
    def best_burst(self) -> BurstRound | None:
        rounds = [r for r in self.burst if r.per_second is not None]
        return max(rounds, key=lambda r: r.per_second or 0.0) if rounds else None


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def generate(path: Path, size: int) -> str:
    """Write ``size`` bytes (one random 8 MiB block repeated) and fsync; return the SHA-256."""
    block = os.urandom(min(BLOCK, size))
    digest = hashlib.sha256()
    left = size
    with path.open("wb", buffering=0) as fh:
        while left > 0:
            piece = block[: min(left, len(block))]
            fh.write(piece)
            digest.update(piece)
            left -= len(piece)
        os.fsync(fh.fileno())
    return digest.hexdigest()


def pause(args: argparse.Namespace) -> None:
    """Before clearing the previous outputs: wait up to ``--wait-idle-each`` for quiet."""
    if args.wait_idle_each > 0:
        busy = h.wait_until_idle(args.wait_idle_each)
        if busy > 20:
            h.log(f"  (machine still {busy:.0f}% busy; measuring anyway)")


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def own_cpu(who: int = resource.RUSAGE_CHILDREN) -> float:
    """CPU-seconds so far of this process's reaped children (or of itself: RUSAGE_SELF)."""
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def process_cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(t.user + t.system)


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def mb_per_s(size: int, run: Run | None) -> float | None:
    return size / MB / run.seconds if run is not None and run.seconds > 0 else None


class Meter:
    """Measures runs: wall time, CPU of the server, of children and of other processes, RSS."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.rss_samples = 0  # RSS samples taken in all runs
        # Entered around each server-watching run, just outside the timing (py-spy).
        self.around: Callable[[], contextlib.AbstractContextManager[None]] | None = None

    @contextlib.contextmanager
    def run(self, pid: int | None) -> Iterator[Run]:
        """Time the block and fill in the returned :class:`Run` when it ends.

        ``pid``: the receiving process whose CPU and RSS to follow (the stagedb
        server, the raw receiver; None for cp).
        """
        run = Run(seconds=0.0)
        sampler = h.RssSampler(pid, interval=0.02) if pid is not None else None
        # cp / curl and the servers are children of this script, so OtherLoad
        # counts none of them.
        around = None
        if self.around is not None and pid is not None and pid == self.server_pid:
            around = self.around()
        with (
            around or contextlib.nullcontext(),
            h.OtherLoad() as load,
            sampler or contextlib.nullcontext(),
        ):
            server0 = process_cpu(pid)
            child0, self0 = own_cpu(), own_cpu(resource.RUSAGE_SELF)
            start = time.perf_counter()
            yield run
            run.seconds = time.perf_counter() - start
            run.client_cpu = own_cpu() - child0
            run.script_cpu = own_cpu(resource.RUSAGE_SELF) - self0
            server1 = process_cpu(pid)
            if server0 is not None and server1 is not None:
                run.server_cpu = server1 - server0
        if sampler is not None:
            run.rss_peak = sampler.peak
            self.rss_samples += sampler.samples
        run.other_cores = load.cores


def run_checked(cmd: list[str], timeout: float) -> str:
    """Run ``cmd``; return its stdout; raise RuntimeError with stderr if it fails."""
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def curl_json(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run a ``curl`` command ending in ``-w '%{http_code}' -o RESPONSE``; return the JSON body."""
    out_path = Path(cmd[cmd.index("-o") + 1])
    status = run_checked(cmd, timeout + 30).strip()
    body = out_path.read_text(errors="replace") if out_path.exists() else ""
    if status != "200":
        raise RuntimeError(f"HTTP {status}: {body[:500]}")
    data: dict[str, Any] = json.loads(body)
    if data.get("state") != "SUCCESS":
        raise RuntimeError(f"upload not successful: {body[:500]}")
    return data


# --------------------------------------------------------------------------- #
# Part 1: the big file
# --------------------------------------------------------------------------- #
class BigUploads:
    """The interleaved rounds of cp / upload API / presigned PUT of the big file."""

    def __init__(
        self,
        res: Results,
        args: argparse.Namespace,
        workdir: Path,
        source: Path,
        source_sha: str,
        server: h.StagedbServer | None,
        meter: Meter,
    ) -> None:
        self.res = res
        self.meter = meter
        self.args = args
        self.workdir = workdir
        self.source = source
        self.source_sha = source_sha
        self.server = server
        self.copy = workdir / "cp-copy.bin"
        self.response = workdir / "curl-response.json"
        self.presigned_url = ""
        self.presigned_headers: dict[str, str] = {}
        self.raw: RawReceiver | None = None
        self.raw_output = workdir / "raw-received.bin"

    def sql(self, statement: str) -> tuple[tuple[Any, ...], ...]:
        assert self.server is not None
        with self.server.connect() as conn, conn.cursor() as cur:
            cur.execute(statement)
            return tuple(cur.fetchall())

    def prepare_stage(self) -> None:
        self.sql(f"CREATE STAGE {BIG_STAGE}")
        ((method, headers, url),) = self.sql(f"PRESIGN UPLOAD @{BIG_STAGE}/{PRESIGNED_NAME}")
        if method != "PUT":
            raise RuntimeError(f"PRESIGN UPLOAD returned method {method}")
        self.presigned_url = str(url)
        self.presigned_headers = {str(k): str(v) for k, v in json.loads(headers).items()}

    def clear(self) -> None:
        """Wait for quiet, delete every earlier output, pause ``--settle`` s (all untimed).

        The pause comes *after* the deletion on purpose: the pages the deletion
        frees are what the next measurement's page cache reuses, unless the VM
        has handed them back to the hypervisor by then (see ``--settle``).
        """
        pause(self.args)
        for path in (self.copy, self.raw_output):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self.server is not None:
            self.sql(f"REMOVE @{BIG_STAGE}")
        time.sleep(self.args.settle)

    def curl(self, *request: str) -> list[str]:
        """curl sending ``request`` (options and URL): body to the response file, status printed."""
        timeout, out = str(self.args.upload_timeout), str(self.response)
        return ["curl", "-sS", "--max-time", timeout, "-o", out, "-w", "%{http_code}", *request]

    # -- the three ways ---------------------------------------------------------

    def cp_once(self, m: BigMeasurement | None = None) -> None:
        m = m or self.res.cp
        self.clear()
        with self.meter.run(None) as run:
            run_checked(["cp", str(self.source), str(self.copy)], self.args.upload_timeout)
        m.runs.append(run)
        size = self.copy.stat().st_size
        m.verified.append(size == self.res.size_bytes)
        if size != self.res.size_bytes:
            m.notes.append(f"cp copy has {size} bytes")

    def form_once(self, m: BigMeasurement | None = None) -> None:
        assert self.server is not None
        cmd = self.curl(
            "-H",
            f"stage_name: {BIG_STAGE}",
            "-F",
            f"upload=@{self.source};filename={FORM_NAME}",
            "-XPUT",
            f"{self.server.http_url}/v1/upload_to_stage",
        )
        self._upload_once(m or self.res.form, cmd, FORM_NAME)

    def presigned_once(self, m: BigMeasurement | None = None) -> None:
        assert self.server is not None
        headers = [a for k, v in self.presigned_headers.items() for a in ("-H", f"{k}: {v}")]
        cmd = self.curl(*headers, "-T", str(self.source), self.presigned_url)
        self._upload_once(m or self.res.presigned, cmd, PRESIGNED_NAME)

    def raw_once(self, m: BigMeasurement | None = None) -> None:
        assert self.raw is not None
        m = m or self.res.raw
        self.clear()
        cmd = self.curl(
            "-T", str(self.source), f"http://{h.HOST}:{self.raw.port}/{self.raw_output.name}"
        )
        with self.meter.run(self.raw.pid) as run:
            curl_json(cmd, self.args.upload_timeout)
        m.runs.append(run)
        ok = self.raw_output.exists() and self.raw_output.stat().st_size == self.res.size_bytes
        if ok and not self.args.no_hash:
            ok = file_sha256(self.raw_output) == self.source_sha
        if not ok:
            m.notes.append("the raw receiver's file has the wrong size or SHA-256")
        m.verified.append(ok)

    def _upload_once(self, m: BigMeasurement, cmd: list[str], name: str) -> None:
        assert self.server is not None
        self.clear()
        with contextlib.suppress(FileNotFoundError):
            self.response.unlink()
        with self.meter.run(self.server.pid) as run:
            curl_json(cmd, self.args.upload_timeout)
        m.runs.append(run)
        m.verified.append(self.verify(m, name))

    def verify(self, m: BigMeasurement, name: str) -> bool:
        """LIST shows ``name`` with the right size; stored bytes match; no temp file left."""
        assert self.server is not None
        stage_dir = self.server.internal_stage_dir(BIG_STAGE)
        rows = self.sql(f"LIST @{BIG_STAGE}")
        sizes = {str(r[0]): int(r[1]) for r in rows}
        ok = True
        if sizes.get(name) != self.res.size_bytes:
            m.notes.append(f"LIST shows {name} with size {sizes.get(name)}: {sorted(sizes)}")
            ok = False
        leftovers = [p.name for p in stage_dir.iterdir() if p.name.startswith(TEMP_MARKER)]
        if leftovers:
            m.notes.append(f"temporary files left in the stage dir: {leftovers}")
            ok = False
        if not self.args.no_hash:
            stored = stage_dir / name
            digest = file_sha256(stored) if stored.exists() else "missing"
            if digest != self.source_sha:
                m.notes.append(f"stored {stored} has SHA-256 {digest}, source {self.source_sha}")
                ok = False
        return ok

    def run_rounds(self) -> None:
        steps: list[tuple[BigMeasurement, Callable[[BigMeasurement], None], bool]] = [
            (self.res.cp, self.cp_once, not self.args.skip_cp),
            (self.res.form, self.form_once, self.server is not None and not self.args.skip_form),
            (
                self.res.presigned,
                self.presigned_once,
                self.server is not None and not self.args.skip_presigned,
            ),
            (self.res.raw, self.raw_once, self.raw is not None),
        ]
        warmup = self.args.warmup
        for i in range(warmup + self.args.repeat):
            for m, step, enabled in steps:
                if not enabled or m.error is not None:
                    continue
                if i < warmup:
                    h.log(f"warm-up {i + 1}/{warmup}: {m.label} ...")
                    target = BigMeasurement(f"warm-up {m.label}")  # discarded unless it fails
                else:
                    h.log(f"round {i + 1 - warmup}/{self.args.repeat}: {m.label} ...")
                    target = m
                try:
                    step(target)
                except h.STEP_ERRORS as exc:  # TimeoutExpired included
                    m.error = f"{type(exc).__name__}: {exc}"
                m.notes += [f"warm-up: {n}" for n in target.notes if target is not m]
        self.clear()


# --------------------------------------------------------------------------- #
# (d) the floor: a minimal Python receiver of raw PUT bodies
# --------------------------------------------------------------------------- #
def raw_receiver_worker(directory: str) -> None:
    """Worker side: serve ``PUT /NAME`` (Content-Length bodies) into ``directory``, forever.

    The least a Python server must do per byte: one blocking thread,
    ``recv_into`` a 1 MiB buffer and ``os.write`` it to a temporary file
    beside the target, renamed into place at the end (as stagedb does).
    Prints ``RAW_RECEIVER_PORT <port>`` once listening.  Only for the
    benchmark's own curl: no keep-alive, no chunked bodies, little checking.
    """
    listener = socket.create_server((h.HOST, 0))
    print(f"RAW_RECEIVER_PORT {listener.getsockname()[1]}", flush=True)
    view = memoryview(bytearray(h.MIB))
    while True:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError, ValueError, IndexError):
            _receive_one(conn, Path(directory), view)


def _receive_one(conn: socket.socket, directory: Path, view: memoryview) -> None:
    """One request of :func:`raw_receiver_worker` (a bare connect, as a port probe, is ignored)."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(65536)
        if not data:
            return
        head += data
    request, _, body = head.partition(b"\r\n\r\n")
    lines = request.decode("latin-1").split("\r\n")
    name = Path(lines[0].split()[1]).name
    fields = (line.partition(":") for line in lines[1:])
    headers = {k.strip().lower(): v.strip() for k, _, v in fields}
    if headers.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    target = directory / name
    temp = target.with_name(f".tmp-{name}")
    left = int(headers.get("content-length", "0")) - len(body)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, body)
        while left > 0:
            got = conn.recv_into(view, min(left, len(view)))
            if not got:
                break
            os.write(fd, view[:got])
            left -= got
    finally:
        os.close(fd)
    os.rename(temp, target)
    answer = b'{"state":"SUCCESS"}' if left == 0 else b'{"state":"TRUNCATED"}'
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(answer)}\r\n\r\n".encode()
        + answer
    )


class RawReceiver:
    """:func:`raw_receiver_worker` in a subprocess of its own (its own GIL, its own session)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def __enter__(self) -> RawReceiver:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--raw-receiver-worker"]
        self.proc = subprocess.Popen(
            [*cmd, str(self.directory)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().decode().split()
            if len(line) != 2 or line[0] != "RAW_RECEIVER_PORT":
                raise RuntimeError(f"the raw receiver did not start: {line}")
            self.port = int(line[1])
            h.wait_for_port(self.port, 10, self.proc)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            h.stop_process(self.proc, timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


# --------------------------------------------------------------------------- #
# Part 2: many small uploads at once
# --------------------------------------------------------------------------- #
class Burst:
    """``--concurrency`` simultaneous upload API requests of distinct small files."""

    def __init__(
        self, args: argparse.Namespace, workdir: Path, server: h.StagedbServer, meter: Meter
    ) -> None:
        self.args = args
        self.server = server
        self.meter = meter
        self.url = f"{server.http_url}/v1/upload_to_stage"
        size = args.small_kib * KIB
        self.files = {f"f{i:05d}.bin": os.urandom(size) for i in range(args.concurrency)}
        self.file_dir = workdir / "small"
        if args.small_client == "curl":
            self.file_dir.mkdir()
            for name, data in self.files.items():
                (self.file_dir / name).write_bytes(data)

    def sql(self, statement: str) -> tuple[tuple[Any, ...], ...]:
        with self.server.connect() as conn, conn.cursor() as cur:
            cur.execute(statement)
            return tuple(cur.fetchall())

    async def _one_aiohttp(
        self, session: aiohttp.ClientSession, name: str, data: bytes
    ) -> tuple[float, str | None]:
        form = aiohttp.FormData()
        form.add_field("upload", data, filename=name, content_type="application/octet-stream")
        start = time.perf_counter()
        try:
            async with session.put(self.url, data=form, headers={"stage_name": SMALL_STAGE}) as r:
                body = await r.read()
            error = None if r.status == 200 and b'"SUCCESS"' in body else f"HTTP {r.status}"
            if error:
                error += f": {body[:200]!r}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return time.perf_counter() - start, error

    async def _one_curl(self, name: str) -> tuple[float, str | None]:
        cmd = [
            "curl",
            "-sS",
            "--max-time",
            str(self.args.small_timeout),
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-H",
            f"stage_name: {SMALL_STAGE}",
            "-F",
            f"upload=@{self.file_dir / name}",
            "-XPUT",
            self.url,
        ]
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        elapsed = time.perf_counter() - start
        body, _, status = out.decode(errors="replace").rpartition("\n")
        if proc.returncode != 0:
            return elapsed, f"curl exited {proc.returncode}: {err.decode(errors='replace')[:200]}"
        if status != "200" or '"SUCCESS"' not in body:
            return elapsed, f"HTTP {status}: {body[:200]}"
        return elapsed, None

    async def _burst(self) -> tuple[float, list[tuple[float, str | None]]]:
        if self.args.small_client == "curl":
            start = time.perf_counter()
            out = await asyncio.gather(*(self._one_curl(n) for n in self.files))
            return time.perf_counter() - start, list(out)
        connector = aiohttp.TCPConnector(limit=self.args.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.args.small_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            start = time.perf_counter()
            out = await asyncio.gather(
                *(self._one_aiohttp(session, n, d) for n, d in self.files.items())
            )
            return time.perf_counter() - start, list(out)

    def round(self) -> BurstRound:
        pause(self.args)
        self.sql(f"REMOVE @{SMALL_STAGE}")
        time.sleep(self.args.settle)
        rnd = BurstRound()
        with self.meter.run(self.server.pid) as run:
            wall, outcomes = asyncio.run(self._burst())
        rnd.seconds = wall
        rnd.server_cpu = run.server_cpu
        # aiohttp runs in this process; curl processes are reaped children.
        rnd.client_cpu = run.script_cpu if self.args.small_client == "aiohttp" else run.client_cpu
        rnd.other_cores = run.other_cores
        rnd.rss_peak = run.rss_peak
        latencies = sorted(t for t, _ in outcomes)
        errors = [e for _, e in outcomes if e is not None]
        rnd.ok = len(outcomes) - len(errors)
        rnd.errors = len(errors)
        rnd.error_samples = [f"{n} x {e}" for e, n in collections.Counter(errors).most_common(5)]
        rnd.p50_ms = (percentile(latencies, 50) or 0) * 1000
        rnd.p99_ms = (percentile(latencies, 99) or 0) * 1000
        rnd.max_ms = latencies[-1] * 1000 if latencies else None
        self.verify(rnd)
        return rnd

    def verify(self, rnd: BurstRound) -> None:
        rows = self.sql(f"LIST @{SMALL_STAGE}")
        sizes = {str(r[0]): int(r[1]) for r in rows}
        rnd.listed = len(rows)
        ok = True
        if set(sizes) != set(self.files):
            missing = sorted(set(self.files) - set(sizes))
            extra = sorted(set(sizes) - set(self.files))
            rnd.notes.append(
                f"LIST: {len(missing)} missing (e.g. {missing[:3]}), extra {extra[:3]}"
            )
            ok = False
        wrong = [n for n, s in sizes.items() if n in self.files and s != len(self.files[n])]
        if wrong:
            rnd.notes.append(f"LIST: wrong sizes for {len(wrong)} files, e.g. {wrong[:3]}")
            ok = False
        bad = [
            n
            for n, data in self.files.items()
            if n in sizes and (self.server.internal_stage_dir(SMALL_STAGE) / n).read_bytes() != data
        ]
        if bad:
            rnd.notes.append(f"stored bytes differ for {len(bad)} files, e.g. {bad[:3]}")
            ok = False
        rnd.verified = ok


# --------------------------------------------------------------------------- #
# Profiling with py-spy
# --------------------------------------------------------------------------- #
def summarize_collapsed(path: Path, top: int = 12) -> list[str]:
    """Where the samples of a py-spy ``--threads --nolineno`` raw file went.

    Per thread (the event loop vs the ``to_thread`` workers), then the top
    functions by self samples (the innermost frame) and by inclusive samples
    (anywhere on the stack), as shares of all samples.
    """
    threads: collections.Counter[str] = collections.Counter()
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        thread, *frames = stack.split(";")
        if not frames:
            continue
        # "thread (TID): NAME": MainThread runs the event loop; asyncio_N are to_thread workers.
        name = thread.partition(": ")[2] or thread
        kind = "MainThread (event loop)" if name == "MainThread" else f"other: {name}"
        if name.startswith("asyncio_"):
            kind = "asyncio_N (to_thread workers)"
        threads[kind] += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            incl_counts[frame] += count
    if total == 0:
        return ["(no samples)"]

    def pct(c: int) -> str:
        return f"{100 * c / total:5.1f}%"

    out = [f"{total} samples (non-idle threads); by thread:"]
    out += [f"  {pct(c)}  {t}" for t, c in threads.most_common()]
    out.append("top by self samples:")
    out += [f"  {pct(c)}  {f}" for f, c in self_counts.most_common(top)]
    out.append("top by inclusive samples (stagedb and aiohttp frames):")
    ours = [
        (f, c)
        for f, c in incl_counts.most_common()
        if "(stagedb/" in f or "(aiohttp/" in f or "(fsspec/" in f
    ]
    out += [f"  {pct(c)}  {f}" for f, c in ours[:top]]
    return out


@contextlib.contextmanager
def py_spy(pid: int, output: Path, gil: bool, rate: int) -> Iterator[None]:
    """``py-spy record`` attached to ``pid`` while the block runs (stopped with SIGINT)."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("py-spy not found on PATH")
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    cmd += ["--threads", "--nolineno", "--nonblocking", "--output", str(output)]
    cmd += ["--gil"] if gil else []
    with output.with_suffix(".log").open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            time.sleep(1.0)  # let it attach before the timed part starts
            if proc.poll() is not None:
                raise RuntimeError(f"py-spy exited {proc.returncode}; see {log.name}")
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                h.kill_group(proc)


def run_profiles(
    res: Results, args: argparse.Namespace, big: BigUploads, burst: Burst | None
) -> None:
    """One more upload of each kind with py-spy attached to the server during the upload only.

    Twice each: all non-idle threads, then only the thread holding the GIL.
    Summaries go to ``res.profile``; the raw files stay in ``--profile DIR``.
    """
    assert big.server is not None
    pid = big.server.pid
    outdir: Path = args.profile
    outdir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, Callable[[BigMeasurement], object]]] = []
    if not args.skip_form:
        jobs.append(("form", big.form_once))
    if not args.skip_presigned:
        jobs.append(("presigned", big.presigned_once))
    if burst is not None:
        jobs.append(("burst", lambda _m: burst.round()))
    try:
        for label, job in jobs:
            for gil in (False, True):
                name = f"{label}{'-gil' if gil else ''}"
                h.log(f"profiling {name} with py-spy ...")
                out = outdir / f"{name}.txt"
                scratch = BigMeasurement(name)  # not part of the figures
                big.meter.around = functools.partial(py_spy, pid, out, gil, args.profile_rate)
                job(scratch)
                lines = summarize_collapsed(out) if out.exists() else [f"no output; see {out}.log"]
                run = scratch.runs[-1] if scratch.runs else None
                if run is not None:
                    lines.insert(0, f"upload took {run.seconds:.3f} s under py-spy")
                res.profile[name] = lines
    finally:
        big.meter.around = None
    big.clear()


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def cpu_rate(cpu: float | None, seconds: float) -> str:
    return "n/a" if cpu is None or seconds <= 0 else f"{cpu / seconds:.2f}"


def report(res: Results, rss_limit_mib: float, min_ratio: float) -> bool:
    """Print figures, ratios and target verdicts; return True if all targets passed."""
    size = res.size_bytes
    cp_best, form_best, pre_best = res.cp.best, res.form.best, res.presigned.best
    cp_rate, form_rate, pre_rate = (mb_per_s(size, r) for r in (cp_best, form_best, pre_best))

    print()
    print(
        f"Upload benchmark: {size / h.MIB:.0f} MiB file (generated in "
        f"{res.generate_seconds:.1f} s), {res.warmup} warm-up + best of {res.repeat} rounds, "
        f"settle {res.settle:g} s; "
        f"{res.concurrency} x {res.small_bytes // KIB} KiB concurrent uploads "
        f"({res.small_client} client); {os.cpu_count()} CPUs"
    )
    print(res.machine)
    print(res.other_load)
    print(f"stagedb revision: {res.stagedb_revision}; server: {res.server_command}")
    print(res.versions)
    print()
    print(
        "1. big file (MB = 10^6 bytes; CPU = CPU-seconds per wall-second in the best run; "
        "srv = the receiving process)"
    )
    print(
        f"{'measurement':<40} {'best':>9} {'MB/s':>8} {'srv CPU':>8} {'cli CPU':>8} "
        f"{'oth CPU':>8}   all runs (s)"
    )
    rows: list[tuple[str, BigMeasurement]] = [
        ("(a) cp, same disk", res.cp),
        ("(b) stagedb upload API, curl -F", res.form),
        ("(c) stagedb presigned PUT, curl -T", res.presigned),
        ("(d) floor: minimal Python PUT receiver", res.raw),
    ]
    for label, m in rows:
        b = m.best
        runs = ", ".join(f"{r.seconds:.3f}" for r in m.runs) or "-"
        rate = mb_per_s(size, b)
        print(
            f"{label:<40} {h.fmt_seconds(b.seconds if b else None):>9} "
            f"{'n/a' if rate is None else f'{rate:.0f}':>8} "
            f"{cpu_rate(b.server_cpu if b else None, b.seconds if b else 0):>8} "
            f"{cpu_rate(b.client_cpu if b else None, b.seconds if b else 0):>8} "
            f"{'n/a' if b is None else f'{b.other_cores:.2f}':>8}   {runs}"
        )
    print()
    print("ratios (throughput)")
    print(f"  upload API / cp:     {h.fmt_ratio(form_rate, cp_rate)}")
    print(f"  presigned PUT / cp:  {h.fmt_ratio(pre_rate, cp_rate)}")
    raw_rate = mb_per_s(size, res.raw.best)
    print(f"  floor receiver / cp: {h.fmt_ratio(raw_rate, cp_rate)}")
    print(f"  upload API / floor:  {h.fmt_ratio(form_rate, raw_rate)}")
    print(f"  presigned / floor:   {h.fmt_ratio(pre_rate, raw_rate)}")

    best = res.best_burst
    if res.burst:
        print()
        print(
            f"2. {res.concurrency} concurrent uploads of {res.small_bytes // KIB} KiB "
            f"({res.small_client} client)"
        )
        print(
            f"{'round':<6} {'uploads/s':>10} {'wall':>9} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'max ms':>8} {'errors':>7} {'listed':>7} {'srv CPU':>8} {'cli CPU':>8} "
            f"{'oth CPU':>8}"
        )
        for i, r in enumerate(res.burst, 1):
            ps = r.per_second
            print(
                f"{i:<6} {'n/a' if ps is None else f'{ps:.0f}':>10} "
                f"{h.fmt_seconds(r.seconds):>9} "
                f"{r.p50_ms or 0:>8.1f} {r.p99_ms or 0:>8.1f} {r.max_ms or 0:>8.1f} "
                f"{r.errors:>7} {r.listed if r.listed is not None else '-':>7} "
                f"{cpu_rate(r.server_cpu, r.seconds):>8} {cpu_rate(r.client_cpu, r.seconds):>8} "
                f"{r.other_cores:>8.2f}"
            )
            for s in r.error_samples:
                print(f"       error: {s}")
            for n in r.notes:
                print(f"       check: {n}")

    def peak_of(items: list[int | None]) -> int | None:
        vals = [v for v in items if v]
        return max(vals) if vals else None

    big_peak = peak_of([r.rss_peak for m in (res.form, res.presigned) for r in m.runs])
    burst_peak = peak_of([r.rss_peak for r in res.burst])
    peak = peak_of([big_peak, burst_peak, res.stagedb_vmhwm])
    print()
    print("stagedb memory")
    print(f"  RSS before the uploads:             {h.fmt_mib(res.stagedb_rss_before)}")
    print(f"  RSS peak, big uploads (20 ms):      {h.fmt_mib(big_peak)}")
    print(f"  RSS peak, concurrent uploads:       {h.fmt_mib(burst_peak)}")
    print(f"  VmHWM at the end:                   {h.fmt_mib(res.stagedb_vmhwm)}")
    print(f"  ({res.rss_samples} RSS samples in all)")

    for label, m in rows:
        if m.error:
            print(f"\n{label} error: {m.error}")
        for note in m.notes:
            print(f"{label} check: {note}")
    for label, err in (("stagedb", res.stagedb_error), ("concurrent uploads", res.burst_error)):
        if err:
            print(f"\n{label} error: {err}")

    for name, lines in res.profile.items():
        print(f"\npy-spy profile of the server, {name}:")
        for line in lines:
            print(f"  {line}")

    def ratio_ok(rate: float | None) -> bool | None:
        return None if rate is None or cp_rate is None else rate >= min_ratio * cp_rate

    limit = None if cp_rate is None else min_ratio * cp_rate
    limit_text = "n/a" if limit is None else f"{limit:.0f} MB/s"
    form_ok, pre_ok = ratio_ok(form_rate), ratio_ok(pre_rate)
    rss_ok = None if peak is None else peak < rss_limit_mib * h.MIB
    verified = res.form.verified + res.presigned.verified
    verify_ok = all(verified) if verified else None
    burst_err_ok = (
        None if not res.burst else all(r.errors == 0 for r in res.burst) and not res.burst_error
    )
    burst_list_ok = None if not res.burst else all(r.verified for r in res.burst)
    print()
    print("targets")
    for ok, text in (
        (form_ok, f"upload API >= {min_ratio:g} x cp: {form_rate or 0:.0f} MB/s vs {limit_text}"),
        (pre_ok, f"presigned PUT >= {min_ratio:g} x cp: {pre_rate or 0:.0f} MB/s vs {limit_text}"),
        (rss_ok, f"server peak RSS < {rss_limit_mib:.0f} MiB: {h.fmt_mib(peak)}"),
        (verify_ok, f"big uploads verified (LIST size, SHA-256, no temp file): {len(verified)}"),
        (
            burst_err_ok,
            f"concurrent uploads without errors: "
            f"{sum(r.errors for r in res.burst)} errors in {len(res.burst)} round(s)",
        ),
        (
            burst_list_ok,
            f"LIST shows all {res.concurrency} small files, right sizes and bytes, every round",
        ),
    ):
        print(f"  [{h.verdict(ok)}] {text}")
    if best is not None:
        print(
            f"  (best round: {best.per_second or 0:.0f} uploads/s, p50 {best.p50_ms or 0:.1f} ms,"
            f" p99 {best.p99_ms or 0:.1f} ms)"
        )
    wanted = [form_ok, pre_ok, rss_ok, verify_ok, burst_err_ok, burst_list_ok]
    return all(v is not False for v in wanted) and any(v is not None for v in wanted)


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size-mib", type=int, default=1024, help="big file size (default 1024)")
    p.add_argument(
        "--repeat", type=int, default=3, help="rounds of each measurement; best is reported (3)"
    )
    p.add_argument(
        "--concurrency", type=int, default=200, help="simultaneous small uploads (default 200)"
    )
    p.add_argument("--small-kib", type=int, default=64, help="small file size (default 64)")
    p.add_argument(
        "--small-client",
        choices=("aiohttp", "curl"),
        default="aiohttp",
        help="client of the concurrent uploads: aiohttp in this process (default) or one "
        "curl process per upload",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="pause between deleting the earlier outputs and each measurement (default 0). "
        "On a VM with free page reporting (virtio-balloon) freed memory may go back to the "
        "host after a few seconds, and the next 1 GiB of page cache is then faulted in "
        "again (cp 0.25 s -> 0.9-1.2 s at times here); a pause of 3+ s invites that",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed rounds of every big-file measurement first (default 1)",
    )
    p.add_argument("--skip-cp", action="store_true", help="do not run the cp peer")
    p.add_argument("--skip-form", action="store_true", help="skip the upload API big upload")
    p.add_argument("--skip-presigned", action="store_true", help="skip the presigned big upload")
    p.add_argument("--skip-small", action="store_true", help="skip the concurrent small uploads")
    p.add_argument(
        "--skip-raw", action="store_true", help="skip the minimal Python receiver (the floor)"
    )
    p.add_argument("--no-hash", action="store_true", help="do not SHA-256 the stored big files")
    p.add_argument(
        "--upload-timeout", type=float, default=600, help="seconds per big upload (default 600)"
    )
    p.add_argument(
        "--small-timeout",
        type=float,
        default=120,
        help="seconds per small upload request (default 120)",
    )
    p.add_argument(
        "--min-ratio",
        type=float,
        default=0.5,
        help="target: upload throughput >= this x cp's (default 0.5)",
    )
    p.add_argument(
        "--rss-limit-mib", type=float, default=100, help="stagedb peak RSS target (default 100)"
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="after measuring, repeat one upload of each kind under py-spy (with and "
        "without --gil), keep the collapsed stacks in DIR and print the top functions",
    )
    p.add_argument(
        "--profile-rate", type=int, default=500, help="py-spy samples per second (default 500)"
    )
    h.add_workdir_arg(p, "; it must have room for about 3 x --size-mib")
    h.add_wait_idle_arg(p)
    p.add_argument(
        "--wait-idle-each",
        type=float,
        default=15,
        help="before each measurement, seconds to wait for other CPU load to stop (default 15)",
    )
    h.add_json_arg(p, "also write the results as JSON here")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    p.add_argument("--raw-receiver-worker", metavar="DIR", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.warmup < 0 or args.settle < 0:
        p.error("--warmup and --settle must be >= 0")
    if args.size_mib < 1 or args.repeat < 1 or args.concurrency < 1 or args.small_kib < 1:
        p.error("--size-mib, --repeat, --concurrency and --small-kib must be >= 1")
    return args


def versions() -> str:
    try:
        curl = run_checked(["curl", "--version"], 10).splitlines()[0].split()[1]
    except (OSError, RuntimeError, subprocess.SubprocessError, IndexError):
        curl = "?"
    try:
        cp = run_checked(["cp", "--version"], 10).splitlines()[0]
    except (OSError, RuntimeError, subprocess.SubprocessError):
        cp = "?"
    return f"curl {curl}; {cp}; aiohttp {aiohttp.__version__}; Python {sys.version.split()[0]}"


def run_all(res: Results, args: argparse.Namespace, workdir: Path) -> None:
    source = workdir / "source.bin"
    h.log(f"generating {args.size_mib} MiB under {workdir} ...")
    start = time.perf_counter()
    source_sha = generate(source, res.size_bytes)
    res.generate_seconds = time.perf_counter() - start

    need_server = not (args.skip_form and args.skip_presigned and args.skip_small)
    with contextlib.ExitStack() as stack:
        server = None
        if need_server:
            try:
                server = stack.enter_context(h.StagedbServer(workdir, mysql_port=0, http_port=0))
                h.log(
                    f"stagedb: pid {server.pid}, mysql port {server.mysql_port}, "
                    f"http port {server.http_port}"
                )
            except h.STEP_ERRORS as exc:
                res.stagedb_error = f"{type(exc).__name__}: {exc}"
        meter = Meter(server.pid if server is not None else None)
        big = BigUploads(res, args, workdir, source, source_sha, server, meter)
        if server is not None:
            try:
                big.prepare_stage()
                big.sql(f"CREATE STAGE {SMALL_STAGE}")
            except h.STEP_ERRORS as exc:
                res.stagedb_error = f"{type(exc).__name__}: {exc}"
                server = big.server = None
        if server is not None:
            res.stagedb_rss_before = h.current_rss(server.pid)
        if not args.skip_raw:
            try:
                big.raw = stack.enter_context(RawReceiver(workdir))
                h.log(f"raw receiver: pid {big.raw.pid}, port {big.raw.port}")
            except h.STEP_ERRORS as exc:
                res.raw.error = f"{type(exc).__name__}: {exc}"
        big.run_rounds()

        burst = None
        if server is not None and not args.skip_small:
            try:
                burst = Burst(args, workdir, server, meter)
                for i in range(args.repeat):
                    h.log(f"round {i + 1}/{args.repeat}: {args.concurrency} concurrent uploads ...")
                    res.burst.append(burst.round())
            except h.STEP_ERRORS as exc:
                res.burst_error = f"{type(exc).__name__}: {exc}"
        if server is not None:
            res.stagedb_vmhwm = h.read_vmhwm(server.pid)
            res.rss_samples = meter.rss_samples
            if args.profile is not None:
                try:
                    run_profiles(res, args, big, burst)
                except h.STEP_ERRORS as exc:  # TimeoutExpired included
                    res.profile["error"] = [f"{type(exc).__name__}: {exc}"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.raw_receiver_worker is not None:
        raw_receiver_worker(args.raw_receiver_worker)
        return 0
    h.exit_cleanly_on_sigterm()
    res = Results(
        size_bytes=args.size_mib * h.MIB,
        repeat=args.repeat,
        concurrency=args.concurrency,
        small_bytes=args.small_kib * KIB,
        small_client=args.small_client,
        settle=args.settle,
        warmup=args.warmup,
    )
    res.server_command = " ".join(h.stagedb_command())
    res.versions = versions()
    h.run_in_workdir(res, args, "stagedb-bench-upload-", run_all)

    ok = report(res, args.rss_limit_mib, args.min_ratio)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(res), indent=2) + "\n")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
