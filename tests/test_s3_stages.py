"""External stages on S3, against a moto server on 127.0.0.1 (real S3 HTTP traffic)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from conftest import ServerProcess, start_server
from s3fixtures import MotoS3

SECRET = "CHANGEME123"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoS3]:
    """A moto S3 server on a free local port, for this module."""
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: MotoS3) -> str:
    """The endpoint URL of the module's moto server."""
    return moto_server.endpoint


@pytest.fixture
def s3(moto_server: MotoS3) -> Any:
    """A boto3 client on a freshly reset moto, with buckets ``databend`` and ``testbucket``."""
    moto_server.reset()
    client = moto_server.client()
    for bucket in ("databend", "testbucket"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def s3_server(data_dir: Path, moto_endpoint: str, s3: Any) -> Iterator[ServerProcess]:
    """A stagedb server whose default S3 endpoint (AWS_ENDPOINT_URL) is moto."""
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint, "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "env-key", "AWS_SECRET_ACCESS_KEY": "env-secret",
    }  # fmt: skip
    proc = start_server(str(data_dir), env=env)
    try:
        yield proc
    finally:
        proc.stop()


def create_seed_000_stage(server: ServerProcess, endpoint: str) -> None:
    """Seed 000's statement, with only the endpoint changed to moto's."""
    server.query(
        "CREATE STAGE my_external_stage url = 's3://databend' CONNECTION =(ENDPOINT_URL= "
        f"'{endpoint}' aws_key_id='ROOTUSER' aws_secret_key='{SECRET}');"
    )


def names(rows: list[tuple[object, ...]]) -> list[object]:
    return [row[0] for row in rows]


def test_seed_statements_work(s3_server: ServerProcess, moto_endpoint: str, s3: Any) -> None:
    create_seed_000_stage(s3_server, moto_endpoint)
    s3_server.query(
        "CREATE STAGE my_external_stage2 url = 's3://testbucket/admin/data/' "
        "credentials=(aws_key_id='minioadmin' aws_secret_key='minioadmin');"
    )
    s3.put_object(Bucket="databend", Key="books.parquet", Body=b"x" * 998)
    s3.put_object(Bucket="testbucket", Key="admin/data/books.parquet", Body=b"y" * 10)
    ((name, size, md5, last_modified, creator),) = s3_server.query("LIST @my_external_stage")
    head = s3.head_object(Bucket="databend", Key="books.parquet")
    assert (name, size, creator) == ("books.parquet", 998, None)
    assert md5 == head["ETag"] and str(md5).startswith('"')
    assert str(last_modified) == head["LastModified"].strftime("%Y-%m-%d %H:%M:%S.000 +0000")
    assert s3_server.query("LIST @my_external_stage2")[0][:2] == ("books.parquet", 10)


def test_show_stages_masks_secrets(s3_server: ServerProcess, moto_endpoint: str) -> None:
    create_seed_000_stage(s3_server, moto_endpoint)
    with s3_server.connect() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("DESC STAGE my_external_stage")
        (row,) = cur.fetchall()
    assert (row["stage_type"], row["storage_type"], row["url"]) == (
        "External", "s3", "s3://databend/",
    )  # fmt: skip
    assert row["endpoint"] == moto_endpoint and row["has_credentials"] == 1
    assert '"secret_access_key": "CH***23"' in row["storage_params"]
    assert SECRET not in str(row) and SECRET not in "".join(s3_server.output)


def test_listing_sees_other_writers_at_once_and_skips_folders(
    s3_server: ServerProcess, moto_endpoint: str, s3: Any
) -> None:
    create_seed_000_stage(s3_server, moto_endpoint)
    assert s3_server.query("LIST @my_external_stage") == []
    keys = ["p/ab.csv", "p/ab/cd.csv", "p/ab/cd.csv.bk", "a-b", "a/b", "a.csv"]
    for key in keys:
        s3.put_object(Bucket="databend", Key=key, Body=key.encode())
    s3.put_object(Bucket="databend", Key="p/", Body=b"")  # a "folder" marker
    s3.put_object(Bucket="databend", Key="p/ab/empty_folder/", Body=b"")
    assert names(s3_server.query("LIST @my_external_stage")) == sorted(keys)
    assert names(s3_server.query("LIST @my_external_stage/p/ab/")) == [
        "p/ab/cd.csv", "p/ab/cd.csv.bk",
    ]  # fmt: skip
    assert names(s3_server.query("LIST @my_external_stage/p/a")) == [
        "p/ab.csv", "p/ab/cd.csv", "p/ab/cd.csv.bk",
    ]  # fmt: skip
    s3.delete_object(Bucket="databend", Key="a.csv")
    assert "a.csv" not in names(s3_server.query("LIST @my_external_stage"))


def test_create_checks_the_location(s3_server: ServerProcess, moto_endpoint: str) -> None:
    with pytest.raises(pymysql.MySQLError) as caught:
        s3_server.query(
            f"CREATE STAGE nope URL = 's3://no-such-bucket/x/' CONNECTION = ("
            f"endpoint_url = '{moto_endpoint}', access_key_id = 'k', secret_access_key = "
            f"'{SECRET}')"
        )
    errno, message = caught.value.args
    assert errno == 1105 and message.startswith("StorageOther. Code: 4000")
    assert "bucket does not exist" in message and SECRET not in message
    assert s3_server.query("SHOW STAGES") == []


def test_unknown_connection_keys_list_the_accepted_ones(s3_server: ServerProcess) -> None:
    with pytest.raises(pymysql.MySQLError) as caught:
        s3_server.query("CREATE STAGE s URL = 's3://databend/' CONNECTION = (colour = 'red')")
    errno, message = caught.value.args
    assert errno == 1210
    assert "COLOUR" in message and "ACCESS_KEY_ID" in message and "AWS_KEY_ID" in message


def test_upload_api_and_presigned_urls_on_s3(
    s3_server: ServerProcess, moto_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    create_seed_000_stage(s3_server, moto_endpoint)
    book = tmp_path / "books.parquet"
    book.write_bytes(b"PAR1" * 1000)
    out = subprocess.run(
        ["curl", "-s", "-u", "root:", "-H", "stage_name:my_external_stage", "-F",
         f"upload=@{book}", "-XPUT", f"{s3_server.http_url}/v1/upload_to_stage"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert '"state":"SUCCESS"' in out
    assert s3.get_object(Bucket="databend", Key="books.parquet")["Body"].read() == b"PAR1" * 1000

    ((method, _headers, url),) = s3_server.query("PRESIGN UPLOAD @my_external_stage/up/x.bin")
    assert method == "PUT" and url.startswith(moto_endpoint)
    subprocess.run(["curl", "-sf", "-T", str(book), url], check=True, capture_output=True)
    assert s3.head_object(Bucket="databend", Key="up/x.bin")["ContentLength"] == 4000
    ((_, _, url),) = s3_server.query("PRESIGN @my_external_stage/up/x.bin EXPIRE = 60")
    target = tmp_path / "down.bin"
    subprocess.run(["curl", "-sf", "-o", str(target), url], check=True, capture_output=True)
    assert target.read_bytes() == book.read_bytes()


def test_failed_upload_leaves_no_multipart_upload_open(
    s3_server: ServerProcess, moto_endpoint: str, s3: Any
) -> None:
    create_seed_000_stage(s3_server, moto_endpoint)
    body_size = 20 * 1024 * 1024  # beyond one 8 MiB part: a multipart upload starts
    boundary = "XyZ"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    request = (
        "PUT /v1/upload_to_stage HTTP/1.1\r\nHost: x\r\nstage_name: my_external_stage\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + body_size + 64}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", s3_server.http_port)) as sock:
        sock.sendall(request + head)
        chunk = b"z" * (1024 * 1024)
        for _ in range(18):  # 18 MiB of the body, then hang up
            sock.sendall(chunk)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not s3.list_multipart_uploads(Bucket="databend").get("Uploads"):
            break
        time.sleep(0.2)
    assert not s3.list_multipart_uploads(Bucket="databend").get("Uploads")
    assert s3.list_objects_v2(Bucket="databend").get("KeyCount") == 0
    assert s3_server.query("LIST @my_external_stage") == []


def test_remove_deletes_in_batches(s3_server: ServerProcess, moto_endpoint: str, s3: Any) -> None:
    create_seed_000_stage(s3_server, moto_endpoint)
    for i in range(2100):
        s3.put_object(Bucket="databend", Key=f"many/{i:05d}.csv", Body=b"1")
    s3.put_object(Bucket="databend", Key="keep.csv", Body=b"1")
    removed = names(s3_server.query("REMOVE @my_external_stage/many/"))
    assert removed == [f"many/{i:05d}.csv" for i in range(2100)]
    assert names(s3_server.query("LIST @my_external_stage")) == ["keep.csv"]


def test_drop_never_deletes_external_objects(
    s3_server: ServerProcess, moto_endpoint: str, s3: Any
) -> None:
    create_seed_000_stage(s3_server, moto_endpoint)
    s3.put_object(Bucket="databend", Key="kept.csv", Body=b"1")
    s3_server.query("DROP STAGE my_external_stage")
    assert s3.list_objects_v2(Bucket="databend")["KeyCount"] == 1


def test_secrets_stay_out_of_a_debug_log(data_dir: Path, moto_endpoint: str, s3: Any) -> None:
    server = start_server(str(data_dir), "--log-level", "DEBUG")
    try:
        create_seed_000_stage(server, moto_endpoint)
        server.query("LIST @my_external_stage")
        with pytest.raises(pymysql.MySQLError):
            server.query(f"CREATE STAGE my_external_stage URL = 's3://databend/' "
                         f"CONNECTION = (SECRET_ACCESS_KEY = '{SECRET}')")  # fmt: skip
    finally:
        server.stop()
    log = "".join(server.output)
    assert " DEBUG " in log  # the log really was at DEBUG level
    assert SECRET not in log
