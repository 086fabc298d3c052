"""The aiohttp application of the side port: routes and error bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from stagedb import __version__
from stagedb.engine import Engine
from stagedb.errors import BadArguments, LoginThrottled, StageDBError
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.expect import continue_after
from stagedb.http.jsonbody import error_body, error_response, json_response
from stagedb.http.limits import ConnectionLimit, HttpLimits, StalledBodyWatchdog
from stagedb.http.presigned import PresignedHandler
from stagedb.http.upload import UploadHandler
from stagedb.presign import PRESIGNED_PREFIX, Presigner
from stagedb.throttle import LoginThrottle, ThrottlePolicy
from stagedb.users import Users

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INTERNAL_CODE = StageDBError.code


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error with Databend's JSON error body."""
    try:
        return await handler(request)
    except LoginThrottled as error:
        response = error_response(error)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except StageDBError as error:
        return error_response(error)
    except web.HTTPException as error:  # aiohttp's own: unknown route, wrong method, ...
        if error.status < 400:
            raise
        code = BadArguments.code if error.status < 500 else INTERNAL_CODE
        response = error_body(code, error.reason, error.status)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        logger.exception("Unexpected error serving %s %s", request.method, request.path)
        return error_body(INTERNAL_CODE, "Internal error; see the server log", 500)


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
    limits: HttpLimits | None = None,
    throttle: LoginThrottle | None = None,
    connection_limit: ConnectionLimit | None = None,
) -> web.Application:
    """The side port's application (``connection_limit.server`` is set once it runs)."""
    limits = limits or HttpLimits()
    connection_limit = connection_limit or ConnectionLimit(limits.max_connections)
    watchdog = StalledBodyWatchdog(limits.body_timeout)
    auth = HttpAuthenticator(users, loopback_only, throttle or LoginThrottle(ThrottlePolicy()))
    upload = UploadHandler(engine, auth, max_upload_size)
    presigned = PresignedHandler(engine, presigner, max_upload_size)
    app = web.Application(
        middlewares=[connection_limit.middleware, json_errors, watchdog.middleware]
    )
    app.router.add_get("/v1/health", health)
    for method in ("PUT", "POST"):
        app.router.add_route(
            method, "/v1/upload_to_stage", upload, expect_handler=continue_after(upload.check)
        )
    file_route = PRESIGNED_PREFIX + "/{stage}/{path:.+}"
    app.router.add_get(file_route, presigned.download)  # GET and HEAD
    app.router.add_put(
        file_route, presigned.upload, expect_handler=continue_after(presigned.check_upload)
    )
    return app
