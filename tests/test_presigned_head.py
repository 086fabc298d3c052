"""HEAD on a presigned download URL: the GET's status and headers without the body, as the
OpenAPI document describes them."""

from __future__ import annotations

import re
from typing import Any

import requests
from conftest import ServerProcess
from test_presign import presign

DATA = bytes(range(256)) * 40


def documented_headers(server: ServerProcess, status: str) -> dict[str, Any]:
    document = requests.get(f"{server.http_url}/openapi.json", timeout=30).json()
    head = document["paths"]["/v1/presigned/{stage}/{path}"]["head"]
    assert head["security"] == []
    return dict(head["responses"][status].get("headers", {}))


def check_documented(server: ServerProcess, reply: requests.Response) -> None:
    """Every documented header of the reply's status is there (if required) and conforms."""
    for name, header in documented_headers(server, str(reply.status_code)).items():
        value = reply.headers.get(name)
        if value is None:
            assert not header.get("required"), (name, reply.headers)
            continue
        schema = header["schema"]
        if schema["type"] == "integer":
            assert value.isdigit() and int(value) >= schema.get("minimum", 0), (name, value)
        if "enum" in schema:
            assert value in schema["enum"], (name, value)
        if "pattern" in schema:
            assert re.fullmatch(schema["pattern"], value), (name, value)


def test_head_answers_the_downloads_headers_without_its_body(server: ServerProcess) -> None:
    upload = presign(server, "PRESIGN UPLOAD @~/head.bin")
    assert requests.put(upload.url, data=DATA, timeout=30).status_code == 200
    url = presign(server, "PRESIGN @~/head.bin").url

    whole = requests.head(url, timeout=30)
    assert whole.status_code == 200 and whole.content == b""
    assert int(whole.headers["Content-Length"]) == len(DATA)
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "application/octet-stream"
    check_documented(server, whole)

    part = requests.head(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert part.status_code == 206 and part.content == b""
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    assert part.headers["Content-Length"] == "10"
    check_documented(server, part)
    got = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert got.status_code == 206 and got.content == DATA[10:20]  # what HEAD announced

    outside = requests.head(url, headers={"Range": f"bytes={len(DATA) + 5}-"}, timeout=30)
    assert outside.status_code == 416 and outside.content == b""
    assert outside.headers["Content-Range"] == f"bytes */{len(DATA)}"

    forged = requests.head(url.replace("signature=", "signature=0"), timeout=30)
    assert forged.status_code == 403 and forged.content == b""
    assert forged.headers["Content-Type"].startswith("application/json")

    signed_for_put = requests.head(upload.url, timeout=30)  # a PUT URL does not sign HEAD
    assert signed_for_put.status_code == 403
