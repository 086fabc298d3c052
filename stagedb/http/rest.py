"""What the REST families share: sessions, per-user rate limits, paging, JSON bodies
and the common part of their error answers.

Two families answer under their own prefixes (``/api/v2/`` Snowflake-style,
``/v2/stages`` Zilliz-style); each registers a :class:`RestErrors` renderer for
its prefix with the side port's error middleware (``error_bodies.ErrorBodies``),
so that every error is answered the way that family's clients expect.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from yarl import URL

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import AuthenticateFailure, BadArguments, StageDBError, TooManyRequests
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.error_bodies import INTERNAL_MESSAGE, ErrorRenderer
from stagedb.results import Rows

MAX_JSON_BODY = 1024 * 1024
"""Largest JSON request body of the REST families (a stage definition is small)."""


@dataclass(frozen=True)
class RestSettings:
    """The REST families' settings (``rest_*`` in the configuration)."""

    database: str = "stagedb"
    schema: str = "public"
    page_size: int = 1000
    rate_limit: float = 1000.0
    """Requests per second per user (0: no limit); bursts of up to one second's worth."""


class RateLimiter:
    """A token bucket per user: ``rate`` requests a second, bursts up to ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(rate, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, user: str) -> None:
        """Count one request of ``user``; TooManyRequests (429) when over the rate."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(user, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            retry = (1 - tokens) / self.rate
            self._buckets[user] = (tokens, now)
            raise TooManyRequests(
                f"User '{user}' sent more than {self.rate:g} requests per second; "
                f"retry after {retry:.2f} s",
                retry,
            )
        self._buckets[user] = (tokens - 1, now)
        if len(self._buckets) > 10_000:  # forget idle users
            self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < 60}


class RestContext:
    """What every REST handler needs: the engine, authentication, limits, settings."""

    def __init__(self, engine: Engine, auth: HttpAuthenticator, settings: RestSettings) -> None:
        self.engine = engine
        self.auth = auth
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit)

    async def session(self, request: web.Request) -> SessionInfo:
        """The authenticated user's session, counted against their rate limit."""
        user = await self.auth.user_of(request)
        self.limiter.check(user)
        return SessionInfo(user=user)


# -- paging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of a list: 1-based ``number`` and ``size`` items."""

    number: int
    size: int

    @property
    def start(self) -> int:
        """Index of the page's first item."""
        return (self.number - 1) * self.size

    def holds(self, index: int) -> bool:
        """Whether the item at ``index`` is on this page."""
        return self.start <= index < self.start + self.size


def positive_int(request: web.Request, name: str, default: int) -> int:
    """A query parameter that must be a whole number >= 1."""
    text = request.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) < 1:
        raise BadArguments(f"Query parameter {name} must be a whole number >= 1, not '{text}'")
    return int(text)


def page_of(
    request: web.Request, cap: int, *, page: str, size: str, default_size: int | None = None
) -> Page:
    """The page a request asks for; a size over ``cap`` is lowered to ``cap``."""
    number = positive_int(request, page, 1)
    wanted = positive_int(request, size, default_size or cap)
    return Page(number, min(wanted, cap))


def link_header(request: web.Request, page: Page, total: int, *, page_param: str) -> str:
    """RFC 8288 ``Link`` with first, prev, next and last (relative URLs)."""
    last = max(1, math.ceil(total / page.size))
    links = {"first": 1, "prev": page.number - 1, "next": page.number + 1, "last": last}
    shown = []
    for rel, number in links.items():
        if (rel == "prev" and not 1 <= number <= last) or (rel == "next" and number > last):
            continue
        url: URL = request.rel_url.update_query({page_param: str(number)})
        shown.append(f'<{url}>; rel="{rel}"')
    return ", ".join(shown)


async def iter_rows(rows: Rows) -> AsyncIterator[tuple[Any, ...]]:
    """The rows of a result, whether they stream or not."""
    if isinstance(rows.rows, AsyncIterator):
        async for row in rows.rows:
            yield row
    else:
        for row in rows.rows:
            yield row


# -- request bodies -----------------------------------------------------------------------


async def json_object(request: web.Request, *, required: bool) -> dict[str, Any]:
    """The request's JSON object body ({} when absent and not ``required``)."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise BadArguments(f"The JSON body is larger than {MAX_JSON_BODY} bytes")
    pieces: list[bytes] = []
    size = 0
    async for piece in request.content.iter_any():  # the whole body, however it arrives
        size += len(piece)
        if size > MAX_JSON_BODY:
            raise BadArguments(f"The JSON body is larger than {MAX_JSON_BODY} bytes")
        pieces.append(piece)
    raw = b"".join(pieces)
    if not raw.strip():
        if required:
            raise BadArguments("A JSON object body is required")
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadArguments(f"Malformed JSON body: {error}") from None
    if not isinstance(value, dict):
        raise BadArguments("The JSON body must be an object")
    return value


def optional_str(body: dict[str, Any], key: str) -> str | None:
    """``body[key]`` if it is a string, None if absent or null; 400 for other types."""
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadArguments(f"'{key}' must be a string")


# -- errors ---------------------------------------------------------------------------------


class RestErrors(ErrorRenderer):
    """What the REST families' error answers share; each family writes its own body.

    aiohttp's errors name the endpoint or the allowed methods; a 401 offers both
    schemes; a 429 carries ``Retry-After``.
    """

    def body(self, request: web.Request, error: StageDBError, status: int) -> web.Response:
        """The family's error body for ``error`` with HTTP ``status``."""
        raise NotImplementedError

    def status_of(self, error: StageDBError) -> int:
        """The HTTP status a stagedb error is answered with."""
        return error.http_status

    def failure(self, request: web.Request, error: StageDBError) -> web.Response:
        """The family's body, with the family's status for ``error``."""
        return self._render(request, error, self.status_of(error))

    def route_failure(self, request: web.Request, error: web.HTTPException) -> web.Response:
        """No such endpoint, or a method it does not take (with ``Allow``)."""
        allow = error.headers.get("Allow")
        reason = error.reason
        if allow is not None:
            reason = f"Method {request.method} is not allowed here; allowed: {allow}"
        elif error.status == 404:
            reason = f"No such endpoint: {request.path} (see GET /openapi.json)"
        wrapped = BadArguments(reason) if error.status < 500 else StageDBError(reason)
        response = self._render(request, wrapped, error.status)
        if allow is not None:
            response.headers["Allow"] = allow
        return response

    def internal(self, request: web.Request) -> web.Response:
        """A 500 in the family's body."""
        return self._render(request, StageDBError(INTERNAL_MESSAGE), 500)

    def _render(self, request: web.Request, error: StageDBError, status: int) -> web.Response:
        response = self.body(request, error, status)
        if isinstance(error, AuthenticateFailure):
            response.headers["WWW-Authenticate"] = 'Bearer realm="stagedb", Basic realm="stagedb"'
        if isinstance(error, TooManyRequests):
            response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
        return response
