"""Databend's file upload API: ``PUT``/``POST /v1/upload_to_stage`` with multipart files.

Each file part streams straight into the stage (aiohttp's multipart reader,
at most 1 MiB at a time) and becomes visible only once complete.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.http import HttpProcessingError

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import BadArguments, ClientDisconnected, MalformedBody
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.body import UploadBudget, part_chunks
from stagedb.http.jsonbody import json_response
from stagedb.privileges import Need
from stagedb.storage.paths import check_relative_path

CURL_HINT = "send each file as a part with a filename, e.g. curl -F 'upload=@/path/to/file'"


def _utf8(value: str, what: str) -> str:
    """``value`` if it was valid UTF-8 on the wire (aiohttp keeps other bytes as surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadArguments(f"The {what} is not valid UTF-8") from None
    return value


def _header(request: web.Request, what: str, *names: str) -> str | None:
    for name in names:
        value = request.headers.get(name)
        if value is not None:
            return _utf8(value.strip(), what)
    return None


@dataclass(frozen=True)
class UploadTarget:
    """Where an upload request's files go."""

    stage: str
    relative: str
    session: SessionInfo

    def path_of(self, filename: str) -> str:
        """The stage path of a part's file."""
        return f"{self.relative}/{filename}" if self.relative else filename


async def _file_parts(request: web.Request) -> AsyncIterator[tuple[str, BodyPartReader]]:
    """The parts of a multipart body with their filenames; every part must be a file."""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not part.headers:
                raise MalformedBody("The multipart body is truncated or malformed")
            if not isinstance(part, BodyPartReader) or not part.filename:
                raise BadArguments(f"A part has no filename; {CURL_HINT}")
            yield _utf8(part.filename, "file name"), part
    except (ValueError, HttpProcessingError) as error:
        raise MalformedBody(f"Malformed multipart body: {error}") from None
    except ConnectionError:
        raise ClientDisconnected("The client disconnected during the upload") from None


class UploadHandler:
    """Handles ``/v1/upload_to_stage``."""

    def __init__(self, engine: Engine, auth: HttpAuthenticator, max_upload_size: int) -> None:
        self.engine = engine
        self.auth = auth
        self.max_upload_size = max_upload_size

    async def check(self, request: web.Request) -> UploadTarget:
        """Everything the headers decide: credentials, stage, path, size, body type."""
        user = await self.auth.user_of(request)
        stage = _header(request, "stage name", "x-databend-stage-name", "stage_name")
        if not stage:
            raise BadArguments("Missing the stage name: send the header 'stage_name: <stage>'")
        relative = _header(request, "relative path", "x-databend-relative-path", "relative_path")
        relative = (relative or "").strip("/")
        check_relative_path(relative, "relative path")
        session = SessionInfo(user=user)
        await self.engine.stage_files(stage, session, Need.WRITE)  # unknown stage: 404
        UploadBudget(self.max_upload_size).check_declared(request)
        if request.content_type != "multipart/form-data":
            raise BadArguments(
                f"Expected a multipart/form-data body, got '{request.content_type}'; {CURL_HINT}"
            )
        return UploadTarget(stage, relative, session)

    async def __call__(self, request: web.Request) -> web.Response:
        """Store every file part of the request; answer as Databend does."""
        target = await self.check(request)
        budget = UploadBudget(self.max_upload_size)
        files: list[str] = []
        async for filename, part in _file_parts(request):
            chunks = budget.metered(part_chunks(part), filename)
            path = target.path_of(filename)
            await self.engine.write_file(target.stage, path, chunks, target.session)
            files.append(filename)
        if not files:
            raise BadArguments(f"The request holds no file; {CURL_HINT}")
        body = {"id": str(uuid.uuid4()), "stage_name": target.stage, "state": "SUCCESS"}
        return json_response({**body, "files": files})
