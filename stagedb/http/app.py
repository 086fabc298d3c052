"""The aiohttp application of the side port: routes and error bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from stagedb import __version__
from stagedb.engine import Engine
from stagedb.errors import AuthenticateFailure, StageDBError
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.jsonbody import json_response
from stagedb.http.presigned import PresignedHandler
from stagedb.http.upload import UploadHandler
from stagedb.presign import PRESIGNED_PREFIX, Presigner
from stagedb.users import Users

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: StageDBError) -> web.Response:
    """Databend's error body, ``{"error": {"code": ..., "message": ...}}``, with its status."""
    response = json_response(
        {"error": {"code": error.code, "message": error.message}}, status=error.http_status
    )
    if isinstance(error, AuthenticateFailure):
        response.headers["WWW-Authenticate"] = 'Basic realm="stagedb"'
    return response


@web.middleware
async def stage_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn engine errors into JSON error responses."""
    try:
        return await handler(request)
    except StageDBError as error:
        return error_response(error)


async def health(_request: web.Request) -> web.Response:
    """``GET /v1/health``: answers without credentials."""
    return json_response({"status": "ok", "version": __version__})


def build_http_app(
    engine: Engine,
    users: Users,
    presigner: Presigner,
    *,
    loopback_only: bool,
    max_upload_size: int,
) -> web.Application:
    """The side port's application."""
    auth = HttpAuthenticator(users, loopback_only)
    upload = UploadHandler(engine, auth, max_upload_size)
    presigned = PresignedHandler(engine, presigner, max_upload_size)
    app = web.Application(middlewares=[stage_errors])
    app.router.add_get("/v1/health", health)
    app.router.add_put("/v1/upload_to_stage", upload)
    app.router.add_post("/v1/upload_to_stage", upload)
    file_route = PRESIGNED_PREFIX + "/{stage}/{path:.+}"
    app.router.add_get(file_route, presigned.download)  # GET and HEAD
    app.router.add_put(file_route, presigned.upload)
    return app
