"""S3 through s3fs: user options to s3fs arguments, and conditional writes.

``s3fs_options`` turns the options a user gives (``--storage-option`` for the
data root, ``CONNECTION = (...)`` for an external stage) into keyword
arguments of ``s3fs.S3FileSystem``.  It accepts s3fs's own names and
Databend's, case-insensitively.

``conditional_put`` is S3's compare-and-swap: a ``PutObject`` that happens
only if the object is absent (``If-None-Match: *``) or still has the ETag the
caller read (``If-Match``).  The catalog builds its commits on it.
"""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from stagedb.errors import BadArguments

_TARGETS: dict[str, str] = {
    "endpoint_url": "endpoint_url",
    "region": "region_name",
    "region_name": "region_name",
    "access_key_id": "key",
    "aws_key_id": "key",
    "key": "key",
    "secret_access_key": "secret",
    "aws_secret_key": "secret",
    "secret": "secret",
    "session_token": "token",
    "aws_token": "token",
    "security_token": "token",
    "token": "token",
    "enable_virtual_host_style": "enable_virtual_host_style",
    "anon": "anon",
}
"""Every accepted option name (lower case) and the setting it gives."""

ACCEPTED_OPTIONS = tuple(_TARGETS)
"""The option names ``s3fs_options`` accepts, Databend's and s3fs's."""

_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True,
             "false": False, "0": False, "no": False, "off": False}  # fmt: skip

_RETRYABLE_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_RETRYABLE_STATUS = frozenset({409, 412})


def _boolean(name: str, value: str) -> bool:
    try:
        return _BOOLEANS[value.strip().lower()]
    except KeyError:
        raise BadArguments(f"The S3 option {name} must be true or false, not '{value}'") from None


def s3fs_options(options: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments for ``s3fs.S3FileSystem`` from user-facing S3 options.

    Names are case-insensitive; empty values count as not given.  Unknown
    names, and two names for one setting with different values, raise
    BadArguments.  The result always turns s3fs's listing cache off: other
    servers and tools change the bucket, and stagedb must see it at once.
    """
    settings: dict[str, str] = {}
    given_as: dict[str, str] = {}
    unknown: list[str] = []
    for raw_name, value in options.items():
        name = raw_name.strip().lower()
        target = _TARGETS.get(name)
        if target is None:
            unknown.append(raw_name)
            continue
        if value == "":
            continue
        if target in settings and settings[target] != value:
            raise BadArguments(
                f"The S3 options {given_as[target]} and {raw_name} give two different values"
            )
        settings[target] = value
        given_as[target] = raw_name
    if unknown:
        raise BadArguments(
            f"Unknown S3 option(s) {', '.join(sorted(unknown))}; accepted: "
            + ", ".join(ACCEPTED_OPTIONS)
        )
    kwargs: dict[str, Any] = {"use_listings_cache": False}
    client_kwargs: dict[str, Any] = {}
    endpoint = settings.get("endpoint_url")
    if endpoint is not None:
        if not endpoint.startswith(("http://", "https://")):
            raise BadArguments(
                f"The S3 endpoint_url '{endpoint}' must start with http:// or https://"
            )
        client_kwargs["endpoint_url"] = endpoint
    if "region_name" in settings:
        client_kwargs["region_name"] = settings["region_name"]
    if client_kwargs:
        kwargs["client_kwargs"] = client_kwargs
    for target in ("key", "secret", "token"):
        if target in settings:
            kwargs[target] = settings[target]
    if "anon" in settings:
        kwargs["anon"] = _boolean("anon", settings["anon"])
    if "enable_virtual_host_style" in settings:
        virtual = _boolean("enable_virtual_host_style", settings["enable_virtual_host_style"])
        kwargs["config_kwargs"] = {"s3": {"addressing_style": "virtual" if virtual else "path"}}
    return kwargs


def is_s3(fs: AbstractFileSystem) -> bool:
    """Whether ``fs`` is an s3fs filesystem."""
    protocol = fs.protocol
    return "s3" in (protocol if isinstance(protocol, (tuple, list)) else (protocol,))


def check_bucket(kwargs: dict[str, Any], path: str) -> None:
    """Fail fast unless the bucket of ``path`` exists and can be listed with ``kwargs``.

    One attempt, no retries, so that a wrong endpoint or bucket is reported
    at once.  Raises OSError with the storage's reason.
    """
    config = dict(kwargs.get("config_kwargs") or {})
    config.update(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10)
    probe = fsspec.filesystem("s3", **{**kwargs, "config_kwargs": config}, skip_instance_cache=True)
    probe.retries = 1
    bucket, _, prefix = path.partition("/")
    try:
        probe.call_s3(
            "list_objects_v2", Bucket=bucket, Prefix=f"{prefix}/" if prefix else "", MaxKeys=1
        )
    except Exception as error:  # the storage's own reason, whatever its type
        reason = str(error) or type(error).__name__
        raise OSError(f"bucket '{bucket}' cannot be listed: {reason}") from None


def etag(fs: AbstractFileSystem, path: str) -> str | None:
    """The ETag of object ``path`` (quotes included), or None if there is none."""
    bucket, key, _ = fs.split_path(path)
    try:
        head = fs.call_s3("head_object", Bucket=bucket, Key=key)
    except FileNotFoundError:
        return None
    return str(head["ETag"])


def _lost_race(error: BaseException) -> bool:
    """Whether a failed PutObject failed on its condition (412) or a concurrent one (409)."""
    if isinstance(error, FileExistsError):
        return True
    cause = error.__cause__ or error
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return False
    code = response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _RETRYABLE_CODES or status in _RETRYABLE_STATUS


def conditional_put(fs: AbstractFileSystem, path: str, data: bytes, if_match: str | None) -> bool:
    """Write object ``path`` only if it still has ETag ``if_match`` (None: only if absent).

    Returns False, writing nothing, when the condition does not hold or a
    concurrent conditional write to the same key got in the way.
    """
    bucket, key, _ = fs.split_path(path)
    condition = {"IfMatch": if_match} if if_match is not None else {"IfNoneMatch": "*"}
    try:
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)
    except Exception as error:
        if _lost_race(error):
            return False
        raise
    fs.invalidate_cache(path)
    return True
