"""Zilliz Cloud's stage endpoints: ``POST /v2/stages/create``, ``GET /v2/stages``,
``DELETE /v2/stages/{stageName}``, with the ``{code, data}`` envelope.

Success is HTTP 200 with ``code: 0``; a failure is HTTP 200 with the error's
non-zero code and a ``message`` (see :class:`ZillizErrors`), which is what
pymilvus checks.  ``projectId`` and ``regionId`` are accepted and ignored:
stagedb has one namespace of stages.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlglot import expressions as exp

from stagedb.errors import BadArguments, StageDBError, TooManyRequests
from stagedb.http.error_bodies import ErrorBodies
from stagedb.http.jsonbody import json_response
from stagedb.http.rest import (
    RestContext,
    RestErrors,
    json_object,
    optional_str,
    page_of,
)
from stagedb.sql.nodes import CreateStage, DropStage
from stagedb.visible_stages import stage_page

PREFIX = "/v2/stages"
DEFAULT_PAGE_SIZE = 10


def envelope(data: dict[str, Any]) -> web.Response:
    """``{"code": 0, "data": ...}``."""
    return json_response({"code": 0, "data": data})


class ZillizErrors(RestErrors):
    """Zilliz's envelope ``{code, message}``.

    Zilliz's clients (pymilvus) read failures from the body of an HTTP 200; a
    429 stays a 429 so that any HTTP client backs off.
    """

    def status_of(self, error: StageDBError) -> int:
        """200, except for a 429."""
        return error.http_status if isinstance(error, TooManyRequests) else 200

    def body(self, request: web.Request, error: StageDBError, status: int) -> web.Response:
        """``{code, message}`` with HTTP ``status``."""
        return json_response({"code": error.code, "message": str(error)}, status=status)


class ZillizStages:
    """Create, list and delete stages the way Zilliz Cloud's API does."""

    def __init__(self, context: RestContext) -> None:
        self.context = context
        self.engine = context.engine

    def add_routes(self, app: web.Application, errors: ErrorBodies) -> None:
        """Register the endpoints, and Zilliz's error envelope for their paths."""
        errors.register(PREFIX, ZillizErrors())
        app.router.add_post(PREFIX + "/create", self.create)
        app.router.add_get(PREFIX, self.list, allow_head=False)
        app.router.add_delete(PREFIX + "/{stageName}", self.delete)

    async def create(self, request: web.Request) -> web.Response:
        """``POST /v2/stages/create {"projectId", "regionId", "stageName"}``."""
        session = await self.context.session(request)
        body = await json_object(request, required=True)
        for ignored in ("projectId", "regionId"):
            optional_str(body, ignored)
        name = optional_str(body, "stageName")
        if not name:
            raise BadArguments("stageName is required")
        await self.engine.execute(CreateStage(this=exp.to_identifier(name)), session)
        return envelope({"stageName": name})

    async def list(self, request: web.Request) -> web.Response:
        """``GET /v2/stages?currentPage=&pageSize=``: one page of stage names, and the count."""
        session = await self.context.session(request)
        page = page_of(
            request,
            self.context.settings.page_size,
            page="currentPage",
            size="pageSize",
            default_size=DEFAULT_PAGE_SIZE,
        )
        shown = await stage_page(self.engine, session, page.start, page.size)
        return envelope(
            {
                "count": shown.total,
                "currentPage": page.number,
                "pageSize": page.size,
                "stages": [{"stageName": row[0]} for row in shown.rows],
            }
        )

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /v2/stages/{stageName}``: DROP STAGE (an unknown stage is an error)."""
        session = await self.context.session(request)
        name = request.match_info["stageName"]
        await self.engine.execute(DropStage(this=exp.to_identifier(name)), session)
        return envelope({"stageName": name})
