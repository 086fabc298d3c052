"""A Python client for stagedb's HTTP port: stages, files, presigned URLs, uploads and downloads.

::

    from stagedb.client import StageClient

    client = StageClient("http://127.0.0.1:8000", user="root", password="")
    client.create_stage("landing")
    client.upload("exports/", "landing", path="data/")  # a folder, recursively
    client.list_files("landing", path="data/")

Built on aiohttp's client (one connection pool per call, kept alive, with
``parallel`` requests in flight; an upload sends up to ``batch_files`` small
files of one folder per request, as parts of one multipart body).  Calls are
synchronous; each runs its own event loop (in a helper thread when the caller
already runs one).  Transient
failures (connection errors, timeouts, 429, 502, 503, 504) are retried with
jittered exponential backoff, honouring ``Retry-After``; uploads are safe to
retry because a file is replaced whole.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
TRANSIENT_STATUSES = (429, 502, 503, 504)
BATCH_FILES = 32
"""Small files sent in one upload request (the upload API takes several parts)."""
BATCH_BYTES = 4 * 1024 * 1024
"""Bytes of small files per upload request; a larger file goes alone, streamed."""


class StageClientError(Exception):
    """The server refused a request: HTTP status, stagedb error code and message."""

    def __init__(self, status: int, code: str | int | None, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message


class TransferProgress(Protocol):
    """What ``upload`` and ``download`` report to, e.g. a progress bar."""

    def start(self, files: int, total_bytes: int) -> None:
        """Called once, with the totals, before the first file moves."""

    def advance(self, name: str, size: int) -> None:
        """Called once per file done (its stage path and size)."""


@dataclass(frozen=True)
class LocalFile:
    """A local file to upload: where it is, its size, and its stage directory and name."""

    source: Path
    size: int
    directory: str
    name: str

    @property
    def stage_path(self) -> str:
        """Where the file lands in the stage."""
        return f"{self.directory}/{self.name}" if self.directory else self.name


def normalize_stage_path(path: str) -> str:
    """Zilliz's rule: ``""`` and ``"/"`` are the stage root, any other path gets a trailing
    ``/``."""
    path = path.lstrip("/")
    return path if not path or path.endswith("/") else path + "/"


def plan_upload(local: str | os.PathLike[str], path: str = "data/") -> list[LocalFile]:
    """The files ``upload`` sends: a file lands at ``path + name``; a folder is walked
    recursively and each file lands at ``path + its path relative to the folder``."""
    source = Path(local)
    base = normalize_stage_path(path)
    if source.is_file():
        return [LocalFile(source, source.stat().st_size, base.rstrip("/"), source.name)]
    if not source.is_dir():
        raise FileNotFoundError(f"No such file or folder: {source}")
    found: list[LocalFile] = []
    for folder, dirs, names in os.walk(source):
        dirs.sort()
        relative = Path(folder).relative_to(source).as_posix()
        directory = (base + ("" if relative == "." else relative)).rstrip("/")
        for name in sorted(names):
            file = Path(folder) / name
            if file.is_file():
                found.append(LocalFile(file, file.stat().st_size, directory, name))
    return found


def _batches(files: list[LocalFile], batch_files: int = BATCH_FILES) -> list[list[LocalFile]]:
    """Upload requests: small files of one directory together, each large file alone."""
    batches: list[list[LocalFile]] = []
    current: list[LocalFile] = []
    current_bytes = 0
    for file in files:
        if file.size > BATCH_BYTES:
            batches.append([file])
            continue
        if current and (
            current[0].directory != file.directory
            or len(current) >= batch_files
            or current_bytes + file.size > BATCH_BYTES
        ):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(file)
        current_bytes += file.size
    if current:
        batches.append(current)
    return batches


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion, also from code that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class StageClient:
    """stagedb's HTTP port as Python calls (Snowflake-style REST plus the upload API)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        user: str = "root",
        password: str = "",
        token: str | None = None,
        database: str = "stagedb",
        schema: str = "public",
        parallel: int = 8,
        batch_files: int = BATCH_FILES,
        retries: int = 5,
        timeout: float = 300.0,
    ) -> None:
        self.url = URL(url.rstrip("/") + "/")
        self.user = user
        self._password = password
        self._token = token
        self.parallel = max(1, parallel)
        self.batch_files = max(1, batch_files)
        self.retries = max(1, retries)
        self.timeout = timeout
        self._stages = f"api/v2/databases/{quote(database)}/schemas/{quote(schema)}/stages"

    def __repr__(self) -> str:  # never the password or token
        auth = "token" if self._token else f"user={self.user!r}"
        return f"StageClient({str(self.url)!r}, {auth})"

    # -- plumbing ---------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        headers = {}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
            headers["X-Snowflake-Authorization-Token-Type"] = "PROGRAMMATIC_ACCESS_TOKEN"
        else:
            pair = f"{self.user}:{self._password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=self.parallel * 2),
            # no total: a large transfer may take long; a silent peer may not
            timeout=aiohttp.ClientTimeout(sock_connect=self.timeout, sock_read=self.timeout),
        )

    def _stage_url(self, *parts: str) -> URL:
        path = "/".join([self._stages, *(quote(p, safe="~") for p in parts)])
        return self.url.join(URL(path, encoded=True))

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL | str,
        *,
        body: Callable[[], Awaitable[Any]] | None = None,
        **kwargs: Any,
    ) -> tuple[Any, aiohttp.ClientResponse]:
        """One request with retries of transient failures; (JSON body, response)."""
        for attempt in range(self.retries):
            delay = min(5.0, 0.1 * 2**attempt) * (0.5 + random.random())
            try:
                data = await body() if body is not None else None
                async with session.request(method, url, data=data, **kwargs) as response:
                    raw = await response.read()
                    if response.status in TRANSIENT_STATUSES and attempt + 1 < self.retries:
                        retry_after = response.headers.get("Retry-After", "")
                        if retry_after.isdigit():
                            delay = float(retry_after)
                    else:
                        return _checked(response, raw), response
            except (TimeoutError, aiohttp.ClientConnectionError):
                if attempt + 1 >= self.retries:
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _pages(self, session: aiohttp.ClientSession, url: URL) -> list[Any]:
        """Every item of a paged list, following ``Link: <...>; rel="next"``."""
        items: list[Any] = []
        next_url: URL | None = url
        while next_url is not None:
            page, response = await self._call(session, "GET", next_url)
            items.extend(page)
            link = response.links.get("next")
            next_url = self.url.join(URL(str(link["url"]))) if link else None
        return items

    # -- stages -----------------------------------------------------------------------

    def create_stage(
        self,
        name: str,
        *,
        url: str | None = None,
        credentials: dict[str, str] | None = None,
        endpoint: str | None = None,
        comment: str | None = None,
        mode: str = "errorIfExists",
    ) -> None:
        """Create a stage (internal without ``url``); ``mode``: errorIfExists, orReplace or
        ifNotExists.  ``credentials`` as Snowflake's: ``{"aws_key_id": ..., ...}``."""
        stage: dict[str, Any] = {"name": name, "url": url, "endpoint": endpoint}
        stage["comment"] = comment
        if credentials:
            stage["credentials"] = {"credential_type": "AWS", **credentials}

        async def create() -> None:
            async with self._session() as session:
                url_ = self._stage_url().with_query(createMode=mode)
                await self._call(session, "POST", url_, json=stage)

        _run(create())

    def list_stages(self, like: str | None = None) -> list[dict[str, Any]]:
        """Every stage (``like``: a case-insensitive SQL pattern), all pages."""

        async def listing() -> list[dict[str, Any]]:
            async with self._session() as session:
                url = self._stage_url()
                return await self._pages(session, url.with_query(like=like) if like else url)

        return _run(listing())

    def get_stage(self, name: str) -> dict[str, Any]:
        """One stage's properties."""

        async def fetch() -> dict[str, Any]:
            async with self._session() as session:
                stage, _ = await self._call(session, "GET", self._stage_url(name))
                return dict(stage)

        return _run(fetch())

    def drop_stage(self, name: str, *, if_exists: bool = False) -> None:
        """Drop a stage (an internal stage's files go with it)."""

        async def drop() -> None:
            async with self._session() as session:
                url = self._stage_url(name).with_query(ifExists=str(if_exists).lower())
                await self._call(session, "DELETE", url)

        _run(drop())

    def list_files(
        self, stage: str, path: str = "", pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """LIST @stage/path [PATTERN]: ``{name, size, md5, last_modified}`` (size as int)."""
        return _run(self._list_files(stage, path, pattern))

    async def _list_files(
        self,
        stage: str,
        path: str,
        pattern: str | None,
        session: aiohttp.ClientSession | None = None,
    ) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("prefix", path), ("pattern", pattern)) if v}
        url = self._stage_url(stage, "files").with_query(query)
        if session is None:
            async with self._session() as own:
                files = await self._pages(own, url)
        else:
            files = await self._pages(session, url)
        return [{**f, "size": int(f["size"])} for f in files]

    def presign(self, stage: str, path: str, *, mode: str = "download", expire: int = 3600) -> str:
        """A presigned URL to download (GET) or upload (PUT the raw body) one file."""

        async def presign() -> str:
            async with self._session() as session:
                return await self._presign(session, stage, path, mode, expire)

        return _run(presign())

    async def _presign(
        self, session: aiohttp.ClientSession, stage: str, path: str, mode: str, expire: int
    ) -> str:
        url = self._stage_url(stage, "files", path + ":presigned-url")
        body = {"mode": mode, "expiration_time": expire}
        answer, _ = await self._call(session, "POST", url, json=body)
        return str(answer["presigned_url"])

    # -- uploads and downloads ----------------------------------------------------------

    def upload(
        self,
        local: str | os.PathLike[str],
        stage: str,
        path: str = "data/",
        *,
        progress: TransferProgress | None = None,
    ) -> dict[str, Any]:
        """Upload a file, or a folder recursively (relative paths kept), to ``stage``/``path``.

        Returns ``{"stageName", "path", "files"}`` (the stage paths written).
        """
        files = plan_upload(local, path)
        if progress is not None:
            progress.start(len(files), sum(f.size for f in files))
        _run(self._upload(files, stage, progress))
        return {
            "stageName": stage,
            "path": normalize_stage_path(path),
            "files": [f.stage_path for f in files],
        }

    async def _upload(
        self, files: list[LocalFile], stage: str, progress: TransferProgress | None
    ) -> None:
        url = self.url.join(URL("v1/upload_to_stage"))
        async with self._session() as session:
            queue = list(reversed(_batches(files, self.batch_files)))

            async def worker() -> None:
                while queue:
                    batch = queue.pop()
                    headers = {"stage_name": stage, "relative_path": batch[0].directory}
                    await self._call(session, "PUT", url, body=_form(batch), headers=headers)
                    if progress is not None:
                        for file in batch:
                            progress.advance(file.stage_path, file.size)

            await _all(worker() for _ in range(min(self.parallel, len(queue)) or 1))

    def download(
        self,
        stage: str,
        path: str,
        local: str | os.PathLike[str],
        *,
        progress: TransferProgress | None = None,
    ) -> dict[str, Any]:
        """Download the files under ``stage``/``path`` into ``local`` (a folder; or a file
        name when ``path`` names one file).  Names are kept relative to ``path``'s folder."""
        return _run(self._download(stage, path, Path(local), progress))

    async def _download(
        self, stage: str, path: str, local: Path, progress: TransferProgress | None
    ) -> dict[str, Any]:
        async with self._session() as session, self._plain_session() as plain:
            files = await self._list_files(stage, path, None, session)
            base = path.rpartition("/")[0] + "/" if "/" in path else ""
            single = len(files) == 1 and files[0]["name"] == path and not local.is_dir()
            targets = [(f, local if single else local / f["name"][len(base) :]) for f in files]
            if progress is not None:
                progress.start(len(files), sum(f["size"] for f in files))
            queue = list(reversed(targets))

            async def worker() -> None:
                while queue:
                    file, target = queue.pop()
                    url = await self._presign(session, stage, file["name"], "download", 3600)
                    await self._fetch(plain, url, target)
                    if progress is not None:
                        progress.advance(file["name"], file["size"])

            await _all(worker() for _ in range(min(self.parallel, len(queue)) or 1))
        return {"stageName": stage, "path": path, "files": [str(t) for _, t in targets]}

    def _plain_session(self) -> aiohttp.ClientSession:
        """For presigned URLs, which carry their own credentials: none of ours go with them."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.parallel * 2),
            # no total: a large transfer may take long; a silent peer may not
            timeout=aiohttp.ClientTimeout(sock_connect=self.timeout, sock_read=self.timeout),
        )

    async def _fetch(self, plain: aiohttp.ClientSession, url: str, target: Path) -> None:
        """GET a presigned URL into ``target`` atomically (a temporary file renamed)."""
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        for attempt in range(self.retries):
            try:
                async with plain.get(url) as response:
                    if response.status != 200:
                        _checked(response, await response.read())
                    out = await asyncio.to_thread(open, temp, "wb")
                    try:  # the disk is used from worker threads only
                        async for chunk in response.content.iter_chunked(1024 * 1024):
                            await asyncio.to_thread(out.write, chunk)
                    finally:
                        await asyncio.to_thread(out.close)
                await asyncio.to_thread(os.replace, temp, target)
                return
            except (TimeoutError, aiohttp.ClientConnectionError):
                await asyncio.to_thread(temp.unlink, missing_ok=True)
                if attempt + 1 >= self.retries:
                    raise
                await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
            except BaseException:
                await asyncio.shield(asyncio.to_thread(temp.unlink, missing_ok=True))
                raise


def _form(batch: list[LocalFile]) -> Callable[[], Awaitable[aiohttp.FormData]]:
    """A fresh multipart body for each attempt (a FormData can be sent only once)."""

    async def build() -> aiohttp.FormData:
        form = aiohttp.FormData(quote_fields=False)
        if len(batch) == 1 and batch[0].size > BATCH_BYTES:
            file = batch[0]
            handle = await asyncio.to_thread(open, file.source, "rb")
            form.add_field("upload", handle, filename=file.name)
            return form
        contents = await asyncio.to_thread(lambda: [f.source.read_bytes() for f in batch])
        for file, content in zip(batch, contents, strict=True):
            form.add_field("upload", content, filename=file.name)
        return form

    return build


async def _all(coroutines: Any) -> None:
    """Run worker coroutines together; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _checked(response: aiohttp.ClientResponse, raw: bytes) -> Any:
    """The JSON of a successful answer, or StageClientError with the server's message."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if response.status == 200 and not (
        isinstance(body, dict) and body.get("code") not in (None, 0)
    ):
        return body
    code: Any = None
    message = raw.decode("utf-8", "replace")[:500] or response.reason or ""
    if isinstance(body, dict):
        inner = body.get("error")
        error: dict[str, Any] = inner if isinstance(inner, dict) else body
        code = error.get("code")
        message = str(error.get("message", message))
    raise StageClientError(response.status, code, message)
