"""Serving presigned URLs: downloads (with ``Range``) and raw-body uploads."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from aiohttp import web

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import FileNotFound, PermissionDenied, RangeNotSatisfiable
from stagedb.http.body import UploadBudget, raw_chunks
from stagedb.http.direct import DirectBody, DirectReceiver
from stagedb.http.expect import checked_once
from stagedb.http.jsonbody import error_response, json_response
from stagedb.presign import Presigner
from stagedb.storage.writer import FileWriter

logger = logging.getLogger(__name__)

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class PresignedFile:
    """The file a verified presigned URL names, and who it acts for."""

    stage: str
    path: str
    session: SessionInfo
    content_type: str | None


@dataclass(frozen=True)
class PresignedUpload:
    """A presigned PUT whose headers passed the checks, and the stage's writer."""

    file: PresignedFile
    writer: FileWriter


def byte_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The ``[start, stop)`` a ``Range`` header asks for; None for the whole file.

    A header aiohttp cannot parse (several ranges, other units) is ignored, as
    RFC 9110 allows; a range outside the file is a 416.
    """
    try:
        wanted = request.http_range
    except ValueError:
        return None
    if wanted.start is None and wanted.stop is None:
        return None
    start, stop, _ = wanted.indices(size)
    if start >= stop:
        raise RangeNotSatisfiable(f"The range {request.headers.get('Range')} is outside the file")
    return start, stop


class PresignedHandler:
    """Handles ``/v1/presigned/{stage}/{path}`` for GET, HEAD and PUT."""

    def __init__(
        self,
        engine: Engine,
        presigner: Presigner,
        max_upload_size: int,
        receiver: DirectReceiver,
    ) -> None:
        self.engine = engine
        self.presigner = presigner
        self.max_upload_size = max_upload_size
        self.receiver = receiver

    def _verify(self, request: web.Request, method: str) -> PresignedFile:
        stage = request.match_info["stage"]
        path = request.match_info["path"]
        user = self.presigner.verify(method, stage, path, dict(request.query))
        content_type = request.query.get("content_type") or None
        return PresignedFile(stage, path, SessionInfo(user=user), content_type)

    async def check_upload(self, request: web.Request) -> PresignedUpload:
        """Everything the headers of a presigned PUT decide: signature, type, size, stage."""
        target = self._verify(request, "PUT")
        if target.content_type and request.headers.get("Content-Type") != target.content_type:
            raise PermissionDenied(
                f"This presigned URL needs the header Content-Type: {target.content_type}"
            )
        UploadBudget(self.max_upload_size).check_declared(request)
        writer = await self.engine.file_writer(target.stage, target.session)  # 404, 403
        return PresignedUpload(target, writer)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """Send the file, or the requested byte range of it (GET and HEAD)."""
        target = self._verify(request, "GET")
        size = await self.engine.file_size(target.stage, target.path, target.session)
        try:
            selected = byte_range(request, size)
        except RangeNotSatisfiable as error:
            refused = error_response(error)
            refused.headers["Content-Range"] = f"bytes */{size}"
            return refused
        start, stop = selected or (0, size)
        response = web.StreamResponse(status=200 if selected is None else 206)
        response.content_length = stop - start
        response.content_type = target.content_type or DEFAULT_CONTENT_TYPE
        response.headers["Accept-Ranges"] = "bytes"
        if selected is not None:
            response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        if request.method == "HEAD" or start == stop:
            await response.prepare(request)
            await response.write_eof()
            return response
        chunks = await self.engine.read_file(target.stage, target.path, target.session, start, stop)
        async with contextlib.aclosing(chunks):
            try:  # open the file before the status line goes out: errors still get a JSON body
                first = await anext(chunks, b"")
            except FileNotFoundError:
                raise FileNotFound(
                    f"File '{target.path}' does not exist in stage '{target.stage}'"
                ) from None
            await response.prepare(request)
            try:
                await response.write(first)
                async for chunk in chunks:
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionResetError:
                logger.info("Client went away during the download of %s", target.path)
        return response

    async def upload(self, request: web.Request) -> web.Response:
        """Store the raw request body as the file (atomically)."""
        upload = await checked_once(request, self.check_upload)  # run by the expect handler?
        target, writer = upload.file, upload.writer
        direct = self.receiver.take(request)  # nothing may fail between it and run()
        if direct is None:
            chunks = UploadBudget(self.max_upload_size).metered(raw_chunks(request), target.path)
            size = await writer.write_stream(target.path, chunks)
        else:
            size = await self.receiver.run(direct, lambda: _receive(direct, writer, target.path))
        return json_response(
            {"stage_name": target.stage, "path": target.path, "size": size, "state": "SUCCESS"}
        )


def _receive(body: DirectBody, writer: FileWriter, path: str) -> int:
    """Store a whole body taken over from its socket as ``path`` (in a worker thread)."""
    with writer.open(path) as target:
        if target.can_splice:  # socket -> pipe -> file inside the kernel
            for data in body.buffered:
                target.write(data)
            body.buffered.clear()
            target.splice_from(body.fd, body.remaining, body.wait_readable)
            body.remaining = 0
        else:
            while data := body.read():
                target.write(data)
        return target.commit()
