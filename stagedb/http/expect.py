"""``Expect: 100-continue``: check a request's headers before asking for its body.

aiohttp's default answers ``100 Continue`` before any handler runs, so a client
would send a whole (maybe huge) body only to be told its credentials, stage or
size were wrong.  These expect handlers run the route's header checks first and
answer an error at once instead; the connection is then closed, since the body
the client held back will never come.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from stagedb.errors import ExpectationFailed, StageDBError
from stagedb.http.jsonbody import error_response

HeaderCheck = Callable[[web.Request], Awaitable[object]]
ExpectHandler = Callable[[web.Request], Awaitable[web.StreamResponse | None]]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

CHECKED = "stagedb.checked_headers"
"""Request key: what the route's header check returned (it runs once per request)."""

T = TypeVar("T")


async def checked_once(request: web.Request, check: Callable[[web.Request], Awaitable[T]]) -> T:
    """``check(request)``, or what it returned when the expect handler already ran it."""
    if CHECKED not in request:
        request[CHECKED] = await check(request)
    return cast(T, request[CHECKED])


def continue_after(check: HeaderCheck) -> ExpectHandler:
    """An expect handler sending ``100 Continue`` only if ``check`` passes."""

    async def expect_handler(request: web.Request) -> web.StreamResponse | None:
        try:
            if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
                raise ExpectationFailed(f"Unsupported Expect: {request.headers[hdrs.EXPECT]}")
            await checked_once(request, check)
        except StageDBError as error:
            response = error_response(error)
            response.force_close()
            return response
        if request.version >= HttpVersion11:
            await request.writer.write(_CONTINUE)
            request.writer.output_size = 0  # the 100 is not part of the response
        return None

    return expect_handler
