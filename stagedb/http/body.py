"""Reading request bodies as streams of chunks, with the size limit and clean errors.

Whatever goes wrong while a body arrives (the client disconnects, the body is
malformed or truncated, the size limit trips) surfaces as a StageDBError from
the chunk iterator, so the storage discards the half-written file and the
client (if still there) gets a JSON error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http import HttpProcessingError

from stagedb.errors import ClientDisconnected, MalformedBody, UploadTooLarge

CHUNK = 1024 * 1024
"""Largest piece of a body read at a time."""


class UploadBudget:
    """``max_upload_size`` for one request: the bytes its body may hold."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def check_declared(self, request: web.Request) -> None:
        """Refuse a request whose Content-Length is over the limit, before reading it."""
        length = request.content_length
        if length is not None and length > self.limit:
            raise UploadTooLarge(
                f"The request body ({length} bytes) is larger than max_upload_size "
                f"({self.limit} bytes)"
            )

    async def metered(self, chunks: AsyncIterator[bytes], name: str) -> AsyncIterator[bytes]:
        """Pass ``chunks`` through, failing once the request went over the limit."""
        async for chunk in chunks:
            self.used += len(chunk)
            if self.used > self.limit:
                raise UploadTooLarge(
                    f"The upload of '{name}' went over max_upload_size ({self.limit} bytes)"
                )
            yield chunk


async def raw_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The raw request body (Content-Length or chunked)."""
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            yield chunk
    except HttpProcessingError as error:
        raise MalformedBody(f"Malformed request body: {error.message}") from None
    except ConnectionError:
        raise ClientDisconnected("The client disconnected during the upload") from None
