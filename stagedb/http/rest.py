"""What the REST families share: sessions, per-user rate limits, paging, JSON bodies,
request IDs and each family's error body.

Two families answer under their own prefixes (``/api/v2/`` Snowflake-style,
``/v2/stages`` Zilliz-style).  The middleware here gives each request of a
family an ID and renders every error the way that family's clients expect;
other paths keep Databend's error body (``app.json_errors``).  It also checks
``Authorization: Bearer`` tokens for every path before the handlers run, since
that check reads the catalog (see ``HttpAuthenticator.resolve``).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from yarl import URL

from stagedb.engine import Engine, SessionInfo
from stagedb.errors import AuthenticateFailure, BadArguments, StageDBError, TooManyRequests
from stagedb.http.auth import HttpAuthenticator
from stagedb.http.jsonbody import json_response
from stagedb.results import Rows

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SNOWFLAKE_PREFIX = "/api/v2/"
ZILLIZ_PREFIX = "/v2/stages"
REQUEST_ID = "stagedb.request_id"
REQUEST_ID_HEADER = "X-Snowflake-Request-ID"
INTERNAL_CODE = StageDBError.code
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


# -- errors and request IDs -----------------------------------------------------------------


def snowflake_error(error: StageDBError, request_id: str, status: int) -> web.Response:
    """Snowflake's error body ``{message, code, error_code, request_id}``."""
    body = {
        "message": str(error),
        "code": str(error.code),
        "error_code": error.name,
        "request_id": request_id,
    }
    return json_response(body, status=status)


def zilliz_error(error: StageDBError, status: int) -> web.Response:
    """Zilliz's envelope ``{code, message}`` with HTTP ``status``."""
    return json_response({"code": error.code, "message": str(error)}, status=status)


def rest_middleware(auth: HttpAuthenticator) -> Middleware:
    """Bearer tokens for every path; request IDs and family error bodies for the REST paths."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        await auth.resolve(request)
        path = request.path
        snowflake = path.startswith(SNOWFLAKE_PREFIX)
        if not snowflake and not path.startswith(ZILLIZ_PREFIX):
            return await handler(request)
        request_id = str(uuid.uuid4())
        request[REQUEST_ID] = request_id
        allow = None
        try:
            response = await handler(request)
        except StageDBError as error:
            # Zilliz's clients (pymilvus) read failures from the body of an HTTP 200; a 429
            # stays a 429 so that any HTTP client backs off.
            status = error.http_status
            if not snowflake and not isinstance(error, TooManyRequests):
                status = 200
            response = _render(error, status, snowflake, request_id)
        except web.HTTPException as http_error:  # aiohttp's: unknown route, wrong method ...
            if http_error.status < 400:
                raise
            allow = http_error.headers.get("Allow")
            status = http_error.status
            reason = http_error.reason
            if allow is not None:
                reason = f"Method {request.method} is not allowed here; allowed: {allow}"
            elif status == 404:
                reason = f"No such endpoint: {path} (see GET /openapi.json)"
            wrapped = BadArguments(reason) if status < 500 else StageDBError(reason)
            response = _render(wrapped, status, snowflake, request_id)
        except Exception:
            logger.exception("Unexpected error serving %s %s", request.method, path)
            internal = StageDBError("Internal error; see the server log")
            response = _render(internal, 500, snowflake, request_id)
        if allow is not None:
            response.headers["Allow"] = allow
        if snowflake:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return middleware


def _render(error: StageDBError, status: int, snowflake: bool, request_id: str) -> web.Response:
    if snowflake:
        response = snowflake_error(error, request_id, status)
    else:
        response = zilliz_error(error, status)
    if isinstance(error, AuthenticateFailure):
        response.headers["WWW-Authenticate"] = 'Bearer realm="stagedb", Basic realm="stagedb"'
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response
