"""The side port's limits: connections, header size, idle and stalled-body timeouts.

aiohttp does most of it: ``max_line_size`` / ``max_field_size`` bound a request
line and each header (over them: 400), and its keep-alive timer closes a
connection that has not sent a complete request header within
``idle_timeout`` of connecting or of its previous response, which covers both
idle keep-alive connections and slowloris clients that dribble headers.
stagedb adds a connection limit (503 beyond it) and a watchdog that cuts a
request whose body stops arriving, without touching the body's read path.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from stagedb.errors import TooManyConnections
from stagedb.http.jsonbody import error_response

logger = logging.getLogger(__name__)

Handler = Any  # aiohttp's handler type: Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HttpLimits:
    """The side port's limits (see Config)."""

    max_connections: int = 1000
    max_header_size: int = 8190
    idle_timeout: float = 60.0
    body_timeout: float = 60.0

    def runner_options(self) -> dict[str, Any]:
        """Keyword arguments of aiohttp's AppRunner that apply these limits."""
        return {
            "keepalive_timeout": self.idle_timeout,
            "max_line_size": self.max_header_size,
            "max_field_size": self.max_header_size,
        }


class ConnectionLimit:
    """Answers 503 (and closes) a request on a connection beyond ``max_connections``.

    aiohttp counts a connection from its TCP (or TLS) handshake to its close;
    an idle one over the limit is closed by the idle timeout.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.server: web.Server | None = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse the request when the port holds too many connections."""
        if self.server is not None and len(self.server.connections) > self.limit:
            logger.warning("Refused an HTTP request: max connections (%d) reached", self.limit)
            response = error_response(TooManyConnections(self.limit))
            response.headers["Retry-After"] = "1"
            response.force_close()
            return response
        result: web.StreamResponse = await handler(request)
        return result


class StalledBodyWatchdog:
    """Closes the connection of a request whose body stopped arriving for ``timeout`` seconds.

    It looks at the body stream a few times per timeout, never at each chunk.
    A body is stalled when no byte arrived and none waits to be read (a slow
    consumer is not the client's fault).  Closing the connection makes the
    pending read fail, so the upload is discarded like any disconnect: no
    temporary file is left.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Watch the request's body while the handler runs."""
        if not request.body_exists or self.timeout <= 0:
            result: web.StreamResponse = await handler(request)
            return result
        loop = asyncio.get_running_loop()
        content = request.content
        period = max(self.timeout / 4, 0.05)
        state = {"bytes": content.total_bytes, "since": loop.time()}
        timer: asyncio.TimerHandle | None = None

        def check() -> None:
            nonlocal timer
            now = loop.time()
            if content.is_eof() or content.exception() is not None:
                return
            if content.total_bytes != state["bytes"] or content._size > 0:
                state["bytes"], state["since"] = content.total_bytes, now
            elif now - state["since"] >= self.timeout:
                logger.info(
                    "Closing %s %s: no body byte for %.0f s",
                    request.method,
                    request.path,
                    now - state["since"],
                )
                if request.transport is not None:
                    request.transport.abort()
                return
            timer = loop.call_later(period, check)

        timer = loop.call_later(period, check)
        try:
            result = await handler(request)
            return result
        finally:
            timer.cancel()
