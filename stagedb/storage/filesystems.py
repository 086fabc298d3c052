"""From URLs to fsspec filesystems: the data root and external stage locations."""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from stagedb.errors import BadArguments, StorageUnsupported


class DatabendLocalFileSystem(LocalFileSystem):
    """The local disk under Databend's URL form ``fs:///abs/path/``."""

    protocol = ("fs",)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("fs://"):
            path = path[len("fs://") :]
        return super()._strip_protocol(path)


fsspec.register_implementation("fs", DatabendLocalFileSystem, clobber=True)

LOCAL_SCHEMES = ("fs", "file")
"""URL schemes that name a directory on the server's own disk."""


def normalize_external_url(url: str) -> tuple[str, str]:
    """Check an external stage URL; return ``(scheme, canonical url)``.

    A URL without a trailing slash names the same directory as with one.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme:
        raise BadArguments(
            f"The stage URL '{url}' has no scheme; a directory on this server is written "
            f"'fs:///abs/path/'"
        )
    if scheme not in LOCAL_SCHEMES:
        raise StorageUnsupported(
            f"URL scheme '{scheme}://' is not supported; supported schemes: "
            + ", ".join(f"{s}://" for s in LOCAL_SCHEMES)
        )
    if parts.netloc or not parts.path.startswith("/"):
        raise BadArguments(
            f"The stage URL '{url}' must name an absolute directory, such as 'fs:///data/files/'"
        )
    if ".." in parts.path.split("/"):
        raise BadArguments(f"The stage URL '{url}' must not contain a '..' component")
    path = posixpath.normpath(parts.path)
    return scheme, f"{scheme}://{path.rstrip('/')}/"


def external_filesystem(url: str, connection: dict[str, str]) -> DirFileSystem:
    """A filesystem rooted at an external stage's URL (already normalized)."""
    scheme, canonical = normalize_external_url(url)
    if connection:
        raise BadArguments(
            f"Unknown CONNECTION option(s) {', '.join(sorted(k.upper() for k in connection))} "
            f"for {scheme}:// "
            f"stages; accepted: none"
        )
    path = urlsplit(canonical).path.rstrip("/") or "/"
    return DirFileSystem(path=path, fs=LocalFileSystem())


class DataRoot:
    """The ``--data`` location: the catalog and the internal and user stages."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.url = url
        self.fs: AbstractFileSystem = fs
        self.path: str = path.rstrip("/")
        self.fs.makedirs(self.path, exist_ok=True)

    def subdir(self, relative: str) -> DirFileSystem:
        """A filesystem rooted at ``relative`` below the data root."""
        return DirFileSystem(path=f"{self.path}/{relative}", fs=self.fs)

    def full_path(self, relative: str) -> str:
        """The underlying filesystem's path of ``relative`` below the data root."""
        return f"{self.path}/{relative}"
