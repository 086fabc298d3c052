"""One MySQL connection with stagedb's transport rules: TLS requirement, login
throttling, packet size limit, idle and write timeouts.

mysql-mimic's Connection and MysqlStream do the protocol; this module adds the
checks MySQL makes at the same points: ``require_secure_transport`` and the
lockout before a password is looked at, ``max_allowed_packet`` on every packet
read, ``connect_timeout`` while logging in, ``wait_timeout`` between commands
and ``net_write_timeout`` on every write a client does not read.  A refused
login closes the connection at once: no session is set up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import termios
from dataclasses import dataclass
from fcntl import ioctl
from ssl import SSLContext
from typing import Any

from mysql_mimic.constants import KillKind
from mysql_mimic.errors import MysqlError
from mysql_mimic.stream import ConnectionClosed, MysqlStream

from stagedb.errors import (
    IdleTimeout,
    InsecureTransport,
    LoginThrottled,
    PacketTooLarge,
    StageDBError,
    WriteTimeout,
)
from stagedb.mysql.replies import ReplyingConnection
from stagedb.throttle import LoginThrottle

logger = logging.getLogger(__name__)

_LINGER = 5.0
"""Seconds spent discarding the rest of a too-large packet, so the client reads the error."""


@dataclass(frozen=True)
class MysqlLimits:
    """The MySQL port's limits (see Config)."""

    max_connections: int = 151
    max_packet_size: int = 64 * 1024**2
    connect_timeout: float = 10.0
    wait_timeout: float = 28800.0
    require_tls: bool = False
    write_timeout: float = 60.0


class LoginRefused(BaseException):
    """The login failed or was refused; the client has its error and the socket is closed.

    A BaseException, so that it passes mysql-mimic's ``except Exception`` handlers
    (which would send one more error and, after COM_CHANGE_USER, go on serving
    commands) and ends the connection's task; StageServer catches it.
    """


class LimitedStream:
    """mysql-mimic's packet stream with a size limit and a read timeout.

    MysqlStream is compiled (mypyc) and cannot be subclassed: this wraps one,
    reads packets itself and hands everything else (writes, TLS) to it.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: MysqlLimits
    ) -> None:
        self.inner = MysqlStream(reader, TimedWriter(writer, limits.write_timeout))
        self.reader = reader
        self.writer = writer
        # the hot paths, bound once (everything else goes through __getattr__)
        self.write = self.inner.write
        self.write_many = self.inner.write_many
        self.write_text_rows = self.inner.write_text_rows
        self.drain = self.inner.drain
        self.reset_seq = self.inner.reset_seq
        self.limits = limits
        self.timeout = limits.connect_timeout
        self.logged_in = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def start_tls(self, context: SSLContext) -> None:
        """Switch to TLS after the client's SSLRequest, losing none of its TLS bytes.

        A client sends its TLS ClientHello right behind the SSLRequest, so the
        stream reader may already hold part of it; asyncio's ``start_tls`` would
        never see those bytes and the handshake would hang.  They are handed to
        the TLS protocol right after it takes over the socket.
        """
        transport = self.writer.transport
        buffered: bytearray = self.reader._buffer  # type: ignore[attr-defined]
        leftover = bytes(buffered)
        buffered.clear()
        loop = asyncio.get_running_loop()
        switch = loop.create_task(
            loop.start_tls(
                transport,
                transport.get_protocol(),
                context,
                server_side=True,
                ssl_handshake_timeout=self.limits.connect_timeout,
            )
        )
        if leftover:
            await asyncio.sleep(0)  # start_tls installed its protocol; connection_made is next
            loop.call_soon(_feed, transport.get_protocol(), leftover)
        tls_transport = await switch
        # as mysql-mimic's MysqlStream.start_tls: the streams now use the TLS transport
        self.writer._transport = tls_transport  # type: ignore[attr-defined]
        self.reader._transport = tls_transport  # type: ignore[attr-defined]

    async def read(self) -> bytes:
        """The next packet; closes the connection (after an error) on a limit."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._read_limited()
        except TimeoutError:
            if self.logged_in:
                await self.fail(IdleTimeout())
            else:
                self.writer.transport.abort()
            raise ConnectionClosed() from None

    async def _read_limited(self) -> bytes:
        data = b""
        while True:
            header = await self.reader.read(4)
            if not header:
                raise ConnectionClosed()
            if len(header) < 4:
                header += await self.reader.readexactly(4 - len(header))
            (word,) = struct.unpack("<I", header)
            length, sequence_id = word & 0x00FFFFFF, word >> 24
            expected = next(self.inner.seq)
            if sequence_id != expected:
                raise MysqlError(
                    f"Expected seq({expected}) got seq({sequence_id})", 1156
                )  # ER_NET_PACKETS_OUT_OF_ORDER
            if len(data) + length > self.limits.max_packet_size:
                await self.fail(PacketTooLarge(), discard=length)
                raise ConnectionClosed()
            if length == 0:
                return data
            payload: bytes = await self.reader.readexactly(length)
            data += payload
            if length < 0xFFFFFF:
                return data

    async def fail(self, error: StageDBError, discard: int = 0) -> None:
        """Send ``error`` as MySQL words it, then close (after reading ``discard`` bytes)."""
        packet = (
            b"\xff"
            + struct.pack("<H", error.errno)
            + b"#"
            + error.sqlstate.encode()
            + error.message.encode()
        )
        try:
            await self.write(packet)
            if discard:
                async with asyncio.timeout(_LINGER):
                    while discard > 0 and (chunk := await self.reader.read(min(discard, 65536))):
                        discard -= len(chunk)
        except (OSError, TimeoutError, RuntimeError, WriteTimeout) as reason:
            logger.debug("Could not send %s: %s", error.name, reason)
        finally:
            self.writer.transport.abort()


class TimedWriter:
    """The connection's StreamWriter, whose ``drain`` gives up on a client that reads
    nothing for ``timeout`` seconds (MySQL's ``net_write_timeout``).

    Waiting counts only while no byte leaves (neither the transport's buffer nor
    the kernel's send queue gets shorter): a slow reader that keeps reading is
    never cut off.  On the timeout the connection is aborted (the client is
    not reading, so no error can reach it) and WriteTimeout is raised.  MysqlStream
    (compiled, not subclassable) writes through this object.
    """

    def __init__(self, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.writer = writer
        self.timeout = timeout
        self.write = writer.write

    def __getattr__(self, name: str) -> Any:
        return getattr(self.writer, name)

    async def drain(self) -> None:
        """Wait until the client has taken most of what was written (or time out)."""
        pending = _unsent(self.writer.transport)
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    await self.writer.drain()
                return
            except TimeoutError:
                transport = self.writer.transport  # TLS may have replaced it meanwhile
                left = _unsent(transport)
                if left >= pending:
                    transport.abort()
                    raise WriteTimeout() from None
                pending = left  # the client is reading, slowly: wait on


_OUTQ = getattr(termios, "TIOCOUTQ", None)
"""Linux's ioctl for the bytes a socket has not had acknowledged (SIOCOUTQ)."""


def _unsent(transport: asyncio.BaseTransport) -> int:
    """Bytes written to ``transport`` that the client has not taken yet."""
    assert isinstance(transport, asyncio.WriteTransport)
    size = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if _OUTQ is not None and sock is not None:
        with contextlib.suppress(OSError, ValueError):
            size += struct.unpack("i", ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
    return size


def _feed(protocol: asyncio.BaseProtocol, data: bytes) -> None:
    """Deliver ``data`` to ``protocol`` as if it had just arrived from the socket."""
    if isinstance(protocol, asyncio.BufferedProtocol):
        view = memoryview(data)
        while view:
            buffer = memoryview(protocol.get_buffer(len(view)))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            protocol.buffer_updated(size)
            view = view[size:]
    elif isinstance(protocol, asyncio.Protocol):
        protocol.data_received(data)


class StageConnection(ReplyingConnection):
    """One client connection of the MySQL port: stagedb's answers and login rules."""

    def __init__(self, *, throttle: LoginThrottle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.throttle = throttle
        peer = self.stream.writer.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) else "localhost"
        # where the client connects from, as SHOW PROCESSLIST's Host shows it
        self.host = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "localhost"

    @property
    def user(self) -> str | None:
        """The logged-in user (None until the login succeeded)."""
        user: str | None = self.session.username
        return user

    @property
    def database(self) -> str | None:
        """The session's current database."""
        database: str | None = self.session.database
        return database

    def drop(self) -> None:
        """KILL CONNECTION from another session: the session ends with an error packet
        ("Session was killed"), or at once if the client is not taking what was sent."""
        self.kill(KillKind.CONNECTION)
        transport = self.stream.writer.transport
        if transport.get_write_buffer_size():  # the kernel's buffers are full already
            transport.abort()

    @property
    def is_tls(self) -> bool:
        """Whether the client switched the connection to TLS."""
        return self.stream.writer.transport.get_extra_info("ssl_object") is not None

    async def authenticate(
        self, username: str, auth_response: bytes, *args: Any, **kwargs: Any
    ) -> None:
        """mysql-mimic's authentication, after the TLS and lockout checks; counts failures.

        A refused or failed login (also a failed COM_CHANGE_USER) closes the
        connection, so nothing is ever served to a client that did not log in.
        """
        stream = self.stream
        assert isinstance(stream, LimitedStream)
        try:
            if stream.limits.require_tls and not self.is_tls:
                raise InsecureTransport()
            attempt = await self.throttle.begin(username, self.address)  # counted from now on
        except (InsecureTransport, LoginThrottled) as error:
            logger.info("Login of '%s' from %s refused: %s", username, self.address, error.name)
            await stream.fail(error)
            raise LoginRefused(error.message) from None
        with attempt:
            self.session.username = None
            await super().authenticate(username, auth_response, *args, **kwargs)
            if not self.session.username:
                attempt.failed()
                stream.writer.transport.abort()
                raise LoginRefused("login failed")
            attempt.succeeded()
        stream.logged_in = True
        stream.timeout = stream.limits.wait_timeout
        if self.activity.command == "Connect":
            self.activity.sleep()
