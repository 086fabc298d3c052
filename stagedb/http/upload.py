"""Databend's file upload API: ``PUT``/``POST /v1/upload_to_stage`` with multipart files.

The body is parsed as it arrives (stagedb.http.multipart) and each file part
streams into the stage, visible only once complete.  A large body is read
straight from the socket by a worker thread (stagedb.http.direct); others
arrive through aiohttp's stream, a piece at a time.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from aiohttp import web
from aiohttp.helpers import parse_mimetype

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import BadArguments
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.body import UploadBudget, raw_chunks
from stagedb.http.direct import DirectBody, DirectReceiver
from stagedb.http.expect import checked_once
from stagedb.http.jsonbody import json_response
from stagedb.http.multipart import CURL_HINT, MultipartFiles
from stagedb.storage.paths import check_relative_path
from stagedb.storage.writer import FileWriter


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
    boundary: str
    writer: FileWriter

    def path_of(self, filename: str) -> str:
        """The stage path of a part's file."""
        return f"{self.relative}/{filename}" if self.relative else filename


class UploadHandler:
    """Handles ``/v1/upload_to_stage``."""

    def __init__(
        self,
        engine: Engine,
        auth: HttpAuthenticator,
        max_upload_size: int,
        receiver: DirectReceiver,
    ) -> None:
        self.engine = engine
        self.auth = auth
        self.max_upload_size = max_upload_size
        self.receiver = receiver

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
        writer = await self.engine.file_writer(stage, session)  # unknown stage: 404
        UploadBudget(self.max_upload_size).check_declared(request)
        content_type = request.headers.get("Content-Type", "")
        mimetype = parse_mimetype(content_type)
        if (mimetype.type, mimetype.subtype) != ("multipart", "form-data"):
            shown = f"{mimetype.type}/{mimetype.subtype}" if mimetype.type else content_type
            raise BadArguments(f"Expected a multipart/form-data body, got '{shown}'; {CURL_HINT}")
        boundary = mimetype.parameters.get("boundary", "")
        if not boundary or len(boundary) > 70 or not boundary.isascii():
            raise BadArguments("The multipart/form-data Content-Type has no valid boundary")
        return UploadTarget(stage, relative, session, boundary, writer)

    async def __call__(self, request: web.Request) -> web.Response:
        """Store every file part of the request; answer as Databend does."""
        target = await checked_once(request, self.check)  # run by the expect handler?
        upload = MultipartFiles(
            target.boundary.encode("ascii"),
            lambda filename: target.writer.open(target.path_of(filename)),
        )
        direct = self.receiver.take(request)
        if direct is not None:
            files = await self.receiver.run(direct, lambda: _receive(direct, upload))
        else:
            files = await self._stream(request, upload)
        body = {"id": str(uuid.uuid4()), "stage_name": target.stage, "state": "SUCCESS"}
        return json_response({**body, "files": files})

    async def _stream(self, request: web.Request, upload: MultipartFiles) -> list[str]:
        """Feed the body from aiohttp's stream, parsing each piece in a worker thread."""
        budget = UploadBudget(self.max_upload_size)
        try:
            async for chunk in budget.metered(raw_chunks(request), "the request body"):
                await asyncio.to_thread(upload.feed, chunk)
            return await asyncio.to_thread(upload.finish)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(upload.abort))
            raise


def _receive(body: DirectBody, upload: MultipartFiles) -> list[str]:
    """Read and parse a whole body taken over from its socket (in a worker thread)."""
    try:
        while data := body.read():
            upload.feed(data)
        return upload.finish()
    except BaseException:
        upload.abort()
        raise
