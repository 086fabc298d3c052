"""The OpenAPI 3.0 document of the side port, built from code: ``GET /openapi.json``.

It describes every endpoint: health, the Databend upload API, presigned URLs,
the Snowflake-style stage resource and the Zilliz-style stage endpoints, with
every status each can answer.  tests/test_openapi.py runs schemathesis against
it on a live server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from stagedb import __version__
from stagedb.http.jsonbody import json_response
from stagedb.http.rest import RestSettings
from stagedb.http.snowflake import BASE, CREATE_MODES
from stagedb.presign import PRESIGNED_PREFIX

OPENAPI_PATH = "/openapi.json"

JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: Any) -> Schema:
    return {"type": kind, "nullable": True, **extra}


def _object(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_STRING: Schema = {"type": "string"}
_BOOLEAN: Schema = {"type": "boolean"}
_REQUEST_ID_HEADER = {
    "X-Snowflake-Request-ID": {"description": "Unique ID of the request", "schema": _STRING}
}
_LINK_HEADER = {
    "Link": {
        "description": "first, prev, next and last pages (RFC 8288, relative URLs)",
        "schema": _STRING,
    }
}

SCHEMAS: dict[str, Schema] = {
    "DatabendError": _object(
        {"error": _object({"code": {"type": "integer"}, "message": _STRING}, ["code", "message"])},
        ["error"],
    ),
    "Health": _object({"status": _STRING, "version": _STRING}, ["status", "version"]),
    "UploadResult": _object(
        {
            "id": {"type": "string", "format": "uuid"},
            "stage_name": _STRING,
            "state": {"type": "string", "enum": ["SUCCESS"]},
            "files": {"type": "array", "items": _STRING},
        },
        ["id", "stage_name", "state", "files"],
    ),
    "PresignedUploadResult": _object(
        {"stage_name": _STRING, "path": _STRING, "size": {"type": "integer"}, "state": _STRING},
        ["stage_name", "path", "size", "state"],
    ),
    "Credentials": _object(
        {
            "credential_type": {"type": "string", "enum": ["AWS", "AZURE"]},
            "aws_key_id": _STRING,
            "aws_secret_key": _STRING,
            "aws_token": _STRING,
            "aws_role": _STRING,
            "azure_sas_token": _STRING,
        }
    ),
    "Stage": {
        **_object(
            {
                "name": {**_STRING, "pattern": r'^"([^"]|"")+"|[a-zA-Z_][a-zA-Z0-9_$]*$'},
                "kind": {"type": "string", "enum": ["PERMANENT", "TEMPORARY"]},
                "url": _nullable("string"),
                "endpoint": _nullable("string"),
                "storage_integration": _nullable("string"),
                "comment": _nullable("string"),
                "credentials": {**_ref("Credentials"), "writeOnly": True},
                "encryption": {
                    **_object({"type": _STRING}),
                    "writeOnly": True,
                    "nullable": True,
                },
                "directory_table": {
                    **_object({"enable": _BOOLEAN, "auto_refresh": _BOOLEAN}),
                    "nullable": True,
                },
                "created_on": _nullable("string", format="date-time", readOnly=True),
                "has_credentials": {**_BOOLEAN, "readOnly": True},
                "has_encryption_key": {**_BOOLEAN, "readOnly": True},
                "owner": _nullable("string", readOnly=True),
                "owner_role_type": _nullable("string", readOnly=True),
                "region": _nullable("string", readOnly=True),
                "cloud": _nullable("string", readOnly=True),
            },
            ["name"],
        ),
    },
    "StageFile": _object(
        {
            "name": _STRING,
            "size": _STRING,
            "md5": _nullable("string"),
            "last_modified": _STRING,
        },
        ["name", "size", "md5", "last_modified"],
    ),
    "SuccessResponse": _object({"status": _STRING}, ["status"]),
    "ErrorResponse": _object(
        {"message": _STRING, "code": _STRING, "error_code": _STRING, "request_id": _STRING},
        ["message", "code", "error_code", "request_id"],
    ),
    "PresignedUrlRequest": _object(
        {
            "mode": {"type": "string", "enum": ["upload", "download"]},
            "expiration_time": {"type": "integer", "minimum": 0, "maximum": 604800},
        }
    ),
    "PresignedUrl": _object(
        {
            "presigned_url": _STRING,
            "method": {"type": "string", "enum": ["GET", "PUT"]},
            "headers": {"type": "object", "additionalProperties": _STRING},
        },
        ["presigned_url"],
    ),
    "ZillizCreateStage": _object(
        {"projectId": _STRING, "regionId": _STRING, "stageName": _STRING}, ["stageName"]
    ),
    "ZillizError": _object(
        {"code": {"type": "integer", "not": {"enum": [0]}}, "message": _STRING},
        ["code", "message"],
    ),
    "ZillizStageName": _object(
        {
            "code": {"type": "integer", "enum": [0]},
            "data": _object({"stageName": _STRING}, ["stageName"]),
        },
        ["code", "data"],
    ),
    "ZillizStageList": _object(
        {
            "code": {"type": "integer", "enum": [0]},
            "data": _object(
                {
                    "count": {"type": "integer"},
                    "currentPage": {"type": "integer"},
                    "pageSize": {"type": "integer"},
                    "stages": {
                        "type": "array",
                        "items": _object({"stageName": _STRING}, ["stageName"]),
                    },
                },
                ["count", "currentPage", "pageSize", "stages"],
            ),
        },
        ["code", "data"],
    ),
}


def _json_content(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _databend_errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "Databend-style error",
            "content": _json_content(_ref("DatabendError")),
        }
        for s in statuses
    }


def _snowflake_errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "Error",
            "headers": _REQUEST_ID_HEADER,
            "content": _json_content(_ref("ErrorResponse")),
        }
        for s in statuses
    }


_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _download_headers(*, ranged: bool) -> dict[str, Any]:
    """The headers of a presigned download (GET or HEAD): whole file or a range."""
    headers: dict[str, Any] = {
        "Content-Length": {
            "description": "bytes of the file, or of the range",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
    }
    if ranged:
        headers["Content-Range"] = {
            "description": "bytes first-last/size",
            "required": True,
            "schema": {"type": "string", "pattern": r"^bytes \d+-\d+/\d+$"},
        }
    return headers


def _param(name: str, where: str, schema: Schema, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


_SNOWFLAKE_ERRORS = (400, 401, 403, 404, 405, 429, 502)  # 502: the storage failed
_NAMESPACE = [_param("database", "path", _STRING), _param("schema", "path", _STRING)]
_PAGING = [
    _param("page", "query", {"type": "integer", "minimum": 1}),
    _param("pageSize", "query", {"type": "integer", "minimum": 1}),
]


def _snowflake_ok(schema: Schema, *, paged: bool = False) -> dict[str, Any]:
    headers = {**_REQUEST_ID_HEADER, **(_LINK_HEADER if paged else {})}
    return {
        "200": {"description": "successful", "headers": headers, "content": _json_content(schema)}
    }


def _snowflake_paths() -> dict[str, Any]:
    stage_path = [*_NAMESPACE, _param("name", "path", _STRING)]
    success = _snowflake_ok(_ref("SuccessResponse"))
    tags = ["Snowflake-style stages"]
    return {
        BASE: {
            "get": {
                "summary": "List stages (SHOW STAGES [LIKE])",
                "tags": tags,
                "parameters": [*_NAMESPACE, _param("like", "query", _STRING), *_PAGING],
                "responses": {
                    **_snowflake_ok({"type": "array", "items": _ref("Stage")}, paged=True),
                    **_snowflake_errors(*_SNOWFLAKE_ERRORS),
                },
            },
            "post": {
                "summary": "Create a stage",
                "tags": tags,
                "parameters": [
                    *_NAMESPACE,
                    _param("createMode", "query", {"type": "string", "enum": list(CREATE_MODES)}),
                ],
                "requestBody": {"required": True, "content": _json_content(_ref("Stage"))},
                "responses": {**success, **_snowflake_errors(*_SNOWFLAKE_ERRORS, 409)},
            },
        },
        BASE + "/{name}": {
            "get": {
                "summary": "Fetch a stage (DESCRIBE STAGE)",
                "tags": tags,
                "parameters": stage_path,
                "responses": {
                    **_snowflake_ok(_ref("Stage")),
                    **_snowflake_errors(*_SNOWFLAKE_ERRORS),
                },
            },
            "delete": {
                "summary": "Delete a stage (DROP STAGE)",
                "tags": tags,
                "parameters": [*stage_path, _param("ifExists", "query", _BOOLEAN)],
                "responses": {**success, **_snowflake_errors(*_SNOWFLAKE_ERRORS)},
            },
        },
        BASE + "/{name}/files": {
            "get": {
                "summary": "List files (LIST @stage[/prefix] [PATTERN])",
                "tags": tags,
                "parameters": [
                    *stage_path,
                    _param("pattern", "query", _STRING),
                    _param("prefix", "query", _STRING),
                    *_PAGING,
                ],
                "responses": {
                    **_snowflake_ok({"type": "array", "items": _ref("StageFile")}, paged=True),
                    **_snowflake_errors(*_SNOWFLAKE_ERRORS),
                },
            },
        },
        BASE + "/{name}/files/{filePath}:presigned-url": {
            "post": {
                "summary": "A presigned URL for a file (PRESIGN)",
                "tags": tags,
                "parameters": [*stage_path, _param("filePath", "path", _STRING)],
                "requestBody": {"content": _json_content(_ref("PresignedUrlRequest"))},
                "responses": {
                    **_snowflake_ok(_ref("PresignedUrl")),
                    **_snowflake_errors(*_SNOWFLAKE_ERRORS),
                },
            },
        },
    }


def _zilliz_ok(schema: str) -> dict[str, Any]:
    either = {"anyOf": [_ref(schema), _ref("ZillizError")]}
    return {
        "200": {
            "description": "code 0 and data on success; a non-zero code and a message on failure",
            "content": _json_content(either),
        },
        **{
            str(status): {"description": "Error", "content": _json_content(_ref("ZillizError"))}
            for status in (404, 405, 429)
        },
    }


def _zilliz_paths() -> dict[str, Any]:
    tags = ["Zilliz-style stages"]
    return {
        "/v2/stages/create": {
            "post": {
                "summary": "Create a stage (projectId and regionId are ignored)",
                "tags": tags,
                "requestBody": {
                    "required": True,
                    "content": _json_content(_ref("ZillizCreateStage")),
                },
                "responses": _zilliz_ok("ZillizStageName"),
            }
        },
        "/v2/stages": {
            "get": {
                "summary": "List stages, a page at a time",
                "tags": tags,
                "parameters": [
                    _param("projectId", "query", _STRING),
                    _param("currentPage", "query", {"type": "integer", "minimum": 1}),
                    _param("pageSize", "query", {"type": "integer", "minimum": 1}),
                ],
                "responses": _zilliz_ok("ZillizStageList"),
            }
        },
        "/v2/stages/{stageName}": {
            "delete": {
                "summary": "Delete a stage",
                "tags": tags,
                "parameters": [_param("stageName", "path", _STRING)],
                "responses": _zilliz_ok("ZillizStageName"),
            }
        },
    }


def _databend_paths() -> dict[str, Any]:
    presigned_query = [
        _param("user", "query", _STRING, True),
        _param("expires", "query", {"type": "integer"}, True),
        _param("signature", "query", _STRING, True),
        _param("content_type", "query", _STRING),
    ]
    file_path = [_param("stage", "path", _STRING), _param("path", "path", _STRING)]
    upload = {
        "summary": "Databend's file upload API: multipart files into a stage",
        "tags": ["Databend upload API"],
        "parameters": [
            _param("stage_name", "header", _STRING, True),
            _param("relative_path", "header", _STRING),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _object(
                        {"upload": {"type": "string", "format": "binary"}}, ["upload"]
                    )
                }
            },
        },
        "responses": {
            "200": {"description": "stored", "content": _json_content(_ref("UploadResult"))},
            **_databend_errors(400, 401, 403, 404, 413, 417, 502),
        },
    }
    return {
        "/v1/health": {
            "get": {
                "summary": "Health check (no credentials)",
                "tags": ["Health"],
                "security": [],
                "responses": {
                    "200": {"description": "up", "content": _json_content(_ref("Health"))}
                },
            }
        },
        "/v1/upload_to_stage": {"put": upload, "post": {**upload, "operationId": "uploadPost"}},
        PRESIGNED_PREFIX + "/{stage}/{path}": {
            "get": {
                "summary": "Download with a presigned URL (Range supported)",
                "tags": ["Presigned URLs"],
                "security": [],
                "parameters": [*file_path, *presigned_query],
                "responses": {
                    "200": {
                        "description": "the file",
                        "headers": _download_headers(ranged=False),
                        "content": _BINARY,
                    },
                    "206": {
                        "description": "a range of the file",
                        "headers": _download_headers(ranged=True),
                        "content": _BINARY,
                    },
                    **_databend_errors(400, 403, 404, 416, 502),
                },
            },
            "head": {
                "summary": "The headers a presigned download would answer (size, type, "
                "range), without the body; signed like GET",
                "tags": ["Presigned URLs"],
                "security": [],
                "parameters": [*file_path, *presigned_query],
                "responses": {
                    "200": {
                        "description": "the file's headers",
                        "headers": _download_headers(ranged=False),
                    },
                    "206": {
                        "description": "a range's headers",
                        "headers": _download_headers(ranged=True),
                    },
                    **{
                        str(status): {"description": "Databend-style error (HEAD: no body)"}
                        for status in (400, 403, 404, 416, 502)
                    },
                },
            },
            "put": {
                "summary": "Upload the raw body with a presigned URL",
                "tags": ["Presigned URLs"],
                "security": [],
                "parameters": [*file_path, *presigned_query],
                "requestBody": {
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    }
                },
                "responses": {
                    "200": {
                        "description": "stored",
                        "content": _json_content(_ref("PresignedUploadResult")),
                    },
                    **_databend_errors(400, 403, 404, 413, 417, 502),
                },
            },
        },
        OPENAPI_PATH: {
            "get": {
                "summary": "This document",
                "tags": ["Health"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.0",
                        "content": _json_content({"type": "object"}),
                    }
                },
            }
        },
    }


def openapi_document(settings: RestSettings) -> dict[str, Any]:
    """The OpenAPI document of the side port."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "stagedb HTTP side port",
            "version": __version__,
            "description": (
                "Upload API, presigned URLs and REST APIs for stages. The Snowflake-style "
                f"resource answers for database '{settings.database}', schema "
                f"'{settings.schema}'; lists hold at most {settings.page_size} items a page."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"basic": []}, {"bearer": []}],
        "paths": {**_databend_paths(), **_snowflake_paths(), **_zilliz_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from CREATE TOKEN (PROGRAMMATIC_ACCESS_TOKEN)",
                },
            },
        },
    }


def openapi_handler(settings: RestSettings) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``GET /openapi.json``."""
    document = openapi_document(settings)

    async def handler(_request: web.Request) -> web.Response:
        return json_response(document)

    return handler
