"""Benchmark a SELECT over a directory table against ``LIST`` of the same stage.

Builds a tree of ``--dirs`` directories (``d0``, ``d1``, ... ``d99``) x
``--files-per-dir`` small files, points an external stage at it and, in the
same run against one ``stagedb serve``, times (best of ``--repeat``):

(a) ``LIST @s`` fetched whole with pymysql (the peer: the issue's yardstick);
(a') ``LIST @s/d1``: the files the target query counts, for reference;
(b) the target query ``SELECT COUNT(*), SUM(size) FROM stagedb.s WHERE name LIKE 'd1%'``
    (its ``d1`` prefix is pushed down to the listing; the LIKE still filters);
(c) the same aggregate over the whole stage (no prefix to push down: a full
    listing streamed through DuckDB), for reference;
(d) ``SELECT * FROM stagedb.s`` fetched whole (every row through DuckDB and back).

Results are checked (row counts, the sum of sizes).  Target (PASS/FAIL):
(b) <= 1.5 x (a).

Run from the repository root::

    uv run --with psutil python benchmarks/bench_directory.py
    uv run --with psutil python benchmarks/bench_directory.py --dirs 10 --files-per-dir 100
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _harness as h  # the script's own directory is on sys.path

TARGET_RATIO = 1.5
QUERY = "SELECT COUNT(*), SUM(size) FROM stagedb.s WHERE name LIKE 'd1%'"


def build_tree(root: Path, dirs: int, files_per_dir: int, file_size: int) -> None:
    """``dirs`` x ``files_per_dir`` files of ``file_size`` bytes under ``root/d<n>/``."""
    payload = b"x" * file_size
    for d in range(dirs):
        sub = root / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(files_per_dir):
            (sub / f"file{f:05d}.dat").write_bytes(payload)


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """The fastest of ``repeat`` runs of ``run`` and its (last) answer."""
    best, answer = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = run()
        best = min(best, time.perf_counter() - start)
    return best, answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--files-per-dir", type=int, default=1000)
    parser.add_argument("--file-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wait-idle", type=float, default=60.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args()
    h.exit_cleanly_on_sigterm()

    matching = [d for d in range(args.dirs) if str(d).startswith("1")]
    expected_total = args.dirs * args.files_per_dir
    expected_match = len(matching) * args.files_per_dir
    with tempfile.TemporaryDirectory(prefix="bench-directory-", dir=args.workdir) as temp:
        work = Path(temp)
        tree = work / "tree"
        h.log(f"building {expected_total:,} files ...")
        build_tree(tree, args.dirs, args.files_per_dir, args.file_size)
        print(h.machine_busy(args.wait_idle))
        with h.StagedbServer(work) as server, h.OtherLoad() as load:
            conn = server.connect()
            with conn.cursor() as cur:
                cur.execute(f"CREATE STAGE s URL = 'fs://{tree}/'")

            def query(sql: str) -> Callable[[], list[tuple[object, ...]]]:
                def run() -> list[tuple[object, ...]]:
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        return list(cur.fetchall())

                return run

            list_time, listed = best_of(args.repeat, query("LIST @s"))
            prefix_time, prefixed = best_of(args.repeat, query("LIST @s/d1"))
            target_time, target = best_of(args.repeat, query(QUERY))
            full_time, full = best_of(
                args.repeat, query("SELECT COUNT(*), SUM(size) FROM stagedb.s")
            )
            star_time, star = best_of(args.repeat, query("SELECT * FROM stagedb.s"))
            conn.close()

        assert isinstance(listed, list) and len(listed) == expected_total, "LIST row count"
        assert isinstance(prefixed, list) and len(prefixed) == expected_match, "LIST @s/d1"
        assert target == [(expected_match, expected_match * args.file_size)], target
        assert full == [(expected_total, expected_total * args.file_size)], full
        assert isinstance(star, list) and star == listed, "SELECT * differs from LIST"

    ratio = target_time / list_time
    print(f"stagedb revision {h.stagedb_revision()}, {expected_total:,} files "
          f"({expected_match:,} under d1*), best of {args.repeat}")  # fmt: skip
    print(f"{'LIST @s (all rows to the client)':<58} {h.fmt_seconds(list_time)}")
    print(f"{'LIST @s/d1 (the files the query counts)':<58} {h.fmt_seconds(prefix_time)}")
    print(
        f"{QUERY:<58} {h.fmt_seconds(target_time)}  {h.fmt_ratio(target_time, list_time)} of LIST"
    )
    print(f"{'SELECT COUNT(*), SUM(size) FROM stagedb.s':<58} {h.fmt_seconds(full_time)}  "
          f"{h.fmt_ratio(full_time, list_time)} of LIST")  # fmt: skip
    print(f"{'SELECT * FROM stagedb.s (all rows to the client)':<58} "
          f"{h.fmt_seconds(star_time)}  {h.fmt_ratio(star_time, list_time)} of LIST")  # fmt: skip
    ok = ratio <= TARGET_RATIO
    print(f"{h.verdict(ok)} target: the LIKE 'd1%' aggregate <= {TARGET_RATIO} x LIST "
          f"({ratio:.2f}x)")  # fmt: skip
    print(load.summary())
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
