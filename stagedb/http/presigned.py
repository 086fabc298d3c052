"""Serving presigned URLs: downloads (with ``Range``) and raw-body uploads."""

from __future__ import annotations

from aiohttp import web

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import BadArguments, PermissionDenied
from stagedb.http.jsonbody import json_response
from stagedb.http.upload import CHUNK, limited
from stagedb.presign import Presigner


class PresignedHandler:
    """Handles ``/v1/presigned/{stage}/{path}`` for GET, HEAD and PUT."""

    def __init__(self, engine: Engine, presigner: Presigner, max_upload_size: int) -> None:
        self.engine = engine
        self.presigner = presigner
        self.max_upload_size = max_upload_size

    def _check(self, request: web.Request, method: str) -> tuple[str, str, SessionInfo]:
        stage = request.match_info["stage"]
        path = request.match_info["path"]
        user = self.presigner.verify(method, stage, path, dict(request.query))
        return stage, path, SessionInfo(user=user)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """Send the file, or the requested byte range of it."""
        stage, path, session = self._check(request, "GET")
        size = await self.engine.file_size(stage, path, session)
        try:
            wanted = request.http_range
        except ValueError:
            wanted = slice(None, None)
        start, stop, status = 0, size, 200
        if wanted.start is not None or wanted.stop is not None:
            start, stop, _ = wanted.indices(size)
            if start >= stop:
                raise web.HTTPRequestRangeNotSatisfiable(
                    headers={"Content-Range": f"bytes */{size}"}
                )
            status = 206
        response = web.StreamResponse(status=status)
        response.content_length = stop - start
        response.content_type = "application/octet-stream"
        response.headers["Accept-Ranges"] = "bytes"
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        await response.prepare(request)
        if request.method != "HEAD":
            async for chunk in await self.engine.read_file(stage, path, session, start, stop):
                await response.write(chunk)
        await response.write_eof()
        return response

    async def upload(self, request: web.Request) -> web.Response:
        """Store the raw request body as the file (atomically)."""
        stage, path, session = self._check(request, "PUT")
        signed_type = request.query.get("content_type")
        if signed_type and request.headers.get("Content-Type") != signed_type:
            raise PermissionDenied(
                f"This presigned URL needs the header Content-Type: {signed_type}"
            )
        if request.content_length is not None and request.content_length > self.max_upload_size:
            raise BadArguments(f"The body is larger than max_upload_size ({self.max_upload_size})")
        chunks = limited(request.content.iter_chunked(CHUNK), self.max_upload_size, path)
        size = await self.engine.write_file(stage, path, chunks, session)
        return json_response({"stage_name": stage, "path": path, "size": size, "state": "SUCCESS"})
