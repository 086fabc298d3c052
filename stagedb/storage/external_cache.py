"""External stages' filesystems, built off the event loop and reused.

Building one can block: gcsfs looks credentials up (possibly over the
network, from a metadata server), s3fs and adlfs set clients up.  So each is
built in a worker thread, once per location: a filesystem depends only on
the stage's URL and CONNECTION options, and those are the cache key, so a
stage replaced with other credentials gets a new filesystem.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from fsspec.implementations.dirfs import DirFileSystem

from stagedb.storage.external import external_filesystem

CACHE_SIZE = 256
"""External locations whose filesystems are kept (least recently used go first)."""

_Key = tuple[str, tuple[tuple[str, str], ...]]


class ExternalFilesystems:
    """Filesystems rooted at external stage locations, cached by URL and CONNECTION."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._built: OrderedDict[_Key, DirFileSystem] = OrderedDict()

    async def get(self, url: str, connection: dict[str, str]) -> DirFileSystem:
        """The filesystem of the location ``url`` with ``connection``.

        Raises what ``external_filesystem`` raises (BadArguments,
        StorageUnsupported); a failure is not cached.
        """
        key: _Key = (url, tuple(sorted(connection.items())))
        fs = self._built.get(key)
        if fs is not None:
            self._built.move_to_end(key)
            return fs
        fs = await asyncio.to_thread(external_filesystem, url, connection)
        self._built[key] = fs
        while len(self._built) > self.size:
            self._built.popitem(last=False)
        return fs
