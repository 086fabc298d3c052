"""The side port's limits: connections, header size, idle and stalled-body timeouts.

aiohttp does most of it: ``max_line_size`` / ``max_field_size`` bound a request
line and each header (over them: 400), and its keep-alive timer closes a
connection that has not sent a complete request header within
``idle_timeout`` of connecting or of its previous response, which covers both
idle keep-alive connections and slowloris clients that dribble headers.
stagedb adds a connection limit, enforced when a connection is accepted (503
at once beyond it, see :class:`LimitedTCPSite`), and a watchdog that cuts a
request whose body stops arriving, without touching the body's read path.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from aiohttp import web
from yarl import URL

from stagedb.errors import TooManyConnections
from stagedb.http.jsonbody import error_bytes

logger = logging.getLogger(__name__)

Handler = Any  # aiohttp's handler type: Callable[[web.Request], Awaitable[web.StreamResponse]]

REFUSED_LINGER = 2.0
"""Longest time a refused connection is kept open to read (and drop) the client's request."""


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


class LimitedTCPSite(web.BaseSite):
    """A TCP (or TLS) site that refuses connections beyond ``max_connections`` at accept.

    aiohttp's TCPSite hands every accepted connection to the runner's server.
    This site first gives it a :class:`ConnectionGate`, which, once the
    connection is made (accepted, and past the TLS handshake if any), hands
    the transport to aiohttp's protocol while fewer than ``max_connections``
    are open (counted by aiohttp from connect to close), and otherwise answers
    a complete 503 at once, before any request is read.
    """

    __slots__ = ("_host", "_port", "limit", "refused")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self.limit = max_connections
        self.refused: set[ConnectionGate] = set()

    @property
    def name(self) -> str:
        """The site's URL, as aiohttp's sites name themselves."""
        scheme = "https" if self._ssl_context else "http"
        return str(URL.build(scheme=scheme, host=self._host, port=self._port))

    @property
    def server(self) -> web.Server | None:
        """aiohttp's server of the runner (None once it is cleaned up)."""
        return self._runner.server

    async def start(self) -> None:
        """Listen; every accepted connection starts with a :class:`ConnectionGate`."""
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ConnectionGate(self),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
        )

    async def stop(self) -> None:
        """Stop listening; close the refused connections still lingering."""
        await super().stop()
        for gate in list(self.refused):
            gate.close()


def refusal_bytes(limit: int) -> bytes:
    """The whole 503 response to a connection beyond the limit (Databend's error body)."""
    error = TooManyConnections(limit)
    body = error_bytes(error.code, error.message)
    head = (
        f"HTTP/1.1 {error.http_status} Service Unavailable\r\n"
        f"Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: 1\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        f"Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionGate(asyncio.Protocol):
    """The first protocol of an accepted connection: admits it or refuses it.

    Admitted, the transport switches to aiohttp's own protocol
    (``transport.set_protocol``) and the gate is out of the way.  Refused, the
    503 goes out, the connection is half-closed and whatever the client sends
    (its request) is read and dropped until it closes, for at most
    :data:`REFUSED_LINGER` seconds: closing at once, with its request unread,
    could make the client's kernel discard the 503 (a TCP reset).
    """

    def __init__(self, site: LimitedTCPSite) -> None:
        self.site = site
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection while under the limit; else answer 503."""
        assert isinstance(transport, asyncio.Transport)
        server = self.site.server
        if server is not None and len(server.connections) < self.site.limit:
            handler = server()
            transport.set_protocol(handler)
            handler.connection_made(transport)  # counted in server.connections from here
            return
        logger.warning("Refused an HTTP connection: max connections (%d) reached", self.site.limit)
        self.transport = transport
        self.site.refused.add(self)
        transport.write(refusal_bytes(self.site.limit))
        if transport.can_write_eof():
            transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(REFUSED_LINGER, self.close)

    def data_received(self, data: bytes) -> None:
        """Drop the request nobody will serve."""

    def eof_received(self) -> bool:
        """The client is done: returning False lets asyncio close the transport."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the refused connection."""
        if self.timer is not None:
            self.timer.cancel()
        self.site.refused.discard(self)

    def close(self) -> None:
        """Close a refused connection now (linger over, or the site stops)."""
        if self.transport is not None:
            self.transport.close()


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
