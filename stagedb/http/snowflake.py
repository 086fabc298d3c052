"""Snowflake's stage REST resource: ``/api/v2/databases/{database}/schemas/{schema}/stages``.

Every operation is an engine statement (SHOW STAGES, CREATE STAGE, DESCRIBE
STAGE, DROP STAGE, LIST, PRESIGN) run as the authenticated user, so the
engine's rules and privileges apply exactly as over MySQL.  stagedb has one
namespace of stages: it answers for one database and one schema name
(``rest_database``, ``rest_schema``); other names get 404.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlglot import expressions as exp

from stagedb.engine import SessionInfo
from stagedb.errors import (
    BadArguments,
    StageDBError,
    StorageOther,
    StorageUnsupported,
    UnknownNamespace,
    UnknownStage,
)
from stagedb.http.error_bodies import ErrorBodies
from stagedb.http.jsonbody import json_response
from stagedb.http.rest import (
    Page,
    RestContext,
    RestErrors,
    iter_rows,
    json_object,
    link_header,
    optional_str,
    page_of,
)
from stagedb.results import Rows
from stagedb.sql.nodes import (
    CreateStage,
    DescribeStage,
    DropStage,
    ListFiles,
    Presign,
    StageLocation,
    StageOption,
)
from stagedb.stages import SHOW_STAGES_COLUMNS, USER_STAGE
from stagedb.visible_stages import stage_page

API_PREFIX = "/api/v2/"
"""Every path under it answers errors in Snowflake's body (unknown endpoints too)."""
BASE = "/api/v2/databases/{database}/schemas/{schema}/stages"
REQUEST_ID = "stagedb.request_id"
REQUEST_ID_HEADER = "X-Snowflake-Request-ID"
PAGE = "page"
PAGE_SIZE = "pageSize"
SUCCESS = {"status": "Request successfully completed"}
CREATE_MODES = ("errorIfExists", "orReplace", "ifNotExists")
DEFAULT_PRESIGN_SECONDS = 3600

_IDENTIFIER = re.compile(r'"(?:[^"]|"")+"|[a-zA-Z_][a-zA-Z0-9_$]*')
_CLOUDS = {"s3": "AWS", "s3a": "AWS", "gs": "GCP", "gcs": "GCP", "az": "AZURE", "abfs": "AZURE"}
_DEFAULT_S3_REGION = "us-east-1"

CREDENTIAL_KEYS = {
    "AWS": {
        "aws_key_id": "ACCESS_KEY_ID",
        "aws_secret_key": "SECRET_ACCESS_KEY",
        "aws_token": "SESSION_TOKEN",
        "aws_role": "ROLE_ARN",
    },
    "AZURE": {"azure_sas_token": "SAS_TOKEN"},
}
"""Snowflake's credential fields, as stagedb CONNECTION keys."""
WRITABLE = ("name", "kind", "url", "endpoint", "storage_integration", "comment",
            "credentials", "encryption", "directory_table")  # fmt: skip
READ_ONLY = ("created_on", "has_credentials", "has_encryption_key", "owner",
             "owner_role_type", "region", "cloud")  # fmt: skip


def identifier(text: str, what: str) -> tuple[str, bool]:
    """(name, quoted) of a Snowflake identifier; 400 if it is not one."""
    if not _IDENTIFIER.fullmatch(text):
        raise BadArguments(
            f"Invalid identifier '{text}' for the {what}: write [a-zA-Z_][a-zA-Z0-9_$]* "
            f'or a double-quoted identifier ("my name")'
        )
    if text.startswith('"'):
        return text[1:-1].replace('""', '"'), True
    return text, False


def _stage_name(request: web.Request, *, user_stage: bool = False) -> str:
    text = request.match_info["name"]
    if user_stage and text == USER_STAGE:
        return text
    return identifier(text, "stage")[0]


def _check_namespace(request: web.Request, context: RestContext) -> None:
    settings = context.settings
    for key, valid in (("database", settings.database), ("schema", settings.schema)):
        name, quoted = identifier(request.match_info[key], key)
        if name != valid if quoted else name.lower() != valid.lower():
            raise UnknownNamespace(
                f"The {key} '{name}' does not exist: stagedb serves database "
                f"'{settings.database}', schema '{settings.schema}'"
            )


def _iso(text: str | None) -> str | None:
    """LIST's timestamp text (``2023-04-20 20:55:03.100 +0000``) as ISO 8601."""
    if not text:
        return None
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f %z")
    except ValueError:
        return text
    return moment.isoformat(timespec="milliseconds")


def stage_json(row: Sequence[Any]) -> dict[str, Any]:
    """A SHOW STAGES row as Snowflake's Stage: every property, never the credentials."""
    shown = dict(zip(SHOW_STAGES_COLUMNS, row, strict=True))
    storage = shown["storage_type"]
    params = json.loads(shown["storage_params"] or "{}")
    cloud = _CLOUDS.get(storage) if storage else None
    region = params.get("region") or (_DEFAULT_S3_REGION if cloud == "AWS" else None)
    return {
        "name": shown["name"],
        "kind": "PERMANENT",
        "url": shown["url"],
        "endpoint": shown["endpoint"],
        "storage_integration": None,
        "comment": shown["comment"],
        "directory_table": {"enable": False, "auto_refresh": False},
        "created_on": _iso(shown["created_on"]),
        "has_credentials": bool(shown["has_credentials"]),
        "has_encryption_key": bool(shown["has_encryption_key"]),
        "owner": shown["owner"],
        "owner_role_type": "USER",
        "region": region,
        "cloud": cloud,
    }


def create_statement(body: dict[str, Any], mode: str) -> CreateStage:
    """The CREATE STAGE statement a Stage body describes."""
    unknown = sorted(set(body) - set(WRITABLE) - set(READ_ONLY))
    if unknown:
        raise BadArguments(
            f"Unknown Stage propert{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}"
        )
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise BadArguments("The Stage needs a 'name' (a string)")
    name = identifier(name, "stage")[0]
    kind = optional_str(body, "kind") or "PERMANENT"
    if kind.upper() != "PERMANENT":
        raise BadArguments(f"Unsupported kind '{kind}': stagedb stages are PERMANENT")
    if body.get("storage_integration") is not None:
        raise BadArguments("storage_integration is not supported: give url and credentials")
    _check_encryption(body.get("encryption"))
    _check_directory_table(body.get("directory_table"))
    url = optional_str(body, "url")
    connection = _connection(body)
    if connection and not url:
        raise BadArguments("credentials and endpoint need a url (an external stage)")
    statement = CreateStage(
        this=exp.to_identifier(name),
        replace=mode == "orReplace",
        exists=mode == "ifNotExists",
    )
    if url:
        statement.set("url", exp.Literal.string(url))
        if connection:
            statement.set(
                "connection",
                [StageOption(this=exp.var(k), expression=exp.Literal.string(v))
                 for k, v in connection.items()],
            )  # fmt: skip
    comment = optional_str(body, "comment")
    if comment is not None:
        statement.set("comment", exp.Literal.string(comment))
    return statement


def _connection(body: dict[str, Any]) -> dict[str, str]:
    connection: dict[str, str] = {}
    endpoint = optional_str(body, "endpoint")
    if endpoint:
        connection["ENDPOINT_URL"] = endpoint
    credentials = body.get("credentials")
    if credentials is None:
        return connection
    if not isinstance(credentials, dict):
        raise BadArguments("'credentials' must be an object")
    kind = str(credentials.get("credential_type") or "AWS").upper()
    keys = CREDENTIAL_KEYS.get(kind)
    if keys is None:
        raise BadArguments(f"Unsupported credential_type '{kind}': AWS or AZURE")
    for field, value in credentials.items():
        if field == "credential_type" or value is None:
            continue
        if field not in keys:
            raise BadArguments(
                f"Unknown {kind} credential '{field}'; accepted: {', '.join(sorted(keys))}"
            )
        if not isinstance(value, str):
            raise BadArguments(f"Credential '{field}' must be a string")
        connection[keys[field]] = value
    return connection


def _check_encryption(encryption: Any) -> None:
    if encryption is None:
        return
    if not isinstance(encryption, dict):
        raise BadArguments("'encryption' must be an object")
    kind = str(encryption.get("type") or "NONE").upper()
    if kind not in ("NONE", "SNOWFLAKE_SSE"):
        raise BadArguments(f"Unsupported encryption type '{kind}': stagedb does not encrypt")


def _check_directory_table(table: Any) -> None:
    if table is None:
        return
    if not isinstance(table, dict):
        raise BadArguments("'directory_table' must be an object")
    if table.get("enable"):
        raise BadArguments("Directory tables are not supported (directory_table.enable)")


def _boolean(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false").lower()
    if text not in ("true", "false"):
        raise BadArguments(f"Query parameter {name} must be true or false, not '{text}'")
    return text == "true"


async def paged(
    request: web.Request,
    context: RestContext,
    rows: Rows,
    render: Callable[[Sequence[Any]], dict[str, Any]],
) -> web.Response:
    """A JSON array of one page of ``rows`` with a ``Link`` header; counts all, keeps one page."""
    page = _page(request, context)
    items: list[Any] = []
    total = 0
    async for row in iter_rows(rows):
        if page.holds(total):
            items.append(render(row))
        total += 1
    return _page_response(request, page, items, total)


def _page(request: web.Request, context: RestContext) -> Page:
    return page_of(request, context.settings.page_size, page=PAGE, size=PAGE_SIZE)


def _page_response(request: web.Request, page: Page, items: list[Any], total: int) -> web.Response:
    """One page's JSON array, with a ``Link`` header to the first, previous, next and last."""
    response = json_response(items)
    response.headers["Link"] = link_header(request, page, total, page_param=PAGE)
    return response


class SnowflakeErrors(RestErrors):
    """Snowflake's error body; every request gets an ID, sent back in a header."""

    def begin(self, request: web.Request) -> None:
        """Give the request its ID."""
        request[REQUEST_ID] = str(uuid.uuid4())

    def body(self, request: web.Request, error: StageDBError, status: int) -> web.Response:
        """``{message, code, error_code, request_id}``."""
        body = {
            "message": str(error),
            "code": str(error.code),
            "error_code": error.name,
            "request_id": request[REQUEST_ID],
        }
        return json_response(body, status=status)

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        """``X-Snowflake-Request-ID`` on every response."""
        response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID]


class SnowflakeStages:
    """The six operations of Snowflake's stage resource."""

    def __init__(self, context: RestContext) -> None:
        self.context = context
        self.engine = context.engine

    def add_routes(self, app: web.Application, errors: ErrorBodies) -> None:
        """Register the resource's routes, and Snowflake's error body for ``/api/v2/``."""
        errors.register(API_PREFIX, SnowflakeErrors())
        router = app.router
        router.add_get(BASE, self.list_stages, allow_head=False)
        router.add_post(BASE, self.create_stage)
        router.add_get(BASE + "/{name}", self.fetch_stage, allow_head=False)
        router.add_delete(BASE + "/{name}", self.delete_stage)
        router.add_get(BASE + "/{name}/files", self.list_files, allow_head=False)
        router.add_post(BASE + "/{name}/files/{filePath:.+}:presigned-url", self.presigned_url)

    async def _session(self, request: web.Request) -> SessionInfo:
        session = await self.context.session(request)
        _check_namespace(request, self.context)
        return session

    async def list_stages(self, request: web.Request) -> web.Response:
        """``GET .../stages?like=``: SHOW STAGES [LIKE], one page (only its stages are read)."""
        session = await self._session(request)
        page = _page(request, self.context)
        shown = await stage_page(
            self.engine, session, page.start, page.size, request.query.get("like")
        )
        return _page_response(request, page, [stage_json(row) for row in shown.rows], shown.total)

    async def create_stage(self, request: web.Request) -> web.Response:
        """``POST .../stages?createMode=``: CREATE [OR REPLACE] STAGE [IF NOT EXISTS]."""
        session = await self._session(request)
        mode = request.query.get("createMode", "errorIfExists")
        if mode not in CREATE_MODES:
            raise BadArguments(f"createMode must be one of {', '.join(CREATE_MODES)}, not '{mode}'")
        body = await json_object(request, required=True)
        try:
            await self.engine.execute(create_statement(body, mode), session)
        except (StorageOther, StorageUnsupported) as error:  # the client's location: a 400
            raise BadArguments(f"The stage location was refused: {error}") from None
        return json_response(SUCCESS)

    async def fetch_stage(self, request: web.Request) -> web.Response:
        """``GET .../stages/{name}``: DESCRIBE STAGE."""
        session = await self._session(request)
        name = _stage_name(request)
        rows = await self.engine.execute(DescribeStage(this=exp.to_identifier(name)), session)
        assert isinstance(rows, Rows)
        found = [row async for row in iter_rows(rows)]
        if not found:
            raise UnknownStage(name)
        return json_response(stage_json(found[0]))

    async def delete_stage(self, request: web.Request) -> web.Response:
        """``DELETE .../stages/{name}?ifExists=``: DROP STAGE [IF EXISTS]."""
        session = await self._session(request)
        name = _stage_name(request)
        exists = _boolean(request, "ifExists")
        await self.engine.execute(DropStage(this=exp.to_identifier(name), exists=exists), session)
        return json_response(SUCCESS)

    async def list_files(self, request: web.Request) -> web.Response:
        """``GET .../stages/{name}/files?pattern=&prefix=``: LIST @name/prefix PATTERN = ..."""
        session = await self._session(request)
        name = _stage_name(request, user_stage=True)
        prefix = request.query.get("prefix")
        pattern = request.query.get("pattern")
        location = StageLocation(
            this=exp.Var(this=name), path=exp.Literal.string(prefix) if prefix else None
        )
        statement = ListFiles(
            this=location, pattern=exp.Literal.string(pattern) if pattern is not None else None
        )
        rows = await self.engine.execute(statement, session)
        assert isinstance(rows, Rows)
        return await paged(request, self.context, rows, _file_json)

    async def presigned_url(self, request: web.Request) -> web.Response:
        """``POST .../stages/{name}/files/{filePath}:presigned-url``: PRESIGN."""
        session = await self._session(request)
        name = _stage_name(request, user_stage=True)
        body = await json_object(request, required=False)
        mode = optional_str(body, "mode") or "download"
        if mode not in ("upload", "download"):
            raise BadArguments(f"mode must be upload or download, not '{mode}'")
        seconds = body.get("expiration_time")
        if seconds is None or seconds == 0:
            seconds = DEFAULT_PRESIGN_SECONDS
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
            raise BadArguments("expiration_time must be a whole number of seconds")
        location = StageLocation(
            this=exp.Var(this=name), path=exp.Literal.string(request.match_info["filePath"])
        )
        statement = Presign(
            this=location, upload=mode == "upload", expire=exp.Literal.number(seconds)
        )
        rows = await self.engine.execute(statement, session)
        assert isinstance(rows, Rows)
        found = [row async for row in iter_rows(rows)]
        method, headers, url = found[0]
        return json_response(
            {"presigned_url": url, "method": method, "headers": json.loads(headers)}
        )


def _file_json(row: Sequence[Any]) -> dict[str, Any]:
    name, size, md5, last_modified, _creator = row
    return {"name": name, "size": str(size), "md5": md5, "last_modified": last_modified}
