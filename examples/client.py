"""The Python client: stages, a folder upload, listing, presigned URLs and a download.

Start a server first (``uv run stagedb serve``), then run::

    uv run python examples/client.py [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from stagedb.client import StageClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    client = StageClient(args.url, user=args.user, password=args.password)
    client.create_stage("client_demo", comment="made by examples/client.py", mode="orReplace")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "exports"
        for name in ("2024/01/orders.csv", "2024/02/orders.csv", "readme.txt"):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_text(f"contents of {name}\n")

        # a folder, recursively, relative paths kept, under path "data/"
        result = client.upload(source, "client_demo", path="data/")
        print("upload:", result["stageName"], result["path"], sorted(result["files"]))

        for file in client.list_files("client_demo", path="data/2024/"):
            print("list:", file["name"], file["size"], file["last_modified"])

        url = client.presign("client_demo", "data/readme.txt", expire=300)
        print("presigned download URL for data/readme.txt:", url.split("?")[0])

        target = Path(folder) / "copy"
        client.download("client_demo", "data/", target)
        print("download:", sorted(str(p.relative_to(target)) for p in target.rglob("*.*")))

    print("stages:", [stage["name"] for stage in client.list_stages(like="client%")])
    client.drop_stage("client_demo")
    print("dropped; stages now:", [stage["name"] for stage in client.list_stages(like="client%")])


if __name__ == "__main__":
    main()
