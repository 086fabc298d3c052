"""Benchmark ``LIST @stage`` over a large local directory tree.

Builds a tree of ``--dirs`` directories x ``--files-per-dir`` small files in a
temporary directory and, in the same run, measures:

(a) embedded Databend (PyPI package ``databend``): ``CREATE STAGE s URL =
    'fs:///tree/'`` then ``LIST @s`` fully materialised (as Arrow record
    batches, and separately as Python row lists).  Databend runs in a worker
    subprocess of this script (the same interpreter, imported in-process
    there) so that its global runtime, threads and memory do not leak into the
    other measurements; it keeps its metadata under the temporary directory.
(b) a plain Python ``os.scandir`` + ``stat`` walk of the tree (the floor for
    any Python implementation).
(c) stagedb: ``stagedb serve`` started on private ports, the stage created over
    pymysql, ``LIST @s`` fetched whole with ``cursor.fetchall()`` (row count
    verified).  The server's RSS is sampled every 20 ms during the LISTs and
    its VmHWM read from /proc at the end.
(d) optionally MariaDB sending a table with the same columns and row count to
    pymysql -- a reference for what the MySQL wire protocol + pymysql cost.

Times are best of ``--repeat`` runs.  Targets (printed as PASS/FAIL):
stagedb LIST <= 0.5 x Databend's best (the fastest of all its Arrow and
Python-rows runs), and stagedb server peak RSS < 150 MiB (the larger of the
sampled peak and VmHWM).

Run from the repository root::

    uv run --with databend --with psutil python benchmarks/bench_list.py
    uv run --with databend --with psutil python benchmarks/bench_list.py \\
        --dirs 10 --files-per-dir 100
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _harness as h  # the script's own directory is on sys.path

Row = tuple[str, int, float]


@dataclass
class Timing:
    """Wall-clock times of repeated runs of one measurement."""

    runs: list[float] = field(default_factory=list)
    rows: int = 0

    @property
    def best(self) -> float | None:
        return min(self.runs) if self.runs else None


@dataclass
class Results:
    """Everything measured in one run (dumped with --json)."""

    dirs: int
    files_per_dir: int
    file_size: int
    expected_rows: int
    build_seconds: float = 0.0
    machine: str = ""
    stagedb_revision: str = ""
    other_load: str = ""
    databend_version: str | None = None
    databend_arrow: Timing = field(default_factory=Timing)
    databend_pyrows: Timing = field(default_factory=Timing)
    databend_peak_rss: int | None = None
    databend_error: str | None = None
    scandir: Timing = field(default_factory=Timing)
    stagedb: Timing = field(default_factory=Timing)
    stagedb_rss_before: int | None = None
    stagedb_rss_sampled_peak: int | None = None
    stagedb_vmhwm: int | None = None
    stagedb_rss_samples: int = 0
    stagedb_error: str | None = None
    stagedb_notes: list[str] = field(default_factory=list)
    mariadb_version: str | None = None
    mariadb: Timing = field(default_factory=Timing)
    mariadb_error: str | None = None


# --------------------------------------------------------------------------- #
# Tree
# --------------------------------------------------------------------------- #
def build_tree(root: Path, dirs: int, files_per_dir: int, file_size: int) -> None:
    """Create ``dirs`` x ``files_per_dir`` files of ``file_size`` bytes under ``root``."""
    payload = (b"0123456789" * (file_size // 10 + 1))[:file_size]
    root.mkdir(parents=True)
    for d in range(dirs):
        sub = root / f"dir{d:04d}"
        sub.mkdir()
        for f in range(files_per_dir):
            with open(sub / f"file{f:05d}.dat", "wb") as fh:
                fh.write(payload)


def scandir_walk(root: str) -> list[Row]:
    """Recursive ``os.scandir`` + ``stat`` walk: (relative path, size, mtime) per file."""
    out: list[Row] = []
    prefix_len = len(root.rstrip("/")) + 1
    stack = [root]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    st = entry.stat(follow_symlinks=False)
                    out.append((entry.path[prefix_len:], st.st_size, st.st_mtime))
    return out


def timed(fn: Callable[[], int], repeat: int) -> Timing:
    """Run ``fn`` (which returns a row count) ``repeat`` times, timing each run."""
    timing = Timing()
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn()
        timing.runs.append(time.perf_counter() - start)
        timing.rows = rows
    return timing


# --------------------------------------------------------------------------- #
# (a) Databend, in a worker subprocess
# --------------------------------------------------------------------------- #
def databend_worker(tree: str, repeat: int) -> None:
    """Worker side: run embedded Databend and print one JSON line of results.

    The caller sets the working directory and DATABEND_DATA_PATH, because the
    embedded engine writes ``./.databend/`` (logs, caches) relative to the cwd.
    """
    from databend import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        SessionContext,
    )

    ctx = SessionContext()
    version_rows = ctx.sql("SELECT version()").to_py_arrow()
    version = str(version_rows[0].column(0)[0]) if version_rows else "?"
    version += f" (PyPI databend {importlib.metadata.version('databend')}"
    version += f", Python {platform.python_version()})"
    ctx.sql(f"CREATE STAGE s URL = 'fs://{tree}/'").collect()

    def arrow() -> int:
        batches = ctx.sql("LIST @s").to_py_arrow()
        return sum(b.num_rows for b in batches)

    def pyrows() -> int:
        batches = ctx.sql("LIST @s").to_py_arrow()
        rows: list[tuple[Any, ...]] = []
        for b in batches:
            rows.extend(zip(*(col.to_pylist() for col in b.columns), strict=True))
        return len(rows)

    result = {
        "version": version,
        "arrow": asdict(timed(arrow, repeat)),
        "pyrows": asdict(timed(pyrows, repeat)),
        "vmhwm": h.read_vmhwm(os.getpid()),
    }
    print("DATABEND_RESULT " + json.dumps(result), flush=True)


def databend_python_command(python: str | None) -> list[str]:
    """The interpreter command for the Databend worker.

    By default the current interpreter (which has ``databend`` via ``uv run
    --with databend``).  With ``python`` set, a throwaway ``uv`` environment on
    that interpreter: the newest ``databend`` wheels are cp312-only.
    """
    if python is None:
        return [sys.executable]
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("--databend-python needs uv on PATH")
    withs = ("databend", "pyarrow", "psutil", "pymysql")
    with_args = [arg for pkg in withs for arg in ("--with", pkg)]
    return [uv, "run", "--no-project", "--python", python, *with_args, "python"]


def run_databend(
    res: Results,
    tree: Path,
    workdir: Path,
    args: argparse.Namespace,
) -> None:
    """Parent side: run :func:`databend_worker` in a subprocess and collect its results."""
    repeat: int = args.repeat
    timeout: float = args.databend_timeout
    dbdir = workdir / "databend"
    dbdir.mkdir()
    # Older builds honour DATABEND_DATA_PATH; newer ones use ./.databend in the cwd.
    env = dict(os.environ, DATABEND_DATA_PATH=str(dbdir / "data"), UV_PYTHON_DOWNLOADS="never")
    cmd = [
        *databend_python_command(args.databend_python),
        str(Path(__file__).resolve()),
        "--databend-worker",
        str(tree),
        "--repeat",
        str(repeat),
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=dbdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        h.kill_group(proc)
        proc.communicate()
        res.databend_error = f"timed out after {timeout:.0f}s"
        return
    finally:
        h.kill_group(proc)  # also any child of a `uv run` wrapper
    for line in out.splitlines():
        if line.startswith("DATABEND_RESULT "):
            data = json.loads(line.removeprefix("DATABEND_RESULT "))
            res.databend_version = data["version"]
            res.databend_arrow = Timing(**data["arrow"])
            res.databend_pyrows = Timing(**data["pyrows"])
            res.databend_peak_rss = data["vmhwm"]
            return
    res.databend_error = f"worker exited {proc.returncode}: {(err or out).strip()[-2000:]}"


# --------------------------------------------------------------------------- #
# (c) stagedb
# --------------------------------------------------------------------------- #
def run_stagedb(res: Results, tree: Path, workdir: Path, repeat: int, expected: set[str]) -> None:
    """Start stagedb, create a stage over ``tree`` and time ``LIST @s`` via pymysql."""
    with h.StagedbServer(workdir) as server:
        h.log(f"stagedb: pid {server.pid}, mysql port {server.mysql_port}")
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE STAGE s URL = 'fs://{tree}/'")
            res.stagedb_rss_before = h.current_rss(server.pid)
            last_rows: tuple[tuple[Any, ...], ...] = ()

            def list_stage() -> int:
                nonlocal last_rows
                cur.execute("LIST @s")
                last_rows = cur.fetchall()
                return len(last_rows)

            with h.RssSampler(server.pid, interval=0.02) as sampler:
                res.stagedb = timed(list_stage, repeat)
            res.stagedb_rss_sampled_peak = sampler.peak
            res.stagedb_rss_samples = sampler.samples
            res.stagedb_vmhwm = h.read_vmhwm(server.pid)

            columns = [d[0] for d in cur.description or ()]
            if columns[:5] != ["name", "size", "md5", "last_modified", "creator"]:
                res.stagedb_notes.append(f"unexpected LIST columns: {columns}")
            if res.stagedb.rows != res.expected_rows:
                res.stagedb_notes.append(
                    f"LIST returned {res.stagedb.rows} rows, expected {res.expected_rows}"
                )
            names = {str(r[0]) for r in last_rows}
            if names != expected:
                missing = sorted(expected - names)[:3]
                extra = sorted(names - expected)[:3]
                res.stagedb_notes.append(
                    f"LIST names differ from the tree: missing e.g. {missing}, extra e.g. {extra}"
                )
            sizes = {r[1] for r in last_rows}
            if sizes and sizes != {res.file_size}:
                res.stagedb_notes.append(f"unexpected sizes: {sorted(sizes)[:5]}")
            cur.execute("DROP STAGE s")


# --------------------------------------------------------------------------- #
# (d) MariaDB reference
# --------------------------------------------------------------------------- #
def run_mariadb(res: Results, listing: list[Row], workdir: Path, repeat: int) -> None:
    """Load the listing into a MariaDB table and time ``SELECT *`` fetched whole by pymysql."""
    with h.MariaDBServer(workdir) as server:
        res.mariadb_version = server.version
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE bench")
            cur.execute(
                "CREATE TABLE bench.listing (name VARCHAR(1024) NOT NULL, "
                "size BIGINT UNSIGNED NOT NULL, md5 VARCHAR(64) NULL, "
                "last_modified VARCHAR(64) NOT NULL, creator VARCHAR(64) NULL)"
            )
            rows = [
                (
                    name,
                    size,
                    None,
                    datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
                    + " +0000",
                    None,
                )
                for name, size, mtime in listing
            ]
            sql = "INSERT INTO bench.listing VALUES (%s, %s, %s, %s, %s)"
            for i in range(0, len(rows), 5000):
                cur.executemany(sql, rows[i : i + 5000])

            def select_all() -> int:
                cur.execute("SELECT name, size, md5, last_modified, creator FROM bench.listing")
                return len(cur.fetchall())

            res.mariadb = timed(select_all, repeat)


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def report(res: Results, rss_limit_mib: float) -> bool:
    """Print figures, ratios and target verdicts; return True if all targets passed."""
    db_runs = res.databend_arrow.runs + res.databend_pyrows.runs
    db = min(db_runs) if db_runs else None  # Databend's best LIST, either way of materialising
    sd = res.stagedb.best
    sc = res.scandir.best
    md = res.mariadb.best
    peak_candidates = [v for v in (res.stagedb_rss_sampled_peak, res.stagedb_vmhwm) if v]
    peak = max(peak_candidates) if peak_candidates else None

    print()
    print(
        f"LIST benchmark: {res.dirs} dirs x {res.files_per_dir} files "
        f"({res.file_size} B each) = {res.expected_rows} files; "
        f"tree built in {res.build_seconds:.1f} s; {os.cpu_count()} CPUs"
    )
    print(res.machine)
    print(res.other_load)
    print(f"stagedb revision: {res.stagedb_revision}")
    print(f"Databend: {res.databend_version or 'n/a'}   MariaDB: {res.mariadb_version or 'n/a'}")
    print()
    print(f"{'measurement':<44} {'best':>11} {'rows':>8}   all runs")
    lines: list[tuple[str, Timing]] = [
        ("(a) Databend embedded LIST -> Arrow", res.databend_arrow),
        ("(a) Databend embedded LIST -> Python rows", res.databend_pyrows),
        ("(b) os.scandir + stat walk", res.scandir),
        ("(c) stagedb LIST via pymysql fetchall", res.stagedb),
        ("(d) MariaDB SELECT same rows via pymysql", res.mariadb),
    ]
    for label, t in lines:
        runs = ", ".join(f"{r:.3f}" for r in t.runs) or "-"
        print(f"{label:<44} {h.fmt_seconds(t.best):>11} {t.rows:>8}   {runs}")
    print()
    print("memory")
    print(f"  Databend worker process VmHWM:     {h.fmt_mib(res.databend_peak_rss)}")
    print(f"  stagedb RSS before LIST:           {h.fmt_mib(res.stagedb_rss_before)}")
    print(
        f"  stagedb RSS peak (20 ms sampling): {h.fmt_mib(res.stagedb_rss_sampled_peak)}"
        f"  ({res.stagedb_rss_samples} samples)"
    )
    print(f"  stagedb VmHWM at end:              {h.fmt_mib(res.stagedb_vmhwm)}")
    print()
    print("ratios")
    print(f"  stagedb / Databend (best of all):  {h.fmt_ratio(sd, db)}")
    print(f"  stagedb / Databend (Arrow):        {h.fmt_ratio(sd, res.databend_arrow.best)}")
    print(f"  stagedb / Databend (Python rows):  {h.fmt_ratio(sd, res.databend_pyrows.best)}")
    print(f"  stagedb / scandir walk:            {h.fmt_ratio(sd, sc)}")
    print(f"  stagedb / MariaDB same rows:       {h.fmt_ratio(sd, md)}")
    print(f"  Databend (best) / scandir walk:    {h.fmt_ratio(db, sc)}")

    for label, err in (
        ("Databend", res.databend_error),
        ("stagedb", res.stagedb_error),
        ("MariaDB", res.mariadb_error),
    ):
        if err:
            print(f"\n{label} error: {err}")
    for note in res.stagedb_notes:
        print(f"stagedb check: {note}")

    time_ok = None if sd is None or db is None else sd <= 0.5 * db
    rss_ok = None if peak is None else peak < rss_limit_mib * h.MIB
    rows_ok = res.stagedb.rows == res.expected_rows if res.stagedb.runs else None
    print()
    print("targets")
    print(f"  [{h.verdict(rows_ok)}] stagedb LIST returns all {res.expected_rows} files")
    print(
        f"  [{h.verdict(time_ok)}] stagedb LIST time <= 0.5 x Databend's best: "
        f"{h.fmt_seconds(sd)} vs limit {h.fmt_seconds(None if db is None else 0.5 * db)}"
    )
    print(
        f"  [{h.verdict(rss_ok)}] stagedb server peak RSS < {rss_limit_mib:.0f} MiB: "
        f"{h.fmt_mib(peak)}"
    )
    return bool(time_ok and rss_ok and rows_ok)


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dirs", type=int, default=100, help="number of directories (default 100)")
    p.add_argument(
        "--files-per-dir",
        type=int,
        default=1000,
        help="files per directory (default 1000)",
    )
    p.add_argument("--file-size", type=int, default=10, help="bytes per file (default 10)")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per measurement; best is reported (default 3)",
    )
    h.add_workdir_arg(p)
    p.add_argument("--skip-databend", action="store_true", help="do not run embedded Databend")
    p.add_argument("--skip-stagedb", action="store_true", help="do not run stagedb")
    p.add_argument("--skip-mariadb", action="store_true", help="do not run the MariaDB reference")
    p.add_argument(
        "--databend-timeout",
        type=float,
        default=600,
        help="seconds allowed for Databend (default 600)",
    )
    p.add_argument(
        "--databend-python",
        default=None,
        metavar="PYTHON",
        help="run Databend under this interpreter in a throwaway uv env (e.g. a 3.12 "
        "python for the newest, cp312-only databend wheels); default: this one",
    )
    p.add_argument(
        "--rss-limit-mib",
        type=float,
        default=150,
        help="stagedb peak RSS target (default 150)",
    )
    h.add_wait_idle_arg(p)
    h.add_json_arg(p)
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    p.add_argument("--databend-worker", metavar="TREE", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_all(res: Results, args: argparse.Namespace, workdir: Path) -> None:
    """Build the tree and run every enabled measurement, filling in ``res``."""
    tree = workdir / "tree"
    h.log(f"building {res.expected_rows} files under {tree} ...")
    start = time.perf_counter()
    build_tree(tree, args.dirs, args.files_per_dir, args.file_size)
    res.build_seconds = time.perf_counter() - start

    h.log("(b) scandir walk ...")
    listing: list[Row] = []

    def walk() -> int:
        nonlocal listing
        listing = scandir_walk(str(tree))
        return len(listing)

    res.scandir = timed(walk, args.repeat)
    expected_names = {name for name, _, _ in listing}

    if not args.skip_databend:
        h.log("(a) embedded Databend ...")
        run_databend(res, tree, workdir, args)

    # Failures below are reported and the other figures still printed.
    if not args.skip_stagedb:
        h.log("(c) stagedb ...")
        try:
            run_stagedb(res, tree, workdir, args.repeat, expected_names)
        except h.STEP_ERRORS as exc:
            res.stagedb_error = f"{type(exc).__name__}: {exc}"

    if not args.skip_mariadb:
        if h.find_mariadbd() is None:
            res.mariadb_error = "MariaDB not installed; skipped"
            return
        h.log("(d) MariaDB reference ...")
        try:
            run_mariadb(res, listing, workdir, args.repeat)
        except h.STEP_ERRORS as exc:
            res.mariadb_error = f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    h.exit_cleanly_on_sigterm()
    if args.databend_worker is not None:
        databend_worker(args.databend_worker, args.repeat)
        return 0

    res = Results(
        dirs=args.dirs,
        files_per_dir=args.files_per_dir,
        file_size=args.file_size,
        expected_rows=args.dirs * args.files_per_dir,
    )
    h.run_in_workdir(res, args, "stagedb-bench-list-", run_all)

    ok = report(res, args.rss_limit_mib)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(res), indent=2) + "\n")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
