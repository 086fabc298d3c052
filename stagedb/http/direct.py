"""Large request bodies read straight from the socket by a worker thread.

aiohttp hands a body to the event loop in pieces of at most 256 KiB, each a
fresh ``bytes`` object that then crosses to a worker thread to be written:
receiving and writing take turns and the hand-offs cost more CPU than the
copies.  For a large body (``Content-Length`` of at least
:data:`DIRECT_MIN_BYTES`) on a plain TCP connection, the upload handlers
instead take the body over: the connection stops reading (the transport is
paused, so aiohttp's parser sees nothing more), the bytes aiohttp had already
buffered are taken from the request's stream, and one worker thread of a
small pool reads the rest of the body, exactly ``Content-Length`` bytes, from
a duplicate of the socket's descriptor, blocking only itself.  The connection
is closed after the response (its HTTP parser never saw the body's end).

Bodies that are small, chunked, compressed or sent over TLS, and any body when
all workers are busy, keep the streaming path through aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import hdrs, web

from stagedb.errors import ClientDisconnected, StageDBError
from stagedb.memory import release_free_memory

logger = logging.getLogger(__name__)

DIRECT_MIN_BYTES = 4 * 1024 * 1024
"""Bodies at least this large (by Content-Length) are read by a worker thread."""

DIRECT_WORKERS = 16
"""Bodies read directly at the same time; more wait on the streaming path."""

BODY_IDLE_TIMEOUT = 60.0
"""Seconds without a byte of body after which an upload is abandoned."""

LINGER_SECONDS = 10.0
"""Longest time spent reading (and dropping) the rest of a body refused midway."""

READ_SIZE = 1024 * 1024
"""Largest piece read from the socket at a time."""

CLOSE_AFTER_RESPONSE = "stagedb.close_after_response"
"""Request key: the connection must close after this response (see error_bodies.ErrorBodies)."""

T = TypeVar("T")


class DirectBody:
    """The unread part of one request's body, readable with blocking calls."""

    def __init__(
        self,
        fd: int,
        buffered: list[bytes],
        remaining: int,
        timeout: float,
        closing: Callable[[], bool],
    ) -> None:
        self.fd = fd
        self._closing = closing
        self.buffered = buffered
        self.remaining = remaining
        self.stopped = False
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._timeout = timeout

    def wait_readable(self) -> None:
        """Block until the socket has data.

        Gives up after the idle timeout, on :meth:`stop`, or once aiohttp
        closes the connection (server shutdown): checked twice a second.
        """
        waited = 0.0
        while not self._poller.poll(500):
            if self.stopped or self._closing():
                raise ClientDisconnected("The upload was cancelled (the server is stopping)")
            waited += 0.5
            if waited >= self._timeout:
                logger.info("Abandoning an upload: no body byte for %.0f s", waited)
                raise ClientDisconnected(
                    f"The client sent no data for {self._timeout:g} seconds; upload abandoned"
                )

    def read(self) -> bytes:
        """The next piece of the body (already-buffered bytes first); b"" at its end."""
        if self.buffered:
            return self.buffered.pop(0)
        while self.remaining > 0:
            try:
                data = os.read(self.fd, min(self.remaining, READ_SIZE))
            except BlockingIOError:
                self.wait_readable()
                continue
            except ConnectionError:
                data = b""
            if not data:
                raise ClientDisconnected("The client disconnected during the upload")
            self.remaining -= len(data)
            return data
        return b""

    def drain(self, seconds: float = LINGER_SECONDS) -> None:
        """Read and drop the rest of the body for at most ``seconds``.

        A client that sends its whole body before reading the answer (most
        HTTP libraries) would otherwise see the connection reset, not the
        error, when the server stops reading early: aiohttp lingers the same way.
        """
        self.buffered.clear()
        deadline = time.monotonic() + seconds
        with contextlib.suppress(ClientDisconnected, OSError):
            while self.remaining > 0 and time.monotonic() < deadline:
                self.read()

    def stop(self) -> None:
        """Make the reading thread give up at its next wait."""
        self.stopped = True

    def close(self) -> None:
        """Release the duplicated descriptor."""
        os.close(self.fd)


def _eligible(request: web.Request) -> bool:
    length = request.content_length
    if length is None or length < DIRECT_MIN_BYTES or not sys.platform.startswith("linux"):
        return False
    if hdrs.TRANSFER_ENCODING in request.headers or hdrs.CONTENT_ENCODING in request.headers:
        return False
    transport = request.transport
    return transport is not None and transport.get_extra_info("sslcontext") is None


class DirectReceiver:
    """The worker threads that read large bodies straight from their sockets."""

    def __init__(
        self, workers: int = DIRECT_WORKERS, idle_timeout: float = BODY_IDLE_TIMEOUT
    ) -> None:
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="stagedb-upload")
        self.free = workers
        self.idle_timeout = idle_timeout
        self.active: set[DirectBody] = set()

    def take(self, request: web.Request) -> DirectBody | None:
        """Take over ``request``'s body if it is large, plain and a worker is free.

        Call :meth:`run` right after: from here on the body can only be read
        (or drained) by the worker, and the descriptor is released by ``run``.
        """
        if self.free <= 0 or not _eligible(request):
            return None
        transport = request.transport
        socket = transport.get_extra_info("socket") if transport is not None else None
        if transport is None or socket is None:
            return None
        stream = request.content
        # aiohttp's parser may hold received bytes it has not fed to the stream
        # yet (flow control paused it): let it feed them all, then drain.
        stream.set_read_chunk_size(16 * 1024 * 1024)
        request.protocol.resume_reading()
        buffered: list[bytes] = []
        while chunk := stream.read_nowait():
            buffered.append(chunk)
        stream.feed_eof()  # aiohttp must not wait for (or linger over) the rest
        # Last, since each call above may resume reading; no await since the
        # drain, so nothing arrived in between.  Nothing in aiohttp resumes it
        # before the handler returns, and the connection closes after that.
        transport.pause_reading()
        request[CLOSE_AFTER_RESPONSE] = True
        assert request.content_length is not None
        remaining = request.content_length - sum(map(len, buffered))
        fd = os.dup(socket.fileno())  # ours, even if the transport closes meanwhile
        os.set_blocking(fd, False)

        def closing() -> bool:  # aiohttp's shutdown fails the stream, then closes
            return stream.exception() is not None or transport.is_closing()

        return DirectBody(fd, buffered, remaining, self.idle_timeout, closing)

    async def run(self, body: DirectBody, work: Callable[[], T]) -> T:
        """Run ``work`` (which reads ``body``) in a worker thread; close ``body`` after.

        If ``work`` refuses the body midway (a StageDBError other than a
        disconnect), the rest of the body is drained before the error answers.
        """

        def work_then_drain() -> T:
            try:
                return work()
            except ClientDisconnected:
                raise
            except StageDBError:
                body.drain()
                raise
            finally:
                release_free_memory()  # the body's megabyte pieces, kept by malloc

        self.free -= 1
        self.active.add(body)
        future: asyncio.Future[T] | None = None
        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, work_then_drain)
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            body.stop()
            raise
        finally:
            self.free += 1
            self.active.discard(body)
            if future is None or future.done():  # not started (shut down), or finished
                body.close()
            else:
                future.add_done_callback(lambda _: body.close())

    def stop_all(self) -> None:
        """Make every upload in progress give up at its next wait (server shutdown)."""
        for body in self.active:
            body.stop()

    def shutdown(self) -> None:
        """Stop taking work; running uploads end at their next wait."""
        self.executor.shutdown(wait=False, cancel_futures=True)
