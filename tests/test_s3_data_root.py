"""A data root on S3 (``--data s3://bucket/prefix``), against moto in server mode.

The catalog and the internal and user stages live in the bucket; several
stagedb processes share it through S3's conditional writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pymysql
import pytest
from conftest import ServerProcess, start_server
from s3fixtures import AWS_ENV, MotoS3, free_port, keys
from test_concurrency import race
from testtools import exclusive_create_winners

from stagedb.catalog import commit
from stagedb.config import Config
from stagedb.errors import BadArguments
from stagedb.storage import s3

BUCKET = "stagedb-bucket"
DATA = f"s3://{BUCKET}/prefix"
SECRET = "Sup3r-Secret-Value-42"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """One moto server for the module."""
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(moto: MotoS3) -> Any:
    """A boto3 client on a freshly reset moto holding an empty BUCKET."""
    moto.reset()
    client = moto.client()
    client.create_bucket(Bucket=BUCKET)
    return client


def stage_prefix(bucket: Any, stage: str) -> str:
    """The key prefix of internal stage ``stage``'s files (its own directory, from its record)."""
    raw = bucket.get_object(Bucket=BUCKET, Key=f"prefix/catalog/stages/{stage}.json")["Body"].read()
    return f"prefix/stage/internal/{json.loads(raw).get('files_dir') or stage}"


def start(moto: MotoS3, *extra: str, secret: str = SECRET) -> ServerProcess:
    """A stagedb server whose data root is DATA on moto."""
    return start_server(DATA, *moto.storage_flags(secret), *extra, env=AWS_ENV)


@pytest.fixture
def server(moto: MotoS3, bucket: Any) -> Iterator[ServerProcess]:
    """A stagedb server on the S3 data root, stopped after the test."""
    proc = start(moto)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def pair(moto: MotoS3, bucket: Any) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two stagedb processes on the same bucket and prefix."""
    first = start(moto)
    try:
        second = start(moto)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def serve(moto: MotoS3, data: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``stagedb serve`` expecting it to fail at start."""
    return subprocess.run(
        [sys.executable, "-m", "stagedb", "serve", "--mysql-port", "0", "--http-port", "0",
         "--data", data, *extra],
        capture_output=True, text=True, timeout=60, env={**os.environ, **AWS_ENV},
    )  # fmt: skip


def upload(server: ServerProcess, stage: str, file: Path) -> dict[str, Any]:
    """Databend's documented curl upload command against the server's HTTP port."""
    result = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "-H", f"stage_name:{stage}", "-F", f"upload=@{file}",
         "-XPUT", f"{server.http_url}/v1/upload_to_stage"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def catalog_keys(client: Any) -> list[str]:
    return keys(client, BUCKET, "prefix/catalog/stages/")


# -- the catalog on S3 -------------------------------------------------------------------


def test_stage_ddl_keeps_the_catalog_in_the_bucket(
    server: ServerProcess, bucket: Any, tmp_path: Path
) -> None:
    server.query("CREATE STAGE landing COMMENT = 'in the bucket'")
    server.query(f"CREATE STAGE outside URL = 'fs://{tmp_path}/'")
    assert catalog_keys(bucket) == [
        "prefix/catalog/stages/landing.json",
        "prefix/catalog/stages/outside.json",
    ]
    record = json.loads(
        bucket.get_object(Bucket=BUCKET, Key="prefix/catalog/stages/landing.json")["Body"].read()
    )
    assert record["name"] == "landing"
    assert record["comment"] == "in the bucket"
    assert [(r[0], r[1]) for r in server.query("SHOW STAGES")] == [
        ("landing", "Internal"),
        ("outside", "External"),
    ]
    assert server.query("DESC STAGE landing")[0][0] == "landing"
    with pytest.raises(pymysql.MySQLError) as caught:
        server.query("CREATE STAGE landing")
    assert caught.value.args[0] == 1050
    server.query("DROP STAGE landing")
    assert catalog_keys(bucket) == ["prefix/catalog/stages/outside.json"]
    assert server.query("DESC STAGE landing") == []
    assert "prefix/secrets/presign.key" in keys(bucket, BUCKET)


def test_twenty_connections_racing_create_one_wins(server: ServerProcess) -> None:
    outcomes = race([server], "CREATE STAGE x")
    assert outcomes.count(None) == 1, outcomes
    assert outcomes.count(1050) == 19


def test_two_servers_racing_creates_have_one_winner(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    for round_ in range(3):
        outcomes = race(list(pair), f"CREATE STAGE race{round_}")
        assert outcomes.count(None) == 1, outcomes
        assert outcomes.count(1050) == 19
    for proc in pair:
        assert [r[0] for r in proc.query("SHOW STAGES")] == ["race0", "race1", "race2"]


def test_changes_are_visible_through_the_other_server_at_once(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = pair
    assert second.query("SHOW STAGES") == []
    for index in range(5):
        first.query(f"CREATE STAGE s{index}")
        assert second.query(f"DESC STAGE s{index}")[0][0] == f"s{index}"
        second.query(f"CREATE OR REPLACE STAGE s{index} COMMENT = 'v2'")
        assert first.query(f"DESC STAGE s{index}")[0][11] == "v2"
        second.query(f"DROP STAGE s{index}")
        assert first.query(f"DESC STAGE s{index}") == []
        assert first.query("SHOW STAGES") == []


def test_concurrent_create_or_replace_never_tears_a_record(
    pair: tuple[ServerProcess, ServerProcess], bucket: Any
) -> None:
    writers = 10
    for round_ in range(3):
        connections = [pair[i % 2].connect() for i in range(writers)]
        barrier = threading.Barrier(writers)
        errors: list[BaseException] = []

        def replace(
            index: int,
            conn: pymysql.connections.Connection,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            with conn.cursor() as cur:
                barrier.wait()
                try:
                    cur.execute(f"CREATE OR REPLACE STAGE shared COMMENT = 'writer {index}'")
                except pymysql.MySQLError as error:
                    errors.append(error)

        threads = [threading.Thread(target=replace, args=(i, c)) for i, c in enumerate(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for conn in connections:
            conn.close()
        assert errors == [], f"round {round_}: {errors}"
        raw = bucket.get_object(Bucket=BUCKET, Key="prefix/catalog/stages/shared.json")
        record = json.loads(raw["Body"].read())
        assert record["name"] == "shared"
        assert record["comment"] in {f"writer {i}" for i in range(writers)}
        for proc in pair:
            assert proc.query("DESC STAGE shared")[0][11] == record["comment"]
    assert catalog_keys(bucket) == ["prefix/catalog/stages/shared.json"]


def test_two_servers_share_one_presign_key(
    pair: tuple[ServerProcess, ServerProcess], bucket: Any, tmp_path: Path
) -> None:
    first, second = pair
    assert keys(bucket, BUCKET, "prefix/secrets/") == ["prefix/secrets/presign.key"]
    source = tmp_path / "shared.csv"
    source.write_text("a,b\n")
    first.query("CREATE STAGE s")
    upload(first, "s", source)
    url = first.query("PRESIGN @s/shared.csv")[0][2]
    assert isinstance(url, str)
    if url.startswith(first.http_url):  # stagedb's own URL: the other server accepts it too
        url = second.http_url + url[len(first.http_url) :]
    fetched = subprocess.run(["curl", "-sS", "--fail", url], capture_output=True, timeout=30)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == b"a,b\n"


# -- files on S3 -------------------------------------------------------------------------


def test_user_stage_and_internal_stages_keep_files_in_the_bucket(
    server: ServerProcess, bucket: Any, tmp_path: Path
) -> None:
    source = tmp_path / "books.csv"
    source.write_text("id,title\n1,Dune\n")
    answer = upload(server, "~", source)
    assert answer["state"] == "SUCCESS"
    assert answer["files"] == ["books.csv"]
    etag = bucket.head_object(Bucket=BUCKET, Key="prefix/stage/user/root/books.csv")["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    [(name, size, md5, last_modified, creator)] = server.query("LIST @~")
    assert (name, size, md5, creator) == ("books.csv", source.stat().st_size, etag, None)
    assert isinstance(last_modified, str) and last_modified.endswith(" +0000")

    server.query("CREATE STAGE s")
    upload(server, "s", source)
    assert [r[0] for r in server.query("LIST @s")] == ["books.csv"]
    s_prefix = stage_prefix(bucket, "s")
    bucket.put_object(Bucket=BUCKET, Key=f"{s_prefix}/dir/other.csv", Body=b"x")
    assert [r[0] for r in server.query("LIST @s")] == ["books.csv", "dir/other.csv"]
    assert [r[0] for r in server.query("LIST @s/dir/")] == ["dir/other.csv"]
    assert keys(bucket, BUCKET, "prefix/stage/") == [
        f"{s_prefix}/books.csv",
        f"{s_prefix}/dir/other.csv",
        "prefix/stage/user/root/books.csv",
    ]


def test_drop_stage_deletes_only_its_own_objects(
    server: ServerProcess, bucket: Any, tmp_path: Path
) -> None:
    source = tmp_path / "f.csv"
    source.write_text("1\n")
    for stage in ("ab", "abc"):
        server.query(f"CREATE STAGE {stage}")
        upload(server, stage, source)
    bucket.put_object(Bucket=BUCKET, Key=f"{stage_prefix(bucket, 'ab')}/deep/g.csv", Body=b"2")
    abc_prefix = stage_prefix(bucket, "abc")
    server.query("DROP STAGE ab")
    assert keys(bucket, BUCKET, "prefix/stage/") == [f"{abc_prefix}/f.csv"]
    server.query("CREATE OR REPLACE STAGE abc")
    assert keys(bucket, BUCKET, "prefix/stage/") == []
    assert [r[0] for r in server.query("SHOW STAGES")] == ["abc"]


# -- secrets and start-up ----------------------------------------------------------------


def test_secrets_are_never_shown(server: ServerProcess, moto: MotoS3) -> None:
    server.query("CREATE STAGE s")
    rows = server.query("SHOW STAGES") + server.query("DESC STAGE s") + server.query("DESC STAGE ~")
    assert SECRET not in repr(rows)
    banner = "".join(server.output)
    assert SECRET not in banner
    data_line = next(line for line in server.output if line.startswith("Data: "))
    assert data_line.startswith(f"Data: {DATA} (")
    assert f"endpoint_url={moto.endpoint}" in data_line
    assert "secret=(set)" in data_line
    server.stop()
    assert SECRET not in "".join(server.output)


def test_config_describe_hides_storage_credentials() -> None:
    config = Config(
        data="s3://user:pass@bucket/p",
        root_password="rootpw",
        storage_options={"endpoint_url": "http://s3.local", "secret": SECRET, "aws_token": "t0k"},
    )
    shown = config.describe()
    assert shown["storage_options"] == {
        "aws_token": "(set)",
        "endpoint_url": "http://s3.local",
        "secret": "(set)",
    }
    assert shown["data"] == "s3://***@bucket/p"
    assert SECRET not in repr(shown) + config.data_description()
    assert config.redact(f"failed with {SECRET} and rootpw") == "failed with *** and ***"


def test_storage_options_merge_file_then_environment_then_flags(
    moto: MotoS3, bucket: Any, tmp_path: Path
) -> None:
    config = tmp_path / "stagedb.toml"
    config.write_text(
        '[storage_options]\nendpoint_url = "http://127.0.0.1:9"\nregion = "us-east-1"\n'
        'key = "testing"\nsecret = "from-file"\n'
    )
    env = {**AWS_ENV, "STAGEDB_STORAGE_OPTIONS": json.dumps({"endpoint_url": moto.endpoint})}
    proc = start_server(
        DATA, "--config", str(config), "--storage-option", f"secret={SECRET}", env=env
    )
    try:
        data_line = next(line for line in proc.output if line.startswith("Data: "))
        assert data_line == (
            f"Data: {DATA} (endpoint_url={moto.endpoint}, key=(set), region=us-east-1, "
            "secret=(set))\n"
        )
        proc.query("CREATE STAGE merged")
        assert catalog_keys(bucket) == ["prefix/catalog/stages/merged.json"]
    finally:
        proc.stop()


def test_missing_bucket_is_a_clear_error_and_is_not_created(moto: MotoS3, bucket: Any) -> None:
    result = serve(moto, "s3://no-such-bucket/prefix", *moto.storage_flags(SECRET))
    assert result.returncode == 1, result.stderr
    assert "InvalidConfig. Code: 2002" in result.stderr
    assert "no-such-bucket" in result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert [b["Name"] for b in bucket.list_buckets()["Buckets"]] == [BUCKET]


def test_bad_endpoint_is_a_clear_error(moto: MotoS3) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = serve(
        moto, DATA, "--storage-option", f"endpoint_url={closed}",
        "--storage-option", "key=testing", "--storage-option", f"secret={SECRET}",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "InvalidConfig. Code: 2002" in result.stderr
    assert "Could not connect to the endpoint URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("flags", "code", "message"),
    [
        (["--storage-option", "colour=red"], 1, "Unknown S3 option(s) colour; accepted: "),
        (["--storage-option", "endpoint_url=s3.local"], 1, "must start with http://"),
        (["--storage-option", "novalue"], 2, "--storage-option takes KEY=VALUE"),
    ],
)
def test_bad_storage_options_are_rejected(
    moto: MotoS3, flags: list[str], code: int, message: str
) -> None:
    result = serve(moto, DATA, *flags)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_storage_option_sources_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('storage_options = "endpoint_url=http://x"\n')
    result = subprocess.run(
        [sys.executable, "-m", "stagedb", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "storage_options in" in result.stderr
    assert "must map option names to values" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "stagedb", "serve", "--data", DATA],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "STAGEDB_STORAGE_OPTIONS": "endpoint_url=http://x"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "STAGEDB_STORAGE_OPTIONS is not a JSON object" in result.stderr
    assert "Traceback" not in result.stderr


def test_storage_options_need_an_object_store(moto: MotoS3, tmp_path: Path) -> None:
    result = serve(moto, str(tmp_path), "--storage-option", "endpoint_url=http://x")
    assert result.returncode == 1
    assert "Storage options are only used with a data location on object storage" in (result.stderr)


# -- the pieces, without a server ----------------------------------------------------------


def test_s3fs_options_accept_databend_and_s3fs_names() -> None:
    assert s3.s3fs_options(
        {"ENDPOINT_URL": "http://h:9000", "Region": "eu-west-1", "aws_key_id": "AK",
         "aws_secret_key": "SK", "security_token": "ST"}
    ) == {
        "use_listings_cache": False,
        "client_kwargs": {"endpoint_url": "http://h:9000", "region_name": "eu-west-1"},
        "key": "AK", "secret": "SK", "token": "ST",
    }  # fmt: skip
    assert s3.s3fs_options(
        {"key": "AK", "access_key_id": "AK", "secret": "SK", "token": "", "region_name": "r"}
    ) == {
        "use_listings_cache": False, "client_kwargs": {"region_name": "r"},
        "key": "AK", "secret": "SK",
    }  # fmt: skip
    assert s3.s3fs_options({"enable_virtual_host_style": "true", "anon": "false"}) == {
        "use_listings_cache": False,
        "anon": False,
        "config_kwargs": {"s3": {"addressing_style": "virtual"}},
    }
    assert s3.s3fs_options({}) == {"use_listings_cache": False}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"role": "x", "colour": "y"}, "Unknown S3 option(s) colour, role; accepted: endpoint_url"),
        ({"key": "a", "aws_key_id": "b"}, "key and aws_key_id give two different values"),
        ({"anon": "maybe"}, "anon must be true or false"),
        ({"endpoint_url": "localhost:9000"}, "must start with http:// or https://"),
    ],
)
def test_s3fs_options_reject_what_they_cannot_use(options: dict[str, str], message: str) -> None:
    with pytest.raises(BadArguments) as caught:
        s3.s3fs_options(options)
    assert message in caught.value.message
    for name in ("session_token", "aws_token", "security_token", "secret_access_key"):
        if "Unknown" in message:
            assert name in caught.value.message


def _moto_fs(moto: MotoS3) -> Any:
    options = {"endpoint_url": moto.endpoint, "key": "testing", "secret": "testing"}
    return fsspec.filesystem("s3", **s3.s3fs_options(options))


def test_create_exclusive_on_s3_has_exactly_one_winner(moto: MotoS3, bucket: Any) -> None:
    fs = _moto_fs(moto)
    target = f"{BUCKET}/catalog/record.json"
    winners = exclusive_create_winners(fs, target)
    assert len(winners) == 1
    assert fs.cat_file(target) == f'{{"writer": {winners[0]}}}'.encode()
    with pytest.raises(FileExistsError):
        commit.create_exclusive(fs, target, b"again")


def test_replace_on_s3_is_a_compare_and_swap(moto: MotoS3, bucket: Any) -> None:
    fs = _moto_fs(moto)
    target = f"{BUCKET}/catalog/record.json"
    commit.replace(fs, target, b"first")  # no object yet: If-None-Match
    assert fs.cat_file(target) == b"first"
    stale = s3.etag(fs, target)
    commit.replace(fs, target, b"second")
    assert not s3.conditional_put(fs, target, b"lost", stale)  # a stale ETag writes nothing
    assert not s3.conditional_put(fs, target, b"lost", None)  # it exists
    assert fs.cat_file(target) == b"second"

    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        barrier.wait()
        try:
            for round_ in range(4):
                commit.replace(fs, target, f"{index}-{round_}".encode())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert fs.cat_file(target).decode() in {f"{i}-3" for i in range(8)}  # someone's last write
