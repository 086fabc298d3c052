"""From URLs to fsspec filesystems: the data root and external stage locations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from stagedb.errors import BadArguments
from stagedb.storage.s3 import check_bucket, is_s3, s3fs_options


class DatabendLocalFileSystem(LocalFileSystem):
    """The local disk under Databend's URL form ``fs:///abs/path/``."""

    protocol = ("fs",)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("fs://"):
            path = path[len("fs://") :]
        return super()._strip_protocol(path)


fsspec.register_implementation("fs", DatabendLocalFileSystem, clobber=True)


_WITHOUT_OPTIONS = ("", "file", "fs", "local", "memory")
"""Data root schemes that take no storage options."""


class DataRoot:
    """The ``--data`` location: the catalog and the internal and user stages."""

    def __init__(self, url: str, storage_options: Mapping[str, str] | None = None) -> None:
        """Open ``url`` with the user's ``storage_options`` (``--storage-option``).

        On S3 the options go through ``s3fs_options`` and the bucket must
        exist and be listable (it is never created: a typo must not make a
        new bucket); other remote schemes get the options as fsspec's own.
        Raises BadArguments for bad options, OSError when storage refuses.
        """
        options = dict(storage_options or {})
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme in ("s3", "s3a"):
            kwargs: dict[str, Any] = s3fs_options(options)
        elif options and scheme in _WITHOUT_OPTIONS:
            raise BadArguments(
                f"Storage options are only used with a data location on object storage "
                f"(such as s3://bucket/prefix), not with '{url}'"
            )
        else:
            kwargs = options
        fs, path = fsspec.core.url_to_fs(url, **kwargs)
        self.url = url
        self.fs: AbstractFileSystem = fs
        self.path: str = path.rstrip("/")
        if is_s3(fs):
            check_bucket(kwargs, self.path)
        else:
            self.fs.makedirs(self.path, exist_ok=True)

    def subdir(self, relative: str) -> DirFileSystem:
        """A filesystem rooted at ``relative`` below the data root."""
        return DirFileSystem(path=f"{self.path}/{relative}", fs=self.fs)

    def full_path(self, relative: str) -> str:
        """The underlying filesystem's path of ``relative`` below the data root."""
        return f"{self.path}/{relative}"
