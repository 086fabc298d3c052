"""A moto S3 server on 127.0.0.1 for tests: real S3 HTTP traffic, no mocks of s3fs or botocore."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
"""Environment for processes that talk to moto: no real AWS configuration leaks in."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class MotoS3:
    """A moto server in this process, reached over HTTP like any S3 endpoint."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    @property
    def endpoint(self) -> str:
        """The endpoint URL to give clients."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Forget every bucket and object."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def client(self) -> Any:
        """A boto3 S3 client on this server."""
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip

    def storage_flags(self, secret: str = SECRET_KEY) -> list[str]:
        """``stagedb serve`` flags that point a data root at this server."""
        return [
            "--storage-option", f"endpoint_url={self.endpoint}",
            "--storage-option", f"key={ACCESS_KEY}",
            "--storage-option", f"secret={secret}",
        ]  # fmt: skip

    def stop(self) -> None:
        """Shut the server down."""
        self._server.stop()


def keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under ``prefix``, sorted."""
    found: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(found)
