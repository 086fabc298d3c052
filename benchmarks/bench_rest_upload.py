"""`stagedb upload` of a folder of small files vs boto3's transfer manager to moto, same run.

Makes a folder of ``--files`` files of ``--size`` bytes (default 2,000 x 16 KiB)
and uploads it, ``--repeat`` times each, alternating:

* **stagedb**: ``stagedb upload DIR @bench/runN/ --no-progress`` (a subprocess:
  interpreter start-up included) against a ``stagedb serve`` with a local data
  directory;
* **boto3**: a subprocess that uploads the same folder with s3transfer's
  ``TransferManager`` (what ``aws s3 cp --recursive`` uses: 10 concurrent
  requests, the CLI's default) to a moto S3 server on 127.0.0.1.

Both are timed from process start to exit; the best round of each counts.
Prints files/s of each and the ratio stagedb / boto3 (target >= 0.5).

    uv run --with psutil python benchmarks/bench_rest_upload.py
    uv run --with psutil python benchmarks/bench_rest_upload.py --files 200 --repeat 1  # smoke
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import _harness as h
import _s3

BOTO3_UPLOADER = r"""
import os, sys
import boto3
from botocore.config import Config
from s3transfer.manager import TransferConfig, TransferManager

folder, endpoint, bucket, prefix, concurrency = sys.argv[1:6]
client = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="x", aws_secret_access_key="y",
    config=Config(max_pool_connections=int(concurrency) * 2),
)
config = TransferConfig(max_request_concurrency=int(concurrency))
count = 0
with TransferManager(client, config) as manager:
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            key = prefix + os.path.relpath(path, folder)
            manager.upload(path, bucket, key)
            count += 1
print(count)
"""


def make_folder(folder: Path, files: int, size: int) -> None:
    """``files`` random files of ``size`` bytes, 100 per sub-folder."""
    for index in range(files):
        path = folder / f"part-{index // 100:03d}" / f"file-{index:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds ``command`` ran; raise with its output if it failed."""
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})}
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=16 * 1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8, help="stagedb upload --parallel")
    parser.add_argument(
        "--batch-files",
        type=int,
        default=32,
        help="stagedb upload --batch-files (1: a request per file)",
    )
    parser.add_argument("--boto3-concurrency", type=int, default=10)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--wait-idle", type=float, default=30.0)
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args()
    h.exit_cleanly_on_sigterm()
    print(h.machine_busy(args.wait_idle), flush=True)
    workdir = h.make_workdir("stagedb-bench-rest-", args.workdir)
    try:
        folder = workdir / "upload"
        make_folder(folder, args.files, args.size)
        h.log(f"{args.files} files of {args.size} bytes in {folder}")
        with h.StagedbServer(workdir) as server, _s3.MotoServer(workdir) as moto:
            client = _s3.s3_client(moto.endpoint)
            client.create_bucket(Bucket="bench")
            h.connect(server.mysql_port).cursor().execute("CREATE STAGE bench")
            stagedb_cmd = [*h.stagedb_command(), "upload", str(folder)]
            flags = ["--url", server.http_url, "--no-progress", "--parallel", str(args.parallel),
                     "--batch-files", str(args.batch_files)]  # fmt: skip
            stagedb_times, boto3_times = [], []
            with h.OtherLoad() as load:
                for round_ in range(args.repeat):
                    stagedb_times.append(timed([*stagedb_cmd, f"@bench/run{round_}/", *flags]))
                    boto3_times.append(
                        timed(
                            [sys.executable, "-c", BOTO3_UPLOADER, str(folder), moto.endpoint,
                             "bench", f"run{round_}/", str(args.boto3_concurrency)]
                        )
                    )  # fmt: skip
                    h.log(
                        f"round {round_ + 1}: stagedb {stagedb_times[-1]:.2f} s, "
                        f"boto3 {boto3_times[-1]:.2f} s"
                    )
            stored = h.connect(server.mysql_port).cursor()
            stored.execute("LIST @bench/run0/")
            listed = len(stored.fetchall())
        stagedb_rate = args.files / min(stagedb_times)
        boto3_rate = args.files / min(boto3_times)
        ratio = stagedb_rate / boto3_rate
        ok = ratio >= 0.5 and listed == args.files
        print()
        print(f"upload of {args.files} x {args.size} B files (best of {args.repeat}, "
              "process start to exit)")  # fmt: skip
        print(f"  stagedb upload (--parallel {args.parallel} --batch-files {args.batch_files}): "
              f"{stagedb_rate:8.0f} files/s  "
              f"({min(stagedb_times):.2f} s; LIST shows {listed} files)")  # fmt: skip
        print(f"  boto3 TransferManager to moto ({args.boto3_concurrency} concurrent): "
              f"{boto3_rate:8.0f} files/s  ({min(boto3_times):.2f} s)")  # fmt: skip
        print(f"  ratio stagedb / boto3: {ratio:.2f}x  (target >= 0.5x): {h.verdict(ok)}")
        print(f"  {load.summary()}")
        return 1 if args.strict and not ok else 0
    finally:
        h.remove_tree(workdir)


if __name__ == "__main__":
    sys.exit(main())
