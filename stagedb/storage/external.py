"""External stage locations: URLs, CONNECTION options, and the filesystems behind them.

``fs://`` and ``file://`` name a directory on this server; ``s3://`` goes
through s3fs; ``gs://`` through gcsfs and ``az://``/``abfs://`` through adlfs,
which are optional extras (``stagedb[gcs]``, ``stagedb[azure]``).  A URL
without a trailing slash names the same directory as with one.
"""

from __future__ import annotations

import importlib
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fsspec import AbstractFileSystem
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from stagedb.errors import BadArguments, StorageOther, StorageUnsupported


@dataclass(frozen=True)
class Backend:
    """One kind of external storage: its URL schemes and CONNECTION keys."""

    name: str
    schemes: tuple[str, ...]
    keys: tuple[str, ...]
    aliases: dict[str, str]
    extra: str | None = None


LOCAL = Backend("fs", ("fs", "file"), (), {})
S3 = Backend(
    "s3",
    ("s3", "s3a"),
    ("endpoint_url", "region", "access_key_id", "secret_access_key", "session_token",
     "enable_virtual_host_style"),
    {"aws_key_id": "access_key_id", "aws_secret_key": "secret_access_key",
     "aws_token": "session_token", "security_token": "session_token"},
)  # fmt: skip
GCS = Backend("gcs", ("gs", "gcs"), ("endpoint_url", "credential"), {}, extra="gcs")
AZURE = Backend(
    "azblob", ("az", "abfs", "azblob"), ("endpoint_url", "account_name", "account_key"), {},
    extra="azure",
)  # fmt: skip
BACKENDS = (LOCAL, S3, GCS, AZURE)
_BY_SCHEME = {scheme: backend for backend in BACKENDS for scheme in backend.schemes}


def backend_of(url: str) -> Backend:
    """The backend a URL's scheme names."""
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise BadArguments(
            f"The stage URL '{url}' has no scheme; a directory on this server is written "
            f"'fs:///abs/path/', a bucket 's3://bucket/prefix/'"
        )
    backend = _BY_SCHEME.get(scheme)
    if backend is None:
        raise StorageUnsupported(
            f"URL scheme '{scheme}://' is not supported; supported schemes: "
            + ", ".join(f"{s}://" for s in _BY_SCHEME)
        )
    return backend


def normalize_external_url(url: str) -> tuple[str, str]:
    """Check an external stage URL; return ``(scheme, canonical url ending in /)``."""
    backend = backend_of(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if ".." in parts.path.split("/"):
        raise BadArguments(f"The stage URL '{url}' must not contain a '..' component")
    if backend is LOCAL:
        if parts.netloc or not parts.path.startswith("/"):
            raise BadArguments(
                f"The stage URL '{url}' must name an absolute directory, such as "
                f"'fs:///data/files/'"
            )
        path = posixpath.normpath(parts.path)
        return scheme, f"{scheme}://{path.rstrip('/')}/"
    if not parts.netloc:
        raise BadArguments(f"The stage URL '{url}' has no bucket: write '{scheme}://bucket/path/'")
    path = posixpath.normpath("/" + parts.path).strip("/")
    return scheme, f"{scheme}://{parts.netloc}/{path + '/' if path else ''}"


def canonical_connection(url: str, connection: dict[str, str]) -> dict[str, str]:
    """CONNECTION options with lower-case keys and Databend's aliases resolved.

    Unknown keys are rejected, naming the keys the URL's storage accepts.
    """
    backend = backend_of(url)
    canonical: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in connection.items():
        name = backend.aliases.get(key.lower(), key.lower())
        if name in backend.keys:
            canonical[name] = value
        else:
            unknown.append(key.upper())
    if unknown:
        accepted = ", ".join(k.upper() for k in (*backend.keys, *backend.aliases)) or "none"
        raise BadArguments(
            f"Unknown CONNECTION option(s) {', '.join(sorted(unknown))} for "
            f"{backend.schemes[0]}:// stages; accepted: {accepted}"
        )
    return canonical


def _import_extra(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise StorageUnsupported(
            f"Stages on this storage need the '{module}' package: install stagedb[{extra}] "
            f"(pip install 'stagedb[{extra}]')"
        ) from None


def _object_store(backend: Backend, options: dict[str, str]) -> AbstractFileSystem:
    if backend is S3:
        from stagedb.storage.s3 import s3fs_options

        s3fs = _import_extra("s3fs", "s3")
        return s3fs.S3FileSystem(**s3fs_options(options))
    if backend is GCS:
        gcsfs = _import_extra("gcsfs", "gcs")
        kwargs: dict[str, Any] = {}
        if "endpoint_url" in options:
            kwargs["endpoint_url"] = options["endpoint_url"]
        if "credential" in options:
            kwargs["token"] = options["credential"]
        return gcsfs.GCSFileSystem(**kwargs)
    adlfs = _import_extra("adlfs", "azure")
    return adlfs.AzureBlobFileSystem(
        account_name=options.get("account_name"),
        account_key=options.get("account_key"),
        account_host=options.get("endpoint_url"),
    )


def external_filesystem(url: str, connection: dict[str, str]) -> DirFileSystem:
    """A filesystem rooted at an external stage's location."""
    _, canonical = normalize_external_url(url)
    options = canonical_connection(canonical, connection)
    backend = backend_of(canonical)
    parts = urlsplit(canonical)
    if backend is LOCAL:
        return DirFileSystem(path=parts.path.rstrip("/") or "/", fs=LocalFileSystem())
    root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    return DirFileSystem(path=root, fs=_object_store(backend, options))


def redact(text: str, connection: dict[str, str]) -> str:
    """``text`` with every CONNECTION value longer than 3 characters replaced by ``***``."""
    for value in sorted(connection.values(), key=len, reverse=True):
        if len(value) > 3:
            text = text.replace(value, "***")
    return text


def check_location(fs: DirFileSystem, url: str, connection: dict[str, str]) -> None:
    """Fail with StorageOther (4000) unless the location exists and can be listed."""
    try:
        if isinstance(fs.fs, LocalFileSystem):
            if not fs.isdir(""):
                raise StorageOther(f"The stage location {url} is not an existing directory")
            return
        bucket, _, prefix = fs.path.partition("/")
        s3 = getattr(fs.fs, "call_s3", None)
        if s3 is not None:
            s3("list_objects_v2", Bucket=bucket, Prefix=prefix, MaxKeys=1)
        else:
            fs.fs.ls(bucket, detail=False)
    except StorageOther:
        raise
    except Exception as error:  # the storage's own reason, whatever its type
        reason = redact(f"{type(error).__name__}: {error}", connection)
        raise StorageOther(f"The stage location {url} cannot be listed: {reason}") from None
