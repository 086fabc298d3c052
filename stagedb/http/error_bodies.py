"""The side port's one error middleware: each family of routes answers errors its own way.

Every failure of a request, a stagedb error, aiohttp's own (unknown route,
wrong method) or an unexpected exception, is answered by the renderer
registered for the longest matching path prefix; paths no family claims get
Databend's body ``{"error": {"code", "message"}}`` (:class:`ErrorRenderer`).
A family registers its prefix where it adds its routes (see
``SnowflakeStages.add_routes``).  The middleware also closes the connection
after a response whose body was read around aiohttp's parser
(``direct.CLOSE_AFTER_RESPONSE``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from stagedb.errors import BadArguments, LoginThrottled, StageDBError
from stagedb.http.direct import CLOSE_AFTER_RESPONSE
from stagedb.http.jsonbody import error_body, error_response

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INTERNAL_CODE = StageDBError.code
INTERNAL_MESSAGE = "Internal error; see the server log"


class ErrorRenderer:
    """How one family of routes answers errors; this base answers as Databend does."""

    def begin(self, request: web.Request) -> None:
        """Prepare ``request`` before its handler runs (e.g. give it an ID)."""

    def failure(self, request: web.Request, error: StageDBError) -> web.Response:
        """The answer to a stagedb error raised while serving ``request``."""
        response = error_response(error)
        if isinstance(error, LoginThrottled):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    def route_failure(self, request: web.Request, error: web.HTTPException) -> web.Response:
        """The answer to aiohttp's own error (status >= 400): no route, wrong method ..."""
        code = BadArguments.code if error.status < 500 else INTERNAL_CODE
        response = error_body(code, error.reason, error.status)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response

    def internal(self, request: web.Request) -> web.Response:
        """The answer to an unexpected exception (already logged)."""
        return error_body(INTERNAL_CODE, INTERNAL_MESSAGE, 500)

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        """Last touches on every response of the family, success or error."""


class ErrorBodies:
    """The error middleware and its registry of renderers by path prefix."""

    def __init__(self, default: ErrorRenderer | None = None) -> None:
        self.default = default or ErrorRenderer()
        self._families: list[tuple[str, ErrorRenderer]] = []

    def register(self, prefix: str, renderer: ErrorRenderer) -> None:
        """Render the errors of every path starting with ``prefix`` with ``renderer``."""
        self._families.append((prefix, renderer))
        self._families.sort(key=lambda family: len(family[0]), reverse=True)

    def renderer_of(self, path: str) -> ErrorRenderer:
        """The renderer of the longest registered prefix of ``path`` (else the default)."""
        for prefix, renderer in self._families:
            if path.startswith(prefix):
                return renderer
        return self.default

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer every failure with the family's body; close after direct-read bodies."""
        renderer = self.renderer_of(request.path)
        renderer.begin(request)
        response = await _answer(request, handler, renderer)
        renderer.finish(request, response)
        if request.get(CLOSE_AFTER_RESPONSE):
            response.force_close()  # its body was read around aiohttp's parser
        return response


async def _answer(
    request: web.Request, handler: Handler, renderer: ErrorRenderer
) -> web.StreamResponse:
    try:
        return await handler(request)
    except StageDBError as error:
        return renderer.failure(request, error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return renderer.route_failure(request, error)
    except Exception:
        logger.exception("Unexpected error serving %s %s", request.method, request.path)
        return renderer.internal(request)
