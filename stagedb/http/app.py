"""The aiohttp application of the side port: routes and middlewares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from stagedb import __version__
from stagedb.engine import Engine
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.direct import DirectReceiver
from stagedb.http.error_bodies import ErrorBodies
from stagedb.http.expect import HeaderCheck, continue_after
from stagedb.http.jsonbody import json_response
from stagedb.http.limits import HttpLimits, StalledBodyWatchdog
from stagedb.http.openapi import OPENAPI_PATH, openapi_handler
from stagedb.http.presigned import PresignedHandler
from stagedb.http.rest import RestContext, RestSettings
from stagedb.http.snowflake import SnowflakeStages
from stagedb.http.upload import UploadHandler
from stagedb.http.zilliz import ZillizStages
from stagedb.presign import PRESIGNED_PREFIX, Presigner
from stagedb.throttle import LoginThrottle, ThrottlePolicy
from stagedb.users import Users

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_tokens(auth: HttpAuthenticator) -> Middleware:
    """Check ``Authorization: Bearer`` tokens before the handlers run: the check reads
    the catalog, so it is asynchronous (see ``HttpAuthenticator.resolve``)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        await auth.resolve(request)
        return await handler(request)

    return middleware


async def health(_request: web.Request) -> web.Response:
    """``GET /v1/health``: answers without credentials."""
    return json_response({"status": "ok", "version": __version__})


async def _stop_uploads(receiver: DirectReceiver) -> None:
    receiver.stop_all()


async def _shutdown(receiver: DirectReceiver) -> None:
    receiver.shutdown()


def build_http_app(
    engine: Engine,
    users: Users,
    presigner: Presigner,
    *,
    loopback_only: bool,
    max_upload_size: int,
    rest: RestSettings | None = None,
    limits: HttpLimits | None = None,
    throttle: LoginThrottle | None = None,
) -> web.Application:
    """The side port's application (serve it with ``limits.LimitedTCPSite``)."""
    limits = limits or HttpLimits()
    watchdog = StalledBodyWatchdog(limits.body_timeout)
    auth = HttpAuthenticator(
        users, loopback_only, throttle or LoginThrottle(ThrottlePolicy()), engine
    )
    receiver = DirectReceiver(idle_timeout=limits.body_timeout)
    upload = UploadHandler(engine, auth, max_upload_size, receiver)
    presigned = PresignedHandler(engine, presigner, max_upload_size, receiver)
    errors = ErrorBodies()  # Databend's body, unless a family registers its own
    app = web.Application(
        middlewares=[
            errors.middleware,
            watchdog.middleware,
            bearer_tokens(auth),
        ]
    )
    app.on_shutdown.append(lambda _app: _stop_uploads(receiver))
    app.on_cleanup.append(lambda _app: _shutdown(receiver))
    app.router.add_get("/v1/health", health)
    for method in ("PUT", "POST"):
        app.router.add_route(
            method,
            "/v1/upload_to_stage",
            upload,
            expect_handler=continue_after(bearer_checked(auth, upload.check)),
        )
    file_route = PRESIGNED_PREFIX + "/{stage}/{path:.+}"
    app.router.add_get(file_route, presigned.download)  # GET and HEAD
    app.router.add_put(
        file_route, presigned.upload, expect_handler=continue_after(presigned.check_upload)
    )
    # -- REST families and the OpenAPI document (issue 5) --
    context = RestContext(engine, auth, rest or RestSettings())
    SnowflakeStages(context).add_routes(app, errors)
    ZillizStages(context).add_routes(app, errors)
    app.router.add_get(OPENAPI_PATH, openapi_handler(context.settings), allow_head=False)
    return app


def bearer_checked(auth: HttpAuthenticator, check: HeaderCheck) -> HeaderCheck:
    """``check`` after the bearer token (if any) was verified: expect handlers run
    before the middlewares, and the upload API's checks need the user."""

    async def checked(request: web.Request) -> object:
        await auth.resolve(request)
        return await check(request)

    return checked
