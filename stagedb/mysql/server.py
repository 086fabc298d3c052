"""Building the mysql-mimic server for stagedb."""

from __future__ import annotations

import asyncio
import logging
import secrets
from ssl import SSLContext
from typing import Any

from mysql_mimic import MysqlServer
from mysql_mimic.auth import IdentityProvider, NativePasswordAuthPlugin, User
from mysql_mimic.constants import DEFAULT_SERVER_CAPABILITIES
from mysql_mimic.control import TooManyConnections
from mysql_mimic.errors import MysqlError
from mysql_mimic.stream import ConnectionClosed
from mysql_mimic.types import Capabilities

from stagedb import __version__
from stagedb.engine import Engine
from stagedb.errors import TooManyConnections as TooManyConnectionsError
from stagedb.mysql.connection import LimitedStream, LoginRefused, MysqlLimits, StageConnection
from stagedb.mysql.control import ServerControl
from stagedb.mysql.replies import ServerStats
from stagedb.mysql.session import StageSession
from stagedb.throttle import LoginThrottle, ThrottlePolicy
from stagedb.users import Users

logger = logging.getLogger(__name__)


class _UserErrorFilter(logging.Filter):
    """mysql-mimic logs every error a client caused (1064, 1051, ...) at ERROR level;
    those are answers, not server faults: keep them at DEBUG.  It also logs every
    statement's text at DEBUG, which may hold CONNECTION secrets: drop that."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Received query: %s":
            return False
        if isinstance(record.msg, MysqlError):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("mysql_mimic.connection").addFilter(_UserErrorFilter())

# Without CLIENT_DEPRECATE_EOF result sets end with a classic EOF packet.
# mysql-mimic's EOF-replacing OK packet carries the row count as affected rows,
# which crashes MariaDB Connector/J 2.x ("Index 7 out of bounds"): Metabase and
# DBeaver use it.
SERVER_CAPABILITIES = DEFAULT_SERVER_CAPABILITIES & ~Capabilities.CLIENT_DEPRECATE_EOF


_UNMATCHABLE = secrets.token_hex(20)


class StageIdentityProvider(IdentityProvider):
    """Authenticates stagedb's users with mysql_native_password."""

    def __init__(self, users: Users) -> None:
        self.users = users

    async def get_user(self, username: str) -> User | None:
        """The stored credentials of ``username``.

        An unknown user gets a verifier no password matches, so that a wrong
        name and a wrong password both answer 1045 (no probing for names).
        """
        try:
            verifier = await self.users.native_password_verifier(username)
        except LookupError:
            verifier = _UNMATCHABLE
        return User(name=username, auth_string=verifier, auth_plugin=NativePasswordAuthPlugin.name)


class StageServer(MysqlServer):
    """mysql-mimic's server with stagedb's connections (see ``stagedb.mysql.connection``).

    A client that hangs up during the handshake is not an error: TCP health
    checks (load balancers, readiness probes) connect and close at once, and a
    refused login ends with the connection closed.  Over ``max_connections`` a
    client gets MySQL's 1040 "Too many connections" in place of the handshake.
    """

    def __init__(self, *, limits: MysqlLimits, throttle: LoginThrottle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits
        self.throttle = throttle
        self.stats = ServerStats()

    async def _client_connected_cb(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await self._serve(LimitedStream(reader, writer, self.limits))
        except (ConnectionError, ConnectionClosed, asyncio.IncompleteReadError) as error:
            logger.debug("Client went away: %s", error)
        except LoginRefused as refused:
            logger.debug("Login refused: %s", refused)
        finally:
            writer.close()

    async def _serve(self, stream: LimitedStream) -> None:
        connection = StageConnection(
            stream=stream,
            session=self.session_factory(),
            control=self.control,
            server_capabilities=self.capabilities,
            identity_provider=self.identity_provider,
            ssl=self.ssl,
            throttle=self.throttle,
            stats=self.stats,
        )
        try:
            connection.connection_id = await self.control.add(connection)
        except TooManyConnections:
            logger.warning("Refused a MySQL connection: max_connections reached")
            await stream.fail(TooManyConnectionsError(self.limits.max_connections))
            return
        try:
            await connection.start()
        finally:
            await self.control.remove(connection.connection_id)


def build_mysql_server(
    engine: Engine,
    users: Users,
    *,
    limits: MysqlLimits | None = None,
    throttle: LoginThrottle | None = None,
    ssl: SSLContext | None = None,
) -> MysqlServer:
    """A mysql-mimic server whose sessions run stage statements on ``engine``."""
    limits = limits or MysqlLimits()
    return StageServer(
        session_factory=lambda: StageSession(engine, __version__),
        capabilities=SERVER_CAPABILITIES,
        identity_provider=StageIdentityProvider(users),
        control=ServerControl(limits.max_connections),
        ssl=ssl,
        limits=limits,
        throttle=throttle or LoginThrottle(ThrottlePolicy()),
    )
