"""The lifetime of a query's DuckDB cursor: released exactly once, never on the event loop.

A cursor is released (interrupted, then closed, in a DuckDB thread) at the first of:

* its rows end or fail, or its result is closed (``release`` / ``aclose``);
* its rows are garbage (``release_with``): a result dropped unread;
* the asyncio task that opened it ends (a MySQL connection, an HTTP request).
  A client that goes away mid-result leaves the result in a reference cycle
  (through the traceback of the connection's error), which only Python's
  cycle collector would free, at a time nobody knows; the task's end is the
  moment the result can no longer be read.

``open_cursors()`` counts the cursors not released yet; the DEBUG log says it
at every change ("query cursor closed (0 open)").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from concurrent.futures import Executor
from typing import Any

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
_OPEN = [0]
_BY_TASK: weakref.WeakKeyDictionary[asyncio.Task[Any], set[QueryCursor]] = (
    weakref.WeakKeyDictionary()
)


def open_cursors() -> int:
    """Query cursors of this process not released yet."""
    return _OPEN[0]


class QueryCursor:
    """A query's DuckDB cursor (a connection of the process's database) and its release."""

    def __init__(self, cursor: Any, executor: Executor) -> None:
        self.cursor = cursor
        self._executor = executor
        self._released = False
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._owners: set[QueryCursor] | None = None
        with _LOCK:
            _OPEN[0] += 1
            count = _OPEN[0]
        logger.debug("query cursor opened (%d open)", count)
        self._bind_to_task()

    def _bind_to_task(self) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            return
        if task is None:
            return
        with _LOCK:
            owned = _BY_TASK.get(task)
            if owned is None:
                owned = _BY_TASK[task] = set()
                task.add_done_callback(_task_ended)
            owned.add(self)
            self._owners = owned

    def release_with(self, owner: object) -> None:
        """Also release the cursor once ``owner`` (the rows) is garbage."""
        self._finalizer = weakref.finalize(owner, self.release_soon)
        self._finalizer.atexit = False

    def release_soon(self) -> None:
        """Hand the release to a DuckDB thread (from any thread; never blocks)."""
        if not self._released:
            with contextlib.suppress(RuntimeError):  # the process is shutting down
                self._executor.submit(self.release)

    def release(self) -> None:
        """Interrupt and close the cursor, once (blocks: call it in a DuckDB thread)."""
        with _LOCK:
            if self._released:
                return
            self._released = True
            _OPEN[0] -= 1
            count = _OPEN[0]
            if self._owners is not None:
                self._owners.discard(self)
        if self._finalizer is not None:
            self._finalizer.detach()
        try:
            self.cursor.interrupt()
        finally:
            self.cursor.close()
            logger.debug("query cursor closed (%d open)", count)

    async def aclose(self) -> None:
        """``release`` from the event loop, carried through even if the caller is cancelled."""
        if not self._released:
            loop = asyncio.get_running_loop()
            await asyncio.shield(loop.run_in_executor(self._executor, self.release))


def _task_ended(task: asyncio.Task[Any]) -> None:
    with _LOCK:
        owned = list(_BY_TASK.pop(task, ()))
    for cursor in owned:
        cursor.release_soon()
