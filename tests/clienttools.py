"""Helpers for the client tests: files for external stages, a raw MySQL wire client, a pty driver.

The raw client (``RawClient``) speaks just enough of the MySQL client/server protocol
to log in as a user with an empty password and run COM_QUERY, and hands back every
packet it receives undecoded, so that tests can assert the exact packet layout.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntFlag
from pathlib import Path

# -- files -------------------------------------------------------------------------


def make_files(root: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path -> content) under ``root``, creating directories."""
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


# -- the MySQL wire protocol ---------------------------------------------------------


class Capability(IntFlag):
    """Capability flags of the MySQL protocol (the ones the tests use)."""

    CLIENT_LONG_PASSWORD = 1 << 0
    CLIENT_CONNECT_WITH_DB = 1 << 3
    CLIENT_PROTOCOL_41 = 1 << 9
    CLIENT_TRANSACTIONS = 1 << 13
    CLIENT_SECURE_CONNECTION = 1 << 15
    CLIENT_MULTI_STATEMENTS = 1 << 16
    CLIENT_MULTI_RESULTS = 1 << 17
    CLIENT_PLUGIN_AUTH = 1 << 19
    CLIENT_CONNECT_ATTRS = 1 << 20
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
    CLIENT_SESSION_TRACK = 1 << 23
    CLIENT_DEPRECATE_EOF = 1 << 24
    CLIENT_QUERY_ATTRIBUTES = 1 << 27


COM_QUIT = 0x01
COM_QUERY = 0x03
COM_PING = 0x0E

#: What the raw client asks for unless told otherwise: a plain 4.1 client.
BASE_CLIENT_CAPABILITIES = (
    Capability.CLIENT_LONG_PASSWORD
    | Capability.CLIENT_PROTOCOL_41
    | Capability.CLIENT_TRANSACTIONS
    | Capability.CLIENT_SECURE_CONNECTION
    | Capability.CLIENT_PLUGIN_AUTH
)

UTF8MB4_GENERAL_CI = 45


class ProtocolError(AssertionError):
    """The server sent something the raw client did not expect."""


def read_lenenc_int(data: bytes, pos: int) -> tuple[int | None, int]:
    """A length-encoded integer at ``pos`` (None for the NULL marker 0xFB) and the next position."""
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFB:
        return None, pos + 1
    if first == 0xFC:
        return int.from_bytes(data[pos + 1 : pos + 3], "little"), pos + 3
    if first == 0xFD:
        return int.from_bytes(data[pos + 1 : pos + 4], "little"), pos + 4
    if first == 0xFE:
        return int.from_bytes(data[pos + 1 : pos + 9], "little"), pos + 9
    raise ProtocolError(f"0x{first:02x} does not start a length-encoded integer")


def read_lenenc_str(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """A length-encoded string at ``pos`` (None for NULL) and the next position."""
    length, pos = read_lenenc_int(data, pos)
    if length is None:
        return None, pos
    return data[pos : pos + length], pos + length


def lenenc_int(value: int) -> bytes:
    """``value`` as a length-encoded integer."""
    if value < 0xFB:
        return bytes([value])
    if value < 1 << 16:
        return b"\xfc" + value.to_bytes(2, "little")
    if value < 1 << 24:
        return b"\xfd" + value.to_bytes(3, "little")
    return b"\xfe" + value.to_bytes(8, "little")


@dataclass(frozen=True)
class Packet:
    """One MySQL packet as received: its sequence id and payload."""

    seq: int
    payload: bytes

    @property
    def is_err(self) -> bool:
        return self.payload[:1] == b"\xff"

    @property
    def is_ok(self) -> bool:
        return self.payload[:1] == b"\x00" and len(self.payload) >= 7

    @property
    def is_eof(self) -> bool:
        """A classic EOF packet: 0xFE and shorter than 9 bytes."""
        return self.payload[:1] == b"\xfe" and len(self.payload) < 9


@dataclass(frozen=True)
class Handshake:
    """The server's HandshakeV10."""

    protocol_version: int
    server_version: str
    connection_id: int
    auth_data: bytes
    capabilities: int
    charset: int
    status_flags: int
    auth_plugin: str


@dataclass(frozen=True)
class ErrPacket:
    """A decoded ERR packet (4.1 layout)."""

    errno: int
    sqlstate: str
    message: str


@dataclass(frozen=True)
class OkPacket:
    """A decoded OK packet (0x00 header, or 0xFE header when it replaces an EOF)."""

    header: int
    affected_rows: int
    last_insert_id: int
    status_flags: int
    warnings: int


@dataclass(frozen=True)
class EofPacket:
    """A decoded classic EOF packet (4.1 layout)."""

    warnings: int
    status_flags: int


def parse_handshake(payload: bytes) -> Handshake:
    """Decode a HandshakeV10 payload."""
    if payload[0] != 10:
        raise ProtocolError(f"not a HandshakeV10: {payload!r}")
    pos = 1
    end = payload.index(b"\0", pos)
    server_version = payload[pos:end].decode()
    pos = end + 1
    connection_id = int.from_bytes(payload[pos : pos + 4], "little")
    pos += 4
    auth_data = payload[pos : pos + 8]
    pos += 8 + 1  # filler
    capabilities = int.from_bytes(payload[pos : pos + 2], "little")
    pos += 2
    charset = payload[pos]
    pos += 1
    status_flags = int.from_bytes(payload[pos : pos + 2], "little")
    pos += 2
    capabilities |= int.from_bytes(payload[pos : pos + 2], "little") << 16
    pos += 2
    auth_data_length = payload[pos]
    pos += 1 + 10  # reserved
    rest_length = max(13, auth_data_length - 8)
    auth_data += payload[pos : pos + rest_length]
    pos += rest_length
    auth_plugin = ""
    if capabilities & Capability.CLIENT_PLUGIN_AUTH:
        end = payload.index(b"\0", pos) if b"\0" in payload[pos:] else len(payload)
        auth_plugin = payload[pos:end].decode()
    return Handshake(
        protocol_version=10,
        server_version=server_version,
        connection_id=connection_id,
        auth_data=auth_data,
        capabilities=capabilities,
        charset=charset,
        status_flags=status_flags,
        auth_plugin=auth_plugin,
    )


def handshake_response(
    capabilities: int, user: str, auth_response: bytes = b"", plugin: str = "mysql_native_password"
) -> bytes:
    """A HandshakeResponse41 payload."""
    parts = [
        struct.pack("<IIB", capabilities, 16 * 1024 * 1024, UTF8MB4_GENERAL_CI),
        bytes(23),
        user.encode() + b"\0",
    ]
    if capabilities & Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
        parts.append(lenenc_int(len(auth_response)) + auth_response)
    else:
        parts.append(bytes([len(auth_response)]) + auth_response)
    if capabilities & Capability.CLIENT_PLUGIN_AUTH:
        parts.append(plugin.encode() + b"\0")
    return b"".join(parts)


def parse_err(packet: Packet) -> ErrPacket:
    """Decode an ERR packet sent to a CLIENT_PROTOCOL_41 client."""
    payload = packet.payload
    if not packet.is_err:
        raise ProtocolError(f"not an ERR packet: {payload!r}")
    errno = int.from_bytes(payload[1:3], "little")
    if payload[3:4] != b"#":
        raise ProtocolError(f"ERR packet without a SQLSTATE marker: {payload!r}")
    return ErrPacket(errno, payload[4:9].decode(), payload[9:].decode())


def parse_ok(packet: Packet) -> OkPacket:
    """Decode an OK packet (or an EOF-replacing OK packet) sent to a 4.1 client."""
    payload = packet.payload
    header = payload[0]
    if header not in (0x00, 0xFE):
        raise ProtocolError(f"not an OK packet: {payload!r}")
    affected_rows, pos = read_lenenc_int(payload, 1)
    last_insert_id, pos = read_lenenc_int(payload, pos)
    status_flags, warnings = struct.unpack_from("<HH", payload, pos)
    return OkPacket(header, affected_rows or 0, last_insert_id or 0, status_flags, warnings)


def parse_eof(packet: Packet) -> EofPacket:
    """Decode a classic 4.1 EOF packet (0xFE, warnings, status flags)."""
    if not packet.is_eof or len(packet.payload) != 5:
        raise ProtocolError(f"not a 4.1 EOF packet: {packet.payload!r}")
    warnings, status_flags = struct.unpack_from("<HH", packet.payload, 1)
    return EofPacket(warnings, status_flags)


def parse_text_row(payload: bytes) -> tuple[str | None, ...]:
    """The values of a text-protocol result row."""
    values: list[str | None] = []
    pos = 0
    while pos < len(payload):
        value, pos = read_lenenc_str(payload, pos)
        values.append(None if value is None else value.decode())
    return tuple(values)


@dataclass(frozen=True)
class ColumnDefinition:
    """The parts of a ColumnDefinition41 the tests look at."""

    name: str
    charset: int
    length: int
    type: int
    flags: int
    decimals: int


def parse_column_definition(payload: bytes) -> ColumnDefinition:
    """Decode a ColumnDefinition41 payload."""
    strings: list[bytes] = []
    pos = 0
    for _ in range(6):  # catalog, schema, table, org_table, name, org_name
        value, pos = read_lenenc_str(payload, pos)
        strings.append(value or b"")
    if strings[0] != b"def":
        raise ProtocolError(f"not a column definition: {payload!r}")
    fixed_length, pos = read_lenenc_int(payload, pos)
    if fixed_length != 0x0C:
        raise ProtocolError(f"column definition with fixed fields of {fixed_length} bytes")
    charset, length, column_type, flags, decimals = struct.unpack_from("<HIBHB", payload, pos)
    return ColumnDefinition(strings[4].decode(), charset, length, column_type, flags, decimals)


class RawClient:
    """A blocking MySQL client on a plain socket that returns the packets it receives."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""
        self.capabilities = 0
        self.handshake: Handshake | None = None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(
                    f"connection closed by the server ({len(self._buffer)} of {size} bytes)"
                )
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read_packet(self) -> Packet:
        """One packet (payloads of 16 MiB - 1 and more are not needed by the tests)."""
        header = self._recv_exactly(4)
        length = int.from_bytes(header[:3], "little")
        return Packet(header[3], self._recv_exactly(length))

    def write_packet(self, payload: bytes, seq: int) -> None:
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)

    def read_until_closed(self, limit: int = 100) -> tuple[list[Packet], bool]:
        """Every packet until the server closes the connection (or ``limit`` packets).

        Returns the packets and whether the connection was seen closed.
        """
        packets: list[Packet] = []
        try:
            while len(packets) < limit:
                packets.append(self.read_packet())
        except (ConnectionError, TimeoutError):
            return packets, True
        return packets, False

    def read_handshake(self) -> Handshake:
        packet = self.read_packet()
        if packet.seq != 0:
            raise ProtocolError(f"handshake with sequence id {packet.seq}")
        return parse_handshake(packet.payload)

    def login(self, user: str = "root", capabilities: int = BASE_CLIENT_CAPABILITIES) -> Packet:
        """Read the handshake, answer it with an empty auth response; return the server's reply."""
        self.handshake = self.read_handshake()
        self.capabilities = capabilities
        self.write_packet(handshake_response(capabilities, user), seq=1)
        return self.read_packet()

    def send_query(self, sql: str) -> None:
        self.write_packet(bytes([COM_QUERY]) + sql.encode(), seq=0)

    def query(self, sql: str) -> list[Packet]:
        """Run COM_QUERY and return every packet of the response, as received."""
        self.send_query(sql)
        first = self.read_packet()
        packets = [first]
        if first.is_err or first.is_ok:
            return packets
        column_count, _ = read_lenenc_int(first.payload, 0)
        assert column_count is not None
        assert self.handshake is not None, "login() first"
        agreed = self.capabilities & self.handshake.capabilities
        deprecate_eof = bool(agreed & Capability.CLIENT_DEPRECATE_EOF)
        for _ in range(column_count):
            packets.append(self.read_packet())
        if not deprecate_eof:
            packets.append(self.read_packet())  # the EOF after the column definitions
        while True:
            packet = self.read_packet()
            packets.append(packet)
            if packet.is_err or packet.is_eof:
                return packets


# -- a pseudo-terminal driver ----------------------------------------------------------


class ExpectTimeout(AssertionError):
    """The awaited text did not appear in time."""


class PtyProcess:
    """A child process on a pseudo-terminal, with a minimal expect()."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: str | None = None) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self.output = b""
        self._seen = 0  # output before this offset has been matched already

    @property
    def text(self) -> str:
        """Everything the child wrote so far, with the tty's CRLFs turned into LFs."""
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def _read(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False once the child closed the tty."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child side is closed
            return False
        if not chunk:
            return False
        self.output += chunk
        return True

    def expect(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears in output not matched before."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.output.decode(errors="replace")
            match = regex.search(text, self._seen)
            if match:
                self._seen = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExpectTimeout(f"{pattern!r} did not appear within {timeout}s:\n{self.text}")
            if not self._read(min(remaining, 0.2)):
                text = self.output.decode(errors="replace")
                match = regex.search(text, self._seen)
                if match:
                    self._seen = match.end()
                    return match
                raise ExpectTimeout(f"the child closed the tty before {pattern!r}:\n{self.text}")

    def send(self, data: str) -> None:
        os.write(self.master, data.encode())

    def sendline(self, line: str) -> None:
        self.send(line + "\n")

    def wait(self, timeout: float = 15.0) -> int:
        """Drain the tty until the child exits; its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0.05) and self.process.poll() is None:
            pass
        return self.process.wait(max(0.1, deadline - time.monotonic()))

    def kill(self) -> None:
        """Kill the child (and its process group) if it still runs; close the tty."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.master)
