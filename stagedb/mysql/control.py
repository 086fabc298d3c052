"""Connection bookkeeping for the MySQL port: SHOW PROCESSLIST and KILL read it, and a
shutdown closes every connection."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from mysql_mimic.constants import KillKind
from mysql_mimic.control import LocalControl, TooManyConnections


class ServerControl(LocalControl):
    """mysql-mimic's in-memory control that also closes all connections on shutdown
    and refuses connections beyond ``max_connections``."""

    def __init__(self, max_connections: int = 151) -> None:
        super().__init__()
        self.max_connections = max_connections
        self._open: set[int] = set()
        self._all_closed = asyncio.Event()
        self._all_closed.set()

    async def add(self, connection: Any) -> int:
        """Register a new connection; return its id (TooManyConnections over the limit)."""
        if len(self._open) >= self.max_connections:
            raise TooManyConnections()
        connection_id = int(await super().add(connection))
        self._open.add(connection_id)
        self._all_closed.clear()
        return connection_id

    def connections(self) -> list[Any]:
        """The open connections (logged in or not), oldest first."""
        return list(self._connections.values())

    async def remove(self, connection_id: int) -> None:
        """Forget a closed connection."""
        await super().remove(connection_id)
        self._open.discard(connection_id)
        if not self._open:
            self._all_closed.set()

    async def close_all(self, timeout: float = 5.0) -> None:
        """Kill every open connection and wait (up to ``timeout``) until they are gone."""
        for connection_id in list(self._open):
            await self.kill(connection_id, KillKind.CONNECTION)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_closed.wait(), timeout)
