"""External stages' filesystems: built in a worker thread, once per location."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from stagedb.errors import BadArguments, StorageUnsupported
from stagedb.storage import external_cache
from stagedb.storage.external_cache import ExternalFilesystems

S3_URL = "s3://bucket/prefix/"
S3_CONNECTION = {"endpoint_url": "http://127.0.0.1:9", "access_key_id": "a", "region": "r"}


@pytest.fixture
def builder_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads the real ``external_filesystem`` is called in (it still does the work)."""
    threads: list[int] = []
    real = external_cache.external_filesystem

    def recording(url: str, connection: dict[str, str]) -> object:
        threads.append(threading.get_ident())
        return real(url, connection)

    monkeypatch.setattr(external_cache, "external_filesystem", recording)
    return threads


def test_built_off_the_event_loop_once_per_location(
    tmp_path: Path, builder_threads: list[int]
) -> None:
    async def scenario() -> None:
        cache = ExternalFilesystems()
        local = await cache.get(f"fs://{tmp_path}/", {})
        assert await cache.get(f"fs://{tmp_path}/", {}) is local
        s3 = await cache.get(S3_URL, S3_CONNECTION)
        assert await cache.get(S3_URL, dict(reversed(S3_CONNECTION.items()))) is s3
        other = await cache.get(S3_URL, {**S3_CONNECTION, "access_key_id": "b"})
        assert other is not s3 and other.fs.key == "b" and s3.fs.key == "a"
        assert (local.path, s3.path) == (str(tmp_path), "bucket/prefix")
        assert len(builder_threads) == 3
        assert threading.get_ident() not in builder_threads

    asyncio.run(scenario())


def test_least_recently_used_location_is_built_again(
    tmp_path: Path, builder_threads: list[int]
) -> None:
    urls = [f"fs://{tmp_path / name}/" for name in ("a", "b", "c")]

    async def scenario() -> None:
        cache = ExternalFilesystems(size=2)
        first = await cache.get(urls[0], {})
        await cache.get(urls[1], {})
        assert await cache.get(urls[0], {}) is first  # now the most recently used
        await cache.get(urls[2], {})  # evicts urls[1]
        assert await cache.get(urls[0], {}) is first
        await cache.get(urls[1], {})
        assert len(builder_threads) == 4

    asyncio.run(scenario())


def test_failures_are_raised_and_not_kept(builder_threads: list[int]) -> None:
    async def scenario() -> None:
        cache = ExternalFilesystems()
        for _ in range(2):
            with pytest.raises(BadArguments, match="Unknown CONNECTION option"):
                await cache.get(S3_URL, {"colour": "red"})
        with pytest.raises((BadArguments, StorageUnsupported)):
            await cache.get("ftp://host/x/", {})
        assert len(builder_threads) == 3

    asyncio.run(scenario())
