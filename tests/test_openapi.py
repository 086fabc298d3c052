"""GET /openapi.json describes every endpoint, and a live server keeps to it (schemathesis).

Bounded: a few generated requests per operation, so the whole module runs in
seconds.  Checks: no 5xx, every status, content type, header and body as documented.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from conftest import ServerProcess, start_server
from hypothesis import HealthCheck, given, settings
from s3fixtures import AWS_ENV
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# S3 locations a generated stage may name fail at once: nothing listens on port 9.
FAST_FAILING_S3 = {**AWS_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(str(tmp_path_factory.mktemp("data")), env=FAST_FAILING_S3)
    try:
        yield proc
    finally:
        proc.stop()


def test_the_document_covers_every_endpoint(live: ServerProcess) -> None:
    document = requests.get(live.http_url + "/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    stages = "/api/v2/databases/{database}/schemas/{schema}/stages"
    expected = {
        "/v1/health": {"get"},
        "/v1/upload_to_stage": {"put", "post"},
        "/v1/presigned/{stage}/{path}": {"get", "head", "put"},
        stages: {"get", "post"},
        stages + "/{name}": {"get", "delete"},
        stages + "/{name}/files": {"get"},
        stages + "/{name}/files/{filePath}:presigned-url": {"post"},
        "/v2/stages/create": {"post"},
        "/v2/stages": {"get"},
        "/v2/stages/{stageName}": {"delete"},
        "/openapi.json": {"get"},
    }
    assert {path: set(ops) for path, ops in paths.items()} == expected
    assert set(document["components"]["securitySchemes"]) == {"basic", "bearer"}


def test_server_conforms_to_its_openapi_document(live: ServerProcess) -> None:
    """Every operation, a few generated requests each (schemathesis drives hypothesis)."""
    api = schemathesis.openapi.from_url(live.http_url + "/openapi.json")
    tested = []
    failures: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    session = requests.Session()
    session.hooks["response"].append(lambda reply, **_: statuses.update([reply.status_code]))
    for result in api.get_all_operations():
        operation = result.ok()
        tested.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(
                session=session,
                checks=CHECKS,
                headers={"Authorization": "Basic cm9vdDo="},
                timeout=30,
            )

        try:
            call()
        except Exception as error:  # collect every operation's failure, then report them all
            failures[operation.label] = str(error)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    document = requests.get(live.http_url + "/openapi.json", timeout=30).json()
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    # schemathesis leaves out the document's own URL
    assert set(tested) == documented - {"GET /openapi.json"}
    assert sum(statuses.values()) >= 3 * len(tested), statuses
    assert {200, 400, 403, 404} <= set(statuses), statuses
