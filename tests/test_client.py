"""stagedb.client.StageClient against a live server (and an S3 stage on moto)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from conftest import ServerProcess, start_server
from resttools import unique
from s3fixtures import ACCESS_KEY, AWS_ENV, SECRET_KEY, MotoS3

from stagedb.client import StageClient, StageClientError, normalize_stage_path, plan_upload


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(str(tmp_path_factory.mktemp("data")), "--rest-page-size", "5")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(live: ServerProcess) -> StageClient:
    return StageClient(live.http_url, user="root", password="")


def make_tree(root: Path, files: int = 12) -> dict[str, bytes]:
    """A folder of files in sub-folders; {relative path: content}."""
    made = {}
    for index in range(files):
        relative = f"sub{index % 3}/deeper/f{index}.bin" if index % 2 else f"f{index}.txt"
        content = os.urandom(100 + index)
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
        made[relative] = content
    (root / "données é.csv").write_bytes(b"a,b\n")
    made["données é.csv"] = b"a,b\n"
    return made


class Recorder:
    def __init__(self) -> None:
        self.totals: tuple[int, int] | None = None
        self.done: list[tuple[str, int]] = []

    def start(self, files: int, total_bytes: int) -> None:
        self.totals = (files, total_bytes)

    def advance(self, name: str, size: int) -> None:
        self.done.append((name, size))


def test_paths_follow_zilliz_rules(tmp_path: Path) -> None:
    assert [normalize_stage_path(p) for p in ("", "/", "data", "data/", "/a/b")] == [
        "",
        "",
        "data/",
        "data/",
        "a/b/",
    ]
    (tmp_path / "one.parquet").write_bytes(b"x")
    [single] = plan_upload(tmp_path / "one.parquet", "data")
    assert single.stage_path == "data/one.parquet"
    [rooted] = plan_upload(tmp_path / "one.parquet", "/")
    assert rooted.stage_path == "one.parquet"
    with pytest.raises(FileNotFoundError):
        plan_upload(tmp_path / "missing", "data/")


def test_stages_lifecycle(client: StageClient, tmp_path: Path) -> None:
    name = unique()
    client.create_stage(name, comment="from the client")
    assert client.get_stage(name)["comment"] == "from the client"
    with pytest.raises(StageClientError) as taken:
        client.create_stage(name)
    assert taken.value.status == 409 and taken.value.code == "2502"
    client.create_stage(name, mode="ifNotExists")
    client.create_stage(name, comment="replaced", mode="orReplace")
    assert client.get_stage(name)["comment"] == "replaced"
    external = unique()
    client.create_stage(external, url=f"fs://{tmp_path}/")
    assert client.get_stage(external)["url"] == f"fs://{tmp_path}/"
    # more stages than one page (the server's cap is 5): the client follows Link headers
    prefix = unique("many")
    for index in range(7):
        client.create_stage(f"{prefix}_{index}")
    assert [s["name"] for s in client.list_stages(like=f"{prefix}%")] == [
        f"{prefix}_{i}" for i in range(7)
    ]
    for index in range(7):
        client.drop_stage(f"{prefix}_{index}")
    client.drop_stage(name)
    client.drop_stage(name, if_exists=True)
    with pytest.raises(StageClientError) as missing:
        client.drop_stage(name)
    assert missing.value.status == 404 and "does not exist" in missing.value.message
    assert "password" not in repr(client)


def test_upload_folder_list_and_download(client: StageClient, tmp_path: Path) -> None:
    stage = unique()
    client.create_stage(stage)
    source = tmp_path / "src"
    made = make_tree(source)
    progress = Recorder()
    result = client.upload(source, stage, path="data", progress=progress)
    assert result["stageName"] == stage and result["path"] == "data/"
    assert sorted(result["files"]) == sorted(f"data/{p}" for p in made)
    assert progress.totals == (len(made), sum(len(c) for c in made.values()))
    assert sorted(progress.done) == sorted((f"data/{p}", len(c)) for p, c in made.items())
    listed = client.list_files(stage, path="data/")  # more files than a page: all pages
    assert sorted(f["name"] for f in listed) == sorted(f"data/{p}" for p in made)
    assert {f["name"]: f["size"] for f in listed} == {f"data/{p}": len(c) for p, c in made.items()}
    assert [f["name"] for f in client.list_files(stage, pattern=".*[.]csv")] == [
        "data/données é.csv"
    ]
    target = tmp_path / "out"
    downloaded = client.download(stage, "data/", target)
    assert len(downloaded["files"]) == len(made)
    for relative, content in made.items():
        assert (target / relative).read_bytes() == content
    assert not [p for p in target.rglob("*.part")]
    # one file by its exact path, to a file name
    single = tmp_path / "single.txt"
    client.download(stage, "data/f0.txt", single)
    assert single.read_bytes() == made["f0.txt"]
    # a single file upload lands at path + name; the root path is the stage root
    client.upload(source / "f0.txt", stage, path="/")
    assert [f["name"] for f in client.list_files(stage, path="f0")] == ["f0.txt"]


def test_presign(client: StageClient, live: ServerProcess) -> None:
    import requests

    stage = unique()
    client.create_stage(stage)
    put = client.presign(stage, "raw/x.csv", mode="upload", expire=60)
    assert requests.put(put, data=b"1,2\n").status_code == 200
    get = client.presign(stage, "raw/x.csv")
    assert requests.get(get).content == b"1,2\n"
    with pytest.raises(StageClientError) as bad:
        client.presign(stage, "raw/x.csv", expire=10**9)
    assert bad.value.status == 400


def test_errors_and_tokens(live: ServerProcess, tmp_path: Path) -> None:
    stage = unique()
    client = StageClient(live.http_url)
    assert client.upload(tmp_path, stage)["files"] == []  # an empty folder: nothing to send
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(StageClientError) as unknown:
        client.upload(tmp_path, stage)
    assert unknown.value.status == 404 and stage in unknown.value.message
    token = live.query("CREATE TOKEN " + unique("t"))[0][1]
    assert isinstance(token, str)
    with_token = StageClient(live.http_url, token=token)
    with_token.create_stage(stage)
    assert with_token.upload(tmp_path / "a.txt", stage)["files"] == ["data/a.txt"]
    assert token not in repr(with_token)
    wrong = StageClient(live.http_url, token="sdbpat.x.y.z")
    with pytest.raises(StageClientError) as refused:
        wrong.list_stages()
    assert refused.value.status == 401


def test_retries_on_429(tmp_path: Path) -> None:
    proc = start_server(str(tmp_path / "data"), "--rest-rate-limit", "2")
    try:
        client = StageClient(proc.http_url, retries=8)
        for index in range(6):  # 3x the rate: 429s happen and are retried
            client.create_stage(f"s{index}")
        assert len(client.list_stages()) == 6
        impatient = StageClient(proc.http_url, retries=1)
        with pytest.raises(StageClientError) as limited:
            for _ in range(10):
                impatient.list_stages()
        assert limited.value.status == 429
    finally:
        proc.stop()


def test_calls_from_inside_an_event_loop(client: StageClient) -> None:
    async def inside() -> list[dict[str, object]]:
        return client.list_stages(like="no_such_stage_%")

    assert asyncio.run(inside()) == []


def test_upload_to_an_s3_stage(tmp_path: Path) -> None:
    moto = MotoS3()
    try:
        moto.reset()  # moto's state is per process: drop other tests' buckets
        s3 = moto.client()
        s3.create_bucket(Bucket="lake")
        proc = start_server(str(tmp_path / "data"), env=AWS_ENV)
        try:
            client = StageClient(proc.http_url)
            client.create_stage(
                "ext",
                url="s3://lake/landing/",
                endpoint=moto.endpoint,
                credentials={"aws_key_id": ACCESS_KEY, "aws_secret_key": SECRET_KEY},
            )
            source = tmp_path / "src"
            made = make_tree(source, files=6)
            client.upload(source, "ext", path="batch1/")
            listed = s3.list_objects_v2(Bucket="lake", Prefix="landing/batch1/")["Contents"]
            keys = sorted(o["Key"] for o in listed)
            assert keys == sorted(f"landing/batch1/{p}" for p in made)
            out = tmp_path / "out"
            client.download("ext", "batch1/", out)  # S3's own presigned URLs
            assert all((out / p).read_bytes() == c for p, c in made.items())
        finally:
            proc.stop()
    finally:
        moto.stop()


def test_large_file_streams_alone(client: StageClient, tmp_path: Path) -> None:
    stage = unique()
    client.create_stage(stage)
    big = tmp_path / "big.bin"
    content = os.urandom(6 * 1024 * 1024)  # over the batch size: sent alone, streamed
    big.write_bytes(content)
    (tmp_path / "small.txt").write_text("s")
    result = client.upload(tmp_path, stage, path="")
    assert sorted(result["files"]) == ["big.bin", "small.txt"] and result["path"] == ""
    sizes = {f["name"]: f["size"] for f in client.list_files(stage)}
    assert sizes == {"big.bin": len(content), "small.txt": 1}
    client.download(stage, "big.bin", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == content


class FlakyProxy:
    """A TCP proxy to the server that hangs up on its first ``drops`` connections."""

    def __init__(self, port: int, drops: int) -> None:
        self.target = port
        self.drops = drops
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                incoming, _ = self.listener.accept()
            except OSError:
                return
            if self.drops > 0:
                self.drops -= 1
                incoming.recv(65536)  # read the request, then hang up without answering
                incoming.close()
                continue
            outgoing = socket.create_connection(("127.0.0.1", self.target))
            for source, sink in ((incoming, outgoing), (outgoing, incoming)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()


def test_retries_when_the_connection_drops(live: ServerProcess, tmp_path: Path) -> None:
    stage = unique()
    StageClient(live.http_url).create_stage(stage)
    (tmp_path / "a.txt").write_text("a")
    proxy = FlakyProxy(live.http_port, drops=2)
    try:
        client = StageClient(f"http://127.0.0.1:{proxy.port}", retries=4)
        assert client.upload(tmp_path, stage)["files"] == ["data/a.txt"]
        assert proxy.drops == 0
        assert [f["name"] for f in client.list_files(stage)] == ["data/a.txt"]
        proxy.drops = 5
        with pytest.raises(aiohttp.ClientConnectionError):
            StageClient(f"http://127.0.0.1:{proxy.port}", retries=2).list_stages()
    finally:
        proxy.close()
