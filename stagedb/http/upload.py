"""Databend's file upload API: ``PUT``/``POST /v1/upload_to_stage`` with multipart files.

Each file part streams straight into the stage (aiohttp's multipart reader,
1 MiB at a time) and becomes visible only once complete.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import BadArguments, UploadTooLarge
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.jsonbody import json_response
from stagedb.storage.paths import check_relative_path

CHUNK = 1024 * 1024
CURL_HINT = "send each file as a part with a filename, e.g. curl -F 'upload=@/path/to/file'"


def _header(request: web.Request, *names: str) -> str | None:
    for name in names:
        value = request.headers.get(name)
        if value is not None:
            return value.strip()
    return None


async def limited(chunks: AsyncIterator[bytes], limit: int, name: str) -> AsyncIterator[bytes]:
    """Pass ``chunks`` through, failing once more than ``limit`` bytes went by."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge(f"'{name}' is larger than max_upload_size ({limit} bytes)")
        yield chunk


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


class UploadHandler:
    """Handles ``/v1/upload_to_stage``."""

    def __init__(self, engine: Engine, auth: HttpAuthenticator, max_upload_size: int) -> None:
        self.engine = engine
        self.auth = auth
        self.max_upload_size = max_upload_size

    async def __call__(self, request: web.Request) -> web.Response:
        """Store every file part of the request; answer as Databend does."""
        user = self.auth.user_of(request)
        stage = _header(request, "x-databend-stage-name", "stage_name")
        if not stage:
            raise BadArguments("Missing the stage name: send the header 'stage_name: <stage>'")
        relative = (_header(request, "x-databend-relative-path", "relative_path") or "").strip("/")
        check_relative_path(relative, "relative path")
        session = SessionInfo(user=user)
        await self.engine.stage_files(stage, session)  # unknown stage: 404 before any byte
        if request.content_length is not None and request.content_length > self.max_upload_size:
            raise UploadTooLarge(
                f"The request is larger than max_upload_size ({self.max_upload_size} bytes)"
            )
        if request.content_type != "multipart/form-data":
            raise BadArguments(f"Expected a multipart/form-data body; {CURL_HINT}")

        reader = await request.multipart()
        files: list[str] = []
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.filename:
                raise BadArguments(f"A part has no filename; {CURL_HINT}")
            filename = part.filename
            path = f"{relative}/{filename}" if relative else filename
            chunks = limited(_part_chunks(part), self.max_upload_size, filename)
            await self.engine.write_file(stage, path, chunks, session)
            files.append(filename)
        if not files:
            raise BadArguments(f"The request holds no file; {CURL_HINT}")
        return json_response(
            {"id": str(uuid.uuid4()), "stage_name": stage, "state": "SUCCESS", "files": files}
        )
