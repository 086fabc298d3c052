"""Statement throughput over the MySQL wire protocol: stagedb vs MariaDB.

``--threads`` pymysql client threads (each with its own connection) run one
statement in a closed loop for ``--warmup`` seconds (not counted) and then
``--duration`` seconds (counted).  Measured, in the same run:

(a) ``SELECT 1`` against a MariaDB server the script starts itself (throwaway
    datadir, private port and socket on 127.0.0.1, shut down at the end);
(b) ``SELECT 1`` against stagedb;
(c) ``SHOW STAGES`` against stagedb with a 10-stage catalog (internal stages).

The servers run one at a time so they do not compete for the CPUs.  Printed:
statements/s, per-statement latency percentiles, the server's CPU use and the
ratio stagedb / MariaDB.  Targets (PASS/FAIL): SHOW STAGES >= 3000
statements/s; stagedb SELECT 1 >= 0.25 x MariaDB's.

Note that the clients are Python threads sharing one GIL on the same 2-core
machine as the server, so the client side caps what any server can show.

Run from the repository root::

    uv run --with databend --with psutil python benchmarks/bench_throughput.py
    uv run --with databend --with psutil python benchmarks/bench_throughput.py \\
        --duration 2 --warmup 0.5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import _harness as h  # the script's own directory is on sys.path
import psutil
import pymysql


@dataclass
class Throughput:
    """Result of one closed-loop load run."""

    statement: str
    threads: int
    statements: int = 0
    seconds: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    # CPU-seconds per wall-second during the counted window, used by the server
    # process, by this (client) process and by everything else on the machine.
    server_cpu: float | None = None
    client_cpu: float | None = None
    other_cpu: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float | None:
        return self.statements / self.seconds if self.seconds > 0 and self.statements else None


@dataclass
class Results:
    """Everything measured in one run (dumped with --json)."""

    threads: int
    warmup: float
    duration: float
    machine: str = ""
    stagedb_revision: str = ""
    other_load: str = ""
    mariadb_version: str | None = None
    mariadb_select1: Throughput | None = None
    stagedb_select1: Throughput | None = None
    stagedb_show_stages: Throughput | None = None
    show_stages_rows: int | None = None
    errors: list[str] = field(default_factory=list)


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def run_load(
    port: int,
    statement: str,
    threads: int,
    warmup: float,
    duration: float,
    server_pid: int | None = None,
) -> Throughput:
    """Run ``statement`` in a closed loop on ``threads`` connections and count completions."""
    result = Throughput(statement=statement, threads=threads)
    conns = [h.connect(port, timeout=30) for _ in range(threads)]
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)
    window: dict[str, float] = {}

    stop = threading.Event()  # set if the main thread bails out early

    def worker(i: int) -> None:
        cur = conns[i].cursor()
        lat = latencies[i]
        n = 0
        try:
            barrier.wait()
            warm_end = window["warm_end"]
            end = window["end"]
            while not stop.is_set():
                t0 = time.perf_counter()
                cur.execute(statement)
                cur.fetchall()
                t1 = time.perf_counter()
                if t1 >= end:
                    break
                if t0 >= warm_end:
                    n += 1
                    lat.append(t1 - t0)
        except threading.BrokenBarrierError:
            pass  # the main thread gave up before the start
        except (pymysql.Error, OSError) as exc:  # record and stop this thread
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")
        finally:
            counts[i] = n
            cur.close()

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in workers:
        t.start()
    server = psutil.Process(server_pid) if server_pid else None
    me = psutil.Process()
    try:
        now = time.perf_counter()
        window["warm_end"] = now + warmup
        window["end"] = now + warmup + duration
        barrier.wait(timeout=30)
        # Sample CPU over the counted window only.
        time.sleep(max(0.0, window["warm_end"] - time.perf_counter()))
        srv0 = _cpu_seconds(server) if server else 0.0
        me0 = _cpu_seconds(me)
        with h.OtherLoad() as other:
            time.sleep(max(0.0, window["end"] - time.perf_counter()))
        wall = other.wall
        if server:
            result.server_cpu = (_cpu_seconds(server) - srv0) / wall
        result.client_cpu = (_cpu_seconds(me) - me0) / wall
        result.other_cpu = other.cores
        for t in workers:
            t.join(timeout=60)
        if any(t.is_alive() for t in workers):
            errors.append("a client thread did not finish within 60 s of the deadline")
    finally:
        # Let the threads finish their statement before closing their connections.
        stop.set()
        barrier.abort()
        for t in workers:
            t.join(timeout=10)
        for c in conns:
            with contextlib.suppress(pymysql.Error, OSError):
                c.close()
    result.statements = sum(counts)
    result.seconds = duration
    all_lat = sorted(x for lat in latencies for x in lat)
    if all_lat:
        result.p50_ms = statistics.median(all_lat) * 1000
        result.p99_ms = all_lat[min(len(all_lat) - 1, int(len(all_lat) * 0.99))] * 1000
    result.errors = errors
    return result


def run_mariadb(res: Results, workdir: Path, args: argparse.Namespace) -> None:
    h.log("(a) MariaDB SELECT 1 ...")
    with h.MariaDBServer(workdir) as server:
        res.mariadb_version = server.version
        res.mariadb_select1 = run_load(
            server.port,
            "SELECT 1",
            args.threads,
            args.warmup,
            args.duration,
            server.pid,
        )


def run_stagedb(res: Results, workdir: Path, args: argparse.Namespace) -> None:
    with h.StagedbServer(workdir) as server:
        h.log(f"stagedb: pid {server.pid}, mysql port {server.mysql_port}")
        h.log("(b) stagedb SELECT 1 ...")
        res.stagedb_select1 = run_load(
            server.mysql_port,
            "SELECT 1",
            args.threads,
            args.warmup,
            args.duration,
            server.pid,
        )
        with server.connect() as conn, conn.cursor() as cur:
            for i in range(args.stages):
                cur.execute(f"CREATE STAGE bench_s{i}")
            cur.execute("SHOW STAGES")
            res.show_stages_rows = len(cur.fetchall())
        if res.show_stages_rows != args.stages:
            res.errors.append(
                f"SHOW STAGES returned {res.show_stages_rows} rows, expected {args.stages}"
            )
        h.log(f"(c) stagedb SHOW STAGES ({res.show_stages_rows} stages) ...")
        res.stagedb_show_stages = run_load(
            server.mysql_port,
            "SHOW STAGES",
            args.threads,
            args.warmup,
            args.duration,
            server.pid,
        )


def _fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _fmt_cpu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def report(res: Results, show_target: float, ratio_target: float) -> bool:
    """Print figures, ratios and target verdicts; return True if all targets passed."""
    print()
    print(
        f"Throughput benchmark: {res.threads} client threads, {res.warmup:g} s warm-up + "
        f"{res.duration:g} s counted per test; {os.cpu_count()} CPUs"
    )
    print(res.machine)
    print(res.other_load)
    print(f"stagedb revision: {res.stagedb_revision}")
    print(f"MariaDB: {res.mariadb_version or 'n/a'}")
    print()
    print(
        f"{'test':<36} {'stmts/s':>10} {'count':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv CPU':>8} {'cli CPU':>8} {'oth CPU':>8}"
    )
    rows = [
        ("(a) MariaDB  SELECT 1", res.mariadb_select1),
        ("(b) stagedb  SELECT 1", res.stagedb_select1),
        (
            f"(c) stagedb  SHOW STAGES ({res.show_stages_rows or 0} stages)",
            res.stagedb_show_stages,
        ),
    ]
    for label, t in rows:
        if t is None:
            print(f"{label:<36} {'n/a':>10}")
            continue
        print(
            f"{label:<36} {_fmt_rate(t.per_second):>10} {t.statements:>9} "
            f"{_fmt_ms(t.p50_ms):>8} {_fmt_ms(t.p99_ms):>8} {_fmt_cpu(t.server_cpu):>8} "
            f"{_fmt_cpu(t.client_cpu):>8} {_fmt_cpu(t.other_cpu):>8}"
        )
    print(
        "(srv / cli / oth CPU = CPU-seconds per wall-second used by the server process /\n"
        " this client process / everything else on the machine, during the counted window;\n"
        " 2.0 = both cores)"
    )

    maria = res.mariadb_select1.per_second if res.mariadb_select1 else None
    sel = res.stagedb_select1.per_second if res.stagedb_select1 else None
    show = res.stagedb_show_stages.per_second if res.stagedb_show_stages else None
    print()
    print("ratios")
    print(f"  stagedb SELECT 1 / MariaDB SELECT 1:    {h.fmt_ratio(sel, maria)}")
    print(f"  stagedb SHOW STAGES / MariaDB SELECT 1: {h.fmt_ratio(show, maria)}")
    print(f"  stagedb SHOW STAGES / stagedb SELECT 1: {h.fmt_ratio(show, sel)}")

    errors = list(res.errors)
    for label, t in rows:
        if t is not None:
            errors.extend(f"{label}: {e}" for e in t.errors)
    for e in errors:
        print(f"error: {e}")

    show_ok = None if show is None else show >= show_target
    ratio_ok = None if sel is None or maria is None else sel >= ratio_target * maria
    print()
    print("targets")
    print(
        f"  [{h.verdict(show_ok)}] SHOW STAGES >= {show_target:,.0f} statements/s: "
        f"{_fmt_rate(show)}"
    )
    limit = None if maria is None else ratio_target * maria
    print(
        f"  [{h.verdict(ratio_ok)}] stagedb SELECT 1 >= {ratio_target:g} x MariaDB: "
        f"{_fmt_rate(sel)} vs limit {_fmt_rate(limit)}"
    )
    return bool(show_ok and ratio_ok and not errors)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--threads",
        type=int,
        default=4,
        help="client threads / connections (default 4)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=5.0,
        help="counted seconds per test (default 5)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="uncounted warm-up seconds per test (default 1)",
    )
    p.add_argument(
        "--stages",
        type=int,
        default=10,
        help="stages in the catalog for SHOW STAGES (default 10)",
    )
    h.add_workdir_arg(p)
    p.add_argument("--skip-mariadb", action="store_true", help="do not run MariaDB")
    p.add_argument("--skip-stagedb", action="store_true", help="do not run stagedb")
    p.add_argument(
        "--show-target",
        type=float,
        default=3000,
        help="SHOW STAGES target, statements/s",
    )
    p.add_argument(
        "--ratio-target",
        type=float,
        default=0.25,
        help="SELECT 1 target as a fraction of MariaDB",
    )
    h.add_wait_idle_arg(p)
    h.add_json_arg(p)
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    return p.parse_args(argv)


def run_all(res: Results, args: argparse.Namespace, workdir: Path) -> None:
    """Run MariaDB's and stagedb's measurements (unless skipped), filling in ``res``."""
    if not args.skip_mariadb:
        try:
            run_mariadb(res, workdir, args)
        except h.STEP_ERRORS as exc:
            res.errors.append(f"MariaDB: {type(exc).__name__}: {exc}")
    if not args.skip_stagedb:
        try:
            run_stagedb(res, workdir, args)
        except h.STEP_ERRORS as exc:
            res.errors.append(f"stagedb: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    h.exit_cleanly_on_sigterm()
    res = Results(threads=args.threads, warmup=args.warmup, duration=args.duration)
    h.run_in_workdir(res, args, "stagedb-bench-tput-", run_all)
    ok = report(res, args.show_target, args.ratio_target)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(res), indent=2) + "\n")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
