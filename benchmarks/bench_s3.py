"""Benchmark an external stage on S3: ``LIST`` of 10,000 objects and a 1 GiB upload.

The S3 endpoint is moto in server mode, in a *separate process* (so that this
script's client threads never share a GIL with it): by default moto's own
``ThreadedMotoServer`` (the class tests/test_s3_stages.py uses) in a child
interpreter, quiet; ``--moto-mode cli`` runs ``python -m moto.server -H
127.0.0.1 -p PORT`` instead (werkzeug's threaded server, one log line per
request).  In the same run:

1. LIST, for each ``--layouts`` layout (``nested``: ``--prefixes`` (100)
   prefixes x 100 objects; ``flat``: ``--objects`` (10,000) objects side by
   side).  moto is reset, bucket ``bench`` created and filled with
   ``--objects`` objects of ``--object-size`` (10) bytes under ``stage/`` by
   boto3 from ``--fill-threads`` (16) threads; then, best of ``--repeat`` (3)
   rounds, each round running, one after the other:

   (a) the peer: boto3's ``list_objects_v2`` paginator over ``stage/``,
       collecting every key;
   (b) stagedb: ``LIST @s`` fetched whole by pymysql, ``s`` created once with
       ``CREATE STAGE s URL = 's3://bench/stage/' CONNECTION = (ENDPOINT_URL =
       'http://127.0.0.1:PORT' ACCESS_KEY_ID = 'x' SECRET_ACCESS_KEY = 'y')``
       (checked: every object, right names, sizes and order);
   (c) for attribution: stagedb's own sorted walk
       (``stagedb.storage.listing.walk_sorted`` on the filesystem
       ``external_filesystem`` builds for the stage), in this process, without
       the server or the MySQL protocol: s3fs ``ls`` per "directory";
   (d) for comparison: a flat walk on the same s3fs client -- one
       ``list_objects_v2`` paginator without a delimiter, which S3 already
       returns in key order (checked: the same entries in the same order as
       (c)).  A sketch of what (c) could do instead.

   The CPU-seconds moto, the stagedb server and this script use during each
   measurement are reported too (2 cores: moto's share of the time matters).

2. Upload: a ``--upload-mib`` (1024) MiB file (one 8 MiB ``os.urandom`` block
   repeated), ``--upload-repeat`` (1) rounds of:

   (a) the peer: boto3 ``upload_file`` of the file, multipart with 8 MiB
       parts one at a time (as stagedb writes them), then deleted;
   (b) stagedb, a fresh server: ``curl -u root: -H 'stage_name: s' -F
       'upload=@FILE' -XPUT http://127.0.0.1:HTTP_PORT/v1/upload_to_stage``
       into the S3 stage, its RSS sampled every 20 ms (and VmHWM read at the
       end); checked: ``SUCCESS``, ``HeadObject`` gives the file's size, no
       multipart upload left open, ``LIST @s`` shows it.

Targets (PASS/FAIL): for each layout stagedb ``LIST`` <= ``--list-ratio``
(1.5) x boto3's time (best against best) and returns every object; upload
server peak RSS < ``--rss-limit-mib`` (150) MiB (the larger of the sampled peak
and VmHWM) and the object verified.  Throughput is reported, with no target.

``--profile DIR`` then runs one more ``LIST`` per layout and one more upload
with ``py-spy record --gil`` attached to the stagedb server (and, for LIST, to
moto), keeps the raw stacks in DIR and prints where the samples went.

Run from the repository root::

    uv run --with psutil python benchmarks/bench_s3.py
    uv run --with psutil python benchmarks/bench_s3.py --objects 1000 --upload-mib 64
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _harness as h  # the script's own directory is on sys.path
import _s3

BUCKET = "bench"
PREFIX = "stage/"
STAGE = "s"
LAYOUTS = ("nested", "flat")
BLOCK = 8 * h.MIB
MB = 1_000_000
TIMELINE_FRACTIONS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)

LIST_PROFILE_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("s3fs ls: list_objects_v2 request + response (fsspecIO thread)", ("(s3fs/core.py)",)),
    ("  of which botocore XML response parsing", ("(botocore/parsers.py)",)),
    ("  of which LastModified parsing (dateutil)", ("(dateutil/",)),
    ("stagedb walk_sorted / _walk_fsspec (own work)", ("(stagedb/storage/listing.py)",)),
    ("stagedb engine _list_rows + format_timestamp", ("_list_rows (stagedb/engine.py)",)),
    ("MySQL result set encoding and sending (mysql_mimic)", ("(mysql_mimic/",)),
]
MOTO_PROFILE_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("moto S3 list_objects (scan + sort of every key)", ("list_objects (moto/s3/models.py)",)),
    ("moto response serialisation", ("(moto/core/serialize.py)", "(xmltodict.py)")),
    ("werkzeug request handling", ("(werkzeug/",)),
]
MOTO_UPLOAD_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("werkzeug reading the request body", ("(werkzeug/wsgi.py)", "(werkzeug/sansio/", "readinto")),
    ("moto checksums / md5 of parts", ("hashlib", "checksum", "md5")),
    ("moto S3 upload_part / complete", ("upload_part", "complete_multipart")),
]
UPLOAD_PROFILE_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("stagedb upload handler", ("(stagedb/http/",)),
    ("aiohttp server: multipart reading", ("(aiohttp/multipart.py)", "(aiohttp/streams.py)")),
    ("fsspec/s3fs file write, upload part", ("(fsspec/spec.py)", "(s3fs/core.py)")),
    ("botocore checksums, signing", ("(botocore/", "(aiobotocore/")),
    ("aiohttp client sending the part", ("(aiohttp/client", "(aiohttp/payload.py)")),
]


@dataclass
class Timing:
    """Wall-clock times of repeated runs of one measurement, with the CPU they cost."""

    runs: list[float] = field(default_factory=list)
    rows: int = 0
    requests: int = 0
    """S3 requests per run (pages, or ls calls), where known."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU-seconds per process, summed over the runs."""

    @property
    def best(self) -> float | None:
        return min(self.runs) if self.runs else None

    def cpu_per_run(self, name: str) -> float | None:
        if not self.runs or name not in self.cpu:
            return None
        return self.cpu[name] / len(self.runs)


@dataclass
class LayoutResult:
    """One layout's LIST figures."""

    layout: str
    keys: int
    prefixes: int
    fill_seconds: float = 0.0
    boto3: Timing = field(default_factory=Timing)
    stagedb: Timing = field(default_factory=Timing)
    walk: Timing = field(default_factory=Timing)
    flat: Timing = field(default_factory=Timing)
    stagedb_rss_peak: int | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class UploadResult:
    """The upload's figures."""

    size: int
    peer: Timing = field(default_factory=Timing)
    stagedb: Timing = field(default_factory=Timing)
    rss_before: int | None = None
    rss_sampled_peak: int | None = None
    vmhwm: int | None = None
    rss_samples: int = 0
    rss_timeline: list[tuple[float, int]] = field(default_factory=list)
    """RSS at 0, 10, 25, 50, 75, 90 and 100 % of the (last) upload: (seconds, bytes)."""
    rss_peak_at: float | None = None
    moto_rss_after: int | None = None
    verified: bool | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class Results:
    """Everything measured in one run (dumped with --json)."""

    objects: int
    object_size: int
    repeat: int
    moto_mode: str
    server_env: dict[str, str] = field(default_factory=dict)
    started: str = ""
    machine: str = ""
    other_load: str = ""
    stagedb_revision: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    layouts: dict[str, LayoutResult] = field(default_factory=dict)
    upload: UploadResult | None = None


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("moto", "boto3", "botocore", "s3fs", "aiobotocore", "fsspec", "pymysql"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "n/a"
    return out


def layout_keys(layout: str, objects: int, prefixes: int) -> list[str]:
    """The object keys (below ``stage/``) of a layout."""
    if layout == "flat":
        return [f"obj{i:06d}.dat" for i in range(objects)]
    per = max(1, objects // prefixes)
    return [f"p{d:04d}/obj{f:05d}.dat" for d in range(prefixes) for f in range(per)]


def create_stage_sql(endpoint: str) -> str:
    return (
        f"CREATE STAGE {STAGE} URL = 's3://{BUCKET}/{PREFIX}' CONNECTION = ("
        f"ENDPOINT_URL = '{endpoint}' ACCESS_KEY_ID = '{_s3.ACCESS_KEY}' "
        f"SECRET_ACCESS_KEY = '{_s3.SECRET_KEY}')"
    )


def stage_filesystem(endpoint: str) -> Any:
    """The fsspec filesystem stagedb builds for the stage (a DirFileSystem over s3fs)."""
    from stagedb.storage.external import external_filesystem

    return external_filesystem(
        f"s3://{BUCKET}/{PREFIX}",
        {"endpoint_url": endpoint, "access_key_id": _s3.ACCESS_KEY,
         "secret_access_key": _s3.SECRET_KEY},
    )  # fmt: skip


def flat_walk(fs: Any) -> Iterator[tuple[str, int, str | None, int]]:
    """Files below the stage root from a flat ``list_objects_v2`` listing, in key order.

    S3 returns keys in UTF-8 byte order, which is the order of the names as
    Python strings, so no sort is needed and one page is held at a time.
    Folder markers (keys ending in ``/``) and stagedb's temporary files are
    skipped, as ``walk_sorted`` does.
    """
    from stagedb.storage.paths import is_temporary

    bucket, _, root = fs.path.partition("/")
    prefix = f"{root}/" if root else ""
    cut = len(prefix)
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = fs.fs.call_s3("list_objects_v2", **kwargs)
        for obj in page.get("Contents", ()):
            key: str = obj["Key"]
            if key.endswith("/") or is_temporary(key):
                continue
            modified = obj["LastModified"]
            ns = int(modified.timestamp()) * 1_000_000_000 + modified.microsecond * 1000
            yield key[cut:], int(obj["Size"]), obj.get("ETag"), ns
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


def timed_run(timing: Timing, pids: dict[str, int], fn: Callable[[], int]) -> None:
    """Run ``fn`` once (it returns a row count), adding its time and CPU to ``timing``."""
    with _s3.CpuMeter(pids) as meter:
        start = time.perf_counter()
        rows = fn()
        elapsed = time.perf_counter() - start
    timing.runs.append(elapsed)
    timing.rows = rows
    for name, used in meter.used.items():
        timing.cpu[name] = timing.cpu.get(name, 0.0) + used


def make_upload_file(path: Path, size: int) -> None:
    """``size`` bytes: one 8 MiB random block repeated (content does not matter to S3)."""
    block = os.urandom(BLOCK)
    with path.open("wb") as out:
        left = size
        while left > 0:
            n = min(left, BLOCK)
            out.write(block[:n])
            left -= n


# --------------------------------------------------------------------------- #
# 1. LIST
# --------------------------------------------------------------------------- #
class CountingLs:
    """Wraps an s3fs instance's ``ls`` to count calls (one per "directory" walked)."""

    def __init__(self, s3fs_instance: Any) -> None:
        self.target = s3fs_instance
        self.real = s3fs_instance.ls
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.real(*args, **kwargs)

    def __enter__(self) -> CountingLs:
        self.target.ls = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.target.ls = self.real  # s3fs instances are cached: put the original back


def run_layout(
    res: LayoutResult,
    moto: _s3.MotoServer,
    server: h.StagedbServer,
    args: argparse.Namespace,
    profile_dir: Path | None,
) -> None:
    """Fill moto with one layout and time (a)-(d), interleaved round by round."""
    from stagedb.storage.listing import walk_sorted

    moto.reset()
    client = _s3.s3_client(moto.endpoint, pool=args.fill_threads)
    client.create_bucket(Bucket=BUCKET)
    keys = layout_keys(res.layout, args.objects, args.prefixes)
    res.keys = len(keys)
    h.log(f"[{res.layout}] putting {len(keys)} objects into s3://{BUCKET}/{PREFIX} ...")
    start = time.perf_counter()
    body = b"x" * args.object_size
    _s3.fill_bucket(client, BUCKET, [PREFIX + k for k in keys], body, args.fill_threads)
    res.fill_seconds = time.perf_counter() - start
    h.log(f"[{res.layout}] filled in {res.fill_seconds:.1f} s")
    expected = sorted(keys)

    pids = {"moto": moto.pid, "stagedb": server.pid, "client": os.getpid()}
    fs = stage_filesystem(moto.endpoint)
    last_rows: tuple[tuple[Any, ...], ...] = ()
    boto_keys: list[str] = []
    walk_entries: list[Any] = []
    flat_entries: list[tuple[str, int, str | None, int]] = []

    with (
        CountingLs(fs.fs) as ls_counter,
        server.connect() as conn,
        conn.cursor() as cur,
    ):
        cur.execute(f"DROP STAGE IF EXISTS {STAGE}")
        cur.execute(create_stage_sql(moto.endpoint))

        def peer() -> int:
            nonlocal boto_keys
            boto_keys, res.boto3.requests = _s3.list_all_keys(client, BUCKET, PREFIX)
            return len(boto_keys)

        def stagedb_list() -> int:
            nonlocal last_rows
            cur.execute(f"LIST @{STAGE}")
            last_rows = cur.fetchall()
            return len(last_rows)

        def walk() -> int:
            nonlocal walk_entries
            ls_counter.calls = 0
            walk_entries = list(walk_sorted(fs, ""))
            res.walk.requests = ls_counter.calls
            return len(walk_entries)

        def flat() -> int:
            nonlocal flat_entries
            flat_entries = list(flat_walk(fs))
            res.flat.requests = -(-len(flat_entries) // 1000)
            return len(flat_entries)

        with h.RssSampler(server.pid, interval=0.02) as sampler:
            for i in range(args.repeat):
                h.log(f"[{res.layout}] round {i + 1}/{args.repeat} ...")
                timed_run(res.boto3, pids, peer)
                timed_run(res.stagedb, pids, stagedb_list)
                timed_run(res.walk, pids, walk)
                timed_run(res.flat, pids, flat)
        res.stagedb_rss_peak = sampler.peak

        # Checks.
        want = [PREFIX + k for k in expected]
        if sorted(boto_keys) != want:
            res.notes.append(f"boto3 listed {len(boto_keys)} keys, expected {len(want)}")
        names = [str(r[0]) for r in last_rows]
        if len(names) != len(expected):
            res.notes.append(f"LIST returned {len(names)} rows, expected {len(expected)}")
        elif names != expected:
            bad = next(i for i, (a, b) in enumerate(zip(names, expected, strict=True)) if a != b)
            res.notes.append(f"LIST names/order differ at row {bad}: {names[bad]!r}")
        sizes = {r[1] for r in last_rows}
        if last_rows and sizes != {args.object_size}:
            res.notes.append(f"unexpected LIST sizes: {sorted(sizes)[:5]}")
        walk_tuples = [(e.name, e.size, e.md5, e.modified_ns) for e in walk_entries]
        if [t[0] for t in walk_tuples] != expected:
            res.notes.append("walk_sorted in-process did not give the expected names in order")
        if flat_entries != walk_tuples:
            res.notes.append("the flat walk (d) differs from walk_sorted (c)")

        if profile_dir is not None:
            profile_list(res, moto, server, cur, profile_dir, args)
        cur.execute(f"DROP STAGE {STAGE}")


def profile_list(
    res: LayoutResult,
    moto: _s3.MotoServer,
    server: h.StagedbServer,
    cur: Any,
    profile_dir: Path,
    args: argparse.Namespace,
) -> None:
    """``--profile-lists`` more LISTs with py-spy (--gil) on the server and on moto."""
    h.log(f"[{res.layout}] profiling {args.profile_lists} LIST(s) with py-spy ...")
    out_server = profile_dir / f"list-{res.layout}-stagedb.raw"
    out_moto = profile_dir / f"list-{res.layout}-moto.raw"
    rate = args.profile_rate
    with (
        _s3.PySpy(server.pid, out_server, rate, gil=True),
        _s3.PySpy(moto.pid, out_moto, rate, gil=True),
        _s3.CpuMeter({"moto": moto.pid, "stagedb": server.pid}) as meter,
    ):
        for _ in range(args.profile_lists):
            cur.execute(f"LIST @{STAGE}")
            cur.fetchall()
    res.profile = {
        "lists": args.profile_lists,
        "wall": meter.wall,
        "cpu": meter.used,
        "rate": rate,
        "stagedb": _s3.summarize_raw(out_server, LIST_PROFILE_GROUPS),
        "moto": _s3.summarize_raw(out_moto, MOTO_PROFILE_GROUPS),
    }


# --------------------------------------------------------------------------- #
# 2. Upload
# --------------------------------------------------------------------------- #
def curl_upload(server: h.StagedbServer, path: Path, timeout: float) -> str:
    """Upload ``path`` to the stage through the upload API; return curl's output."""
    cmd = ["curl", "-sS", "--max-time", str(int(timeout)), "-u", "root:",
           "-H", f"stage_name:{STAGE}", "-F", f"upload=@{path}", "-XPUT",
           f"{server.http_url}/v1/upload_to_stage"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"curl exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def run_upload(
    up: UploadResult,
    moto: _s3.MotoServer,
    workdir: Path,
    args: argparse.Namespace,
    profile_dir: Path | None,
) -> None:
    """The 1 GiB upload: boto3 (peer) and stagedb's upload API, each ``--upload-repeat`` times."""
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped,unused-ignore]

    moto.reset()
    client = _s3.s3_client(moto.endpoint)
    client.create_bucket(Bucket=BUCKET)
    source = workdir / f"upload-{args.upload_mib}mib.bin"
    h.log(f"[upload] writing {up.size / h.MIB:.0f} MiB to {source} ...")
    make_upload_file(source, up.size)
    key = PREFIX + source.name
    sequential = TransferConfig(
        multipart_threshold=BLOCK, multipart_chunksize=BLOCK, max_concurrency=1, use_threads=False
    )
    updir = workdir / "upload-server"
    updir.mkdir()
    with stagedb_server(updir, args.server_env_map) as server:
        h.log(f"[upload] stagedb: pid {server.pid}, http port {server.http_port}")
        pids = {"moto": moto.pid, "stagedb": server.pid, "client": os.getpid()}
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute(create_stage_sql(moto.endpoint))
            up.rss_before = h.current_rss(server.pid)
            answer = ""

            def peer() -> int:
                client.upload_file(str(source), BUCKET, "peer/" + source.name, Config=sequential)
                return 1

            def stagedb_upload() -> int:
                nonlocal answer
                answer = curl_upload(server, source, args.upload_timeout)
                return 1

            for i in range(args.upload_repeat):
                h.log(f"[upload] round {i + 1}/{args.upload_repeat}: boto3 ...")
                timed_run(up.peer, pids, peer)
                size = client.head_object(Bucket=BUCKET, Key="peer/" + source.name)
                if size["ContentLength"] != up.size:
                    up.notes.append(f"boto3 upload has {size['ContentLength']} bytes")
                client.delete_object(Bucket=BUCKET, Key="peer/" + source.name)
                h.log(f"[upload] round {i + 1}/{args.upload_repeat}: stagedb ...")
                with _s3.RssTimeline(server.pid, interval=0.02) as sampler:
                    timed_run(up.stagedb, pids, stagedb_upload)
                up.rss_sampled_peak = max(up.rss_sampled_peak or 0, sampler.peak)
                up.rss_samples += sampler.samples
                up.rss_timeline = [
                    (round(t, 2), rss) for t, rss in sampler.at_fractions(TIMELINE_FRACTIONS)
                ]
                up.rss_peak_at = sampler.peak_at()
                up.verified = verify_upload(up, client, cur, key, answer, source.name)
                if i + 1 < args.upload_repeat:
                    client.delete_object(Bucket=BUCKET, Key=key)
            up.vmhwm = h.read_vmhwm(server.pid)
            up.moto_rss_after = moto.rss()

            if profile_dir is not None:
                client.delete_object(Bucket=BUCKET, Key=key)
                h.log("[upload] profiling one more of each upload with py-spy ...")
                rate = args.profile_rate
                out_moto_peer = profile_dir / "upload-peer-moto.raw"
                with (
                    _s3.PySpy(moto.pid, out_moto_peer, rate, gil=True),
                    _s3.CpuMeter(pids) as peer_meter,
                ):
                    peer()
                client.delete_object(Bucket=BUCKET, Key="peer/" + source.name)
                out = profile_dir / "upload-stagedb.raw"
                out_moto = profile_dir / "upload-stagedb-moto.raw"
                with (
                    _s3.PySpy(server.pid, out, rate, gil=True),
                    _s3.PySpy(moto.pid, out_moto, rate, gil=True),
                    _s3.CpuMeter(pids) as meter,
                ):
                    curl_upload(server, source, args.upload_timeout)
                up.profile = {
                    "wall": meter.wall,
                    "cpu": meter.used,
                    "peer_wall": peer_meter.wall,
                    "peer_cpu": peer_meter.used,
                    "rate": rate,
                    "stagedb": _s3.summarize_raw(out, UPLOAD_PROFILE_GROUPS),
                    "moto": _s3.summarize_raw(out_moto, MOTO_UPLOAD_GROUPS),
                    "moto_peer": _s3.summarize_raw(out_moto_peer, MOTO_UPLOAD_GROUPS),
                }
            cur.execute(f"DROP STAGE {STAGE}")
    source.unlink(missing_ok=True)


def verify_upload(
    up: UploadResult, client: Any, cur: Any, key: str, answer: str, name: str
) -> bool:
    """The upload's checks; failures go to ``up.notes``."""
    ok = True
    try:
        state = json.loads(answer).get("state")
    except ValueError:
        state = None
    if state != "SUCCESS":
        up.notes.append(f"upload answer: {answer.strip()[:300]}")
        ok = False
    head = client.head_object(Bucket=BUCKET, Key=key)
    if head["ContentLength"] != up.size:
        up.notes.append(f"HeadObject: {head['ContentLength']} bytes, expected {up.size}")
        ok = False
    open_uploads = _s3.open_multipart_uploads(client, BUCKET)
    if open_uploads:
        up.notes.append(f"multipart uploads left open: {open_uploads}")
        ok = False
    cur.execute(f"LIST @{STAGE}")
    rows = {str(r[0]): r[1] for r in cur.fetchall()}
    if rows.get(name) != up.size:
        up.notes.append(f"LIST shows {rows}")
        ok = False
    return ok


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def cpu_cell(t: Timing, name: str) -> str:
    value = t.cpu_per_run(name)
    return "-" if value is None else f"{value:.2f}"


def report(res: Results, args: argparse.Namespace) -> bool:
    """Print figures, ratios and verdicts; return True if every target passed."""
    verdicts: list[bool | None] = []
    print()
    print(
        f"S3 stage benchmark, {res.started}; moto ({res.moto_mode} mode, separate process) "
        f"on 127.0.0.1; {os.cpu_count()} CPUs"
    )
    print(res.machine)
    print(res.other_load)
    print(f"stagedb revision: {res.stagedb_revision}")
    if res.server_env:
        print(
            "stagedb server environment: " + " ".join(f"{k}={v}" for k, v in res.server_env.items())
        )
    override = os.environ.get("STAGEDB_BENCH_SERVER")
    if override:
        print(f"stagedb server command (STAGEDB_BENCH_SERVER): {override}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in res.versions.items()))
    for lay in res.layouts.values():
        print()
        shape = (
            f"{lay.prefixes} prefixes x {lay.keys // max(1, lay.prefixes)} objects"
            if lay.layout == "nested"
            else f"{lay.keys} objects side by side"
        )
        print(
            f"LIST, layout {lay.layout}: {shape} = {lay.keys} objects of {res.object_size} B "
            f"under s3://{BUCKET}/{PREFIX} (filled in {lay.fill_seconds:.1f} s); "
            f"best of {res.repeat}"
        )
        print(
            f"  {'measurement':<46} {'best':>9} {'rows':>6} {'reqs':>5} "
            f"{'moto':>5} {'sdb':>5} {'cli':>5}   all runs (s)"
        )
        lines = [
            ("(a) boto3 list_objects_v2 paginator", lay.boto3),
            ("(b) stagedb LIST @s via pymysql fetchall", lay.stagedb),
            ("(c) walk_sorted in-process (s3fs ls per dir)", lay.walk),
            ("(d) flat list_objects_v2 walk on s3fs client", lay.flat),
        ]
        for label, t in lines:
            runs = ", ".join(f"{r:.3f}" for r in t.runs) or "-"
            print(
                f"  {label:<46} {h.fmt_seconds(t.best):>9} {t.rows:>6} {t.requests or '-':>5} "
                f"{cpu_cell(t, 'moto'):>5} {cpu_cell(t, 'stagedb'):>5} "
                f"{cpu_cell(t, 'client'):>5}   {runs}"
            )
        print("  (reqs: S3 list requests per run, not observed inside the server: an unmodified")
        print("   stagedb walks as (c) does; moto/sdb/cli: CPU-s per run of moto, the stagedb")
        print("   server and this script)")
        sd, peer = lay.stagedb.best, lay.boto3.best
        print(f"  stagedb / boto3: {h.fmt_ratio(sd, peer)};  walk (c) / boto3: "
              f"{h.fmt_ratio(lay.walk.best, peer)};  flat walk (d) / boto3: "
              f"{h.fmt_ratio(lay.flat.best, peer)};  stagedb / walk (c): "
              f"{h.fmt_ratio(sd, lay.walk.best)}")  # fmt: skip
        print(f"  stagedb RSS peak during the LISTs: {h.fmt_mib(lay.stagedb_rss_peak)}")
        if lay.error:
            print(f"  ERROR: {lay.error}")
        for note in lay.notes:
            print(f"  check: {note}")
        time_ok = None if sd is None or peer is None else sd <= args.list_ratio * peer
        rows_ok = None if not lay.stagedb.runs else lay.stagedb.rows == lay.keys and not lay.notes
        verdicts += [time_ok, rows_ok]
        print(
            f"  [{h.verdict(time_ok)}] stagedb LIST <= {args.list_ratio:g} x boto3: "
            f"{h.fmt_seconds(sd)} vs limit "
            f"{h.fmt_seconds(None if peer is None else args.list_ratio * peer)}"
        )
        print(f"  [{h.verdict(rows_ok)}] stagedb LIST returns all {lay.keys} objects, in order")
        if lay.profile:
            print_list_profile(lay)

    up = res.upload
    if up is not None:
        print()
        print(
            f"Upload of {up.size / h.MIB:.0f} MiB to the S3 stage, best of {len(up.stagedb.runs)}"
        )
        for label, t in (
            ("(a) boto3 upload_file, 8 MiB parts, sequential", up.peer),
            ("(b) stagedb upload API via curl -F", up.stagedb),
        ):
            best = t.best
            mbps = "n/a" if not best else f"{up.size / best / MB:.1f} MB/s"
            runs = ", ".join(f"{r:.2f}" for r in t.runs) or "-"
            print(
                f"  {label:<48} {h.fmt_seconds(best):>9} {mbps:>11}   CPU-s moto "
                f"{cpu_cell(t, 'moto')}, stagedb {cpu_cell(t, 'stagedb')}, "
                f"client {cpu_cell(t, 'client')}   runs {runs}"
            )
        print(f"  stagedb throughput / boto3's: {h.fmt_ratio(up.peer.best, up.stagedb.best)}")
        peaks = [v for v in (up.rss_sampled_peak, up.vmhwm) if v]
        peak = max(peaks) if peaks else None
        print(f"  stagedb RSS before the upload:      {h.fmt_mib(up.rss_before)}")
        print(f"  stagedb RSS peak (20 ms sampling):  {h.fmt_mib(up.rss_sampled_peak)}"
              f"  ({up.rss_samples} samples)")  # fmt: skip
        print(f"  stagedb VmHWM at the end:           {h.fmt_mib(up.vmhwm)}")
        if up.rss_timeline:
            points = ", ".join(f"{t:.1f} s {rss / h.MIB:.0f}" for t, rss in up.rss_timeline)
            peak_at = "n/a" if up.rss_peak_at is None else f"{up.rss_peak_at:.1f} s"
            print(f"  stagedb RSS (MiB) during the upload: {points}; peak at {peak_at}")
        print(f"  moto RSS after the upload:          {h.fmt_mib(up.moto_rss_after)}")
        if up.error:
            print(f"  ERROR: {up.error}")
        for note in up.notes:
            print(f"  check: {note}")
        rss_ok = None if peak is None else peak < args.rss_limit_mib * h.MIB
        verdicts += [rss_ok, up.verified]
        peak_mb = "n/a" if peak is None else f"{peak / MB:.1f} MB"
        print(
            f"  [{h.verdict(rss_ok)}] stagedb peak RSS < {args.rss_limit_mib:g} MiB: "
            f"{h.fmt_mib(peak)} ({peak_mb})"
        )
        print(
            f"  [{h.verdict(up.verified)}] object size via HeadObject, no open multipart "
            "upload, LIST shows it"
        )
        if up.profile:
            print_upload_profile(up)
    return all(v is True for v in verdicts) and bool(verdicts)


def print_list_profile(lay: LayoutResult) -> None:
    p = lay.profile
    rate = int(p["rate"])
    print(
        f"  py-spy --gil, {p['lists']} more LIST(s) in {p['wall']:.2f} s: CPU-s stagedb "
        f"{p['cpu'].get('stagedb', 0):.2f}, moto {p['cpu'].get('moto', 0):.2f}"
    )
    print("  stagedb server:")
    print("\n".join(_s3.format_summary(p["stagedb"], rate, "    ")))
    print("  moto:")
    print("\n".join(_s3.format_summary(p["moto"], rate, "    ")))


def print_upload_profile(up: UploadResult) -> None:
    p = up.profile
    rate = int(p["rate"])
    print(
        f"  py-spy --gil, one more upload in {p['wall']:.2f} s: CPU-s stagedb "
        f"{p['cpu'].get('stagedb', 0):.2f}, moto {p['cpu'].get('moto', 0):.2f}, "
        f"curl+client {p['cpu'].get('client', 0):.2f}"
    )
    print("  stagedb server:")
    print("\n".join(_s3.format_summary(p["stagedb"], rate, "    ")))
    print("  moto, during that stagedb upload:")
    print("\n".join(_s3.format_summary(p["moto"], rate, "    ")))
    print(
        f"  moto, during one more boto3 upload ({p['peer_wall']:.2f} s; CPU-s moto "
        f"{p['peer_cpu'].get('moto', 0):.2f}, client {p['peer_cpu'].get('client', 0):.2f}):"
    )
    print("\n".join(_s3.format_summary(p["moto_peer"], rate, "    ")))


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--objects", type=int, default=10_000, help="objects to list (default 10000)")
    p.add_argument(
        "--prefixes", type=int, default=100, help="prefixes of the nested layout (default 100)"
    )
    p.add_argument(
        "--layouts",
        default="nested,flat",
        help="comma-separated layouts to run: nested, flat (default both)",
    )
    p.add_argument("--object-size", type=int, default=10, help="bytes per object (default 10)")
    p.add_argument("--fill-threads", type=int, default=16, help="boto3 PUT threads (default 16)")
    p.add_argument("--repeat", type=int, default=3, help="LIST rounds; best counts (default 3)")
    p.add_argument(
        "--list-ratio", type=float, default=1.5, help="LIST target: stagedb <= this x boto3"
    )
    p.add_argument("--upload-mib", type=int, default=1024, help="upload size in MiB (default 1024)")
    p.add_argument("--upload-repeat", type=int, default=1, help="upload rounds (default 1)")
    p.add_argument(
        "--upload-timeout", type=float, default=900, help="seconds per upload (default 900)"
    )
    p.add_argument("--skip-list", action="store_true", help="do not run the LIST part")
    p.add_argument("--skip-upload", action="store_true", help="do not run the upload part")
    p.add_argument(
        "--rss-limit-mib", type=float, default=150, help="upload peak RSS target (default 150)"
    )
    p.add_argument(
        "--moto-mode",
        choices=_s3.MOTO_MODES,
        default="threaded",
        help="threaded: ThreadedMotoServer in a child process (quiet; default); "
        "cli: python -m moto.server (logs every request)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="after measuring, profile LIST and the upload with py-spy --gil; keep raw stacks "
        "in DIR",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for the stagedb servers (repeatable), e.g. "
        "MALLOC_ARENA_MAX=2 to try allocator settings",
    )
    p.add_argument("--profile-lists", type=int, default=3, help="LISTs profiled per layout")
    p.add_argument("--profile-rate", type=int, default=200, help="py-spy samples/s (default 200)")
    h.add_workdir_arg(p)
    h.add_wait_idle_arg(p)
    h.add_json_arg(p, "also write the results as JSON here")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = p.parse_args(argv)
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    bad = [x for x in layouts if x not in LAYOUTS]
    if bad:
        p.error(f"unknown layout(s) {bad}; choose from {LAYOUTS}")
    args.layout_list = layouts
    env: dict[str, str] = {}
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            p.error(f"--server-env wants NAME=VALUE, not {item!r}")
        env[name] = value
    args.server_env_map = env
    return args


@contextlib.contextmanager
def server_env(env: dict[str, str]) -> Iterator[None]:
    """``env`` set in this process while a stagedb server starts (it inherits it)."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def stagedb_server(workdir: Path, env: dict[str, str]) -> Iterator[h.StagedbServer]:
    """``stagedb serve`` in ``workdir`` with ``env`` added to its environment; stopped on exit."""
    server = h.StagedbServer(workdir)
    try:
        with server_env(env):
            server.start()
        yield server
    finally:
        server.stop()


def run_all(res: Results, args: argparse.Namespace, workdir: Path) -> None:
    """Start moto (and stagedb) and run every enabled part, filling in ``res``."""
    profile_dir: Path | None = args.profile
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    with _s3.MotoServer(workdir, args.moto_mode) as moto:
        h.log(f"moto ({args.moto_mode}): pid {moto.pid}, {moto.endpoint}")
        if not args.skip_list:
            listdir = workdir / "list-server"
            listdir.mkdir()
            with stagedb_server(listdir, args.server_env_map) as server:
                h.log(f"stagedb: pid {server.pid}, mysql port {server.mysql_port}")
                for layout in args.layout_list:
                    lay = LayoutResult(layout, 0, args.prefixes if layout == "nested" else 1)
                    res.layouts[layout] = lay
                    try:
                        run_layout(lay, moto, server, args, profile_dir)
                    except h.STEP_ERRORS as exc:
                        lay.error = f"{type(exc).__name__}: {exc}"
        if not args.skip_upload:
            res.upload = UploadResult(size=args.upload_mib * h.MIB)
            try:
                run_upload(res.upload, moto, workdir, args, profile_dir)
            except h.STEP_ERRORS as exc:
                res.upload.error = f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    h.exit_cleanly_on_sigterm()
    res = Results(
        objects=args.objects,
        object_size=args.object_size,
        repeat=args.repeat,
        moto_mode=args.moto_mode,
        server_env=args.server_env_map,
        started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    res.versions = package_versions()
    h.run_in_workdir(res, args, "stagedb-bench-s3-", run_all)

    ok = report(res, args)
    if args.json is not None:
        _s3.dump_json(args.json, asdict(res))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
