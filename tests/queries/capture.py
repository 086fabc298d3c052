"""Record what a MySQL client sends: a TCP proxy in front of a stagedb (or MySQL) server.

    uv run python tests/queries/capture.py --server 127.0.0.1:3307 --listen 3399 --out q.sql

then point the client at port 3399 and browse.  Every command the client sends
is appended to ``--out``, one per line: COM_QUERY texts as they are (newlines
folded to spaces), other commands as ``#COM_STMT_PREPARE <sql>``,
``#COM_STATISTICS``, ``#COM_FIELD_LIST <table>``, ``#COM_INIT_DB <db>``.  The corpus files next to
this script were made this way (see README.md there).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
from collections.abc import Callable

COMMANDS = {0x02: "COM_INIT_DB", 0x04: "COM_FIELD_LIST", 0x09: "COM_STATISTICS", 0x0E: "COM_PING"}
COM_QUERY, COM_STMT_PREPARE = 0x03, 0x16
CLIENT_CONNECT_WITH_DB, CLIENT_PROTOCOL_41 = 1 << 3, 1 << 9


def describe_command(payload: bytes) -> str | None:
    """The corpus line for one client command packet (None: not worth keeping)."""
    if not payload:
        return None
    command, body = payload[0], payload[1:]
    if command in (COM_QUERY, COM_STMT_PREPARE):
        if command == COM_QUERY and body[:2] == b"\x00\x01":  # empty query attributes
            body = body[2:]
        text = " ".join(body.decode(errors="replace").split())
        return text if command == COM_QUERY else f"#COM_STMT_PREPARE {text}"
    name = COMMANDS.get(command)
    if name is None or name == "COM_PING":
        return None
    argument = body.split(b"\0")[0].decode(errors="replace")
    return f"#{name} {argument}".rstrip()


def handshake_database(payload: bytes) -> str | None:
    """The database a HandshakeResponse41 connects to (CLIENT_CONNECT_WITH_DB), if any."""
    if len(payload) < 33:
        return None
    capabilities = int.from_bytes(payload[:4], "little")
    if not capabilities & CLIENT_CONNECT_WITH_DB or not capabilities & CLIENT_PROTOCOL_41:
        return None
    pos = payload.index(b"\0", 32) + 1  # after the user name
    # The auth response: a 1-byte length, or a length-encoded one, which is also one
    # byte for the short responses of mysql_native_password.
    pos += 1 + payload[pos]
    end = payload.find(b"\0", pos)
    return payload[pos:end].decode(errors="replace") if end > pos else None


def _client_packets(
    sock: socket.socket, peer: socket.socket, record: Callable[[str], None]
) -> None:
    """Relay the client's bytes, recording each command packet (sequence id 0)."""
    with contextlib.suppress(OSError):
        _relay_and_record(sock, peer, record)


def _relay_and_record(
    sock: socket.socket, peer: socket.socket, record: Callable[[str], None]
) -> None:
    buffer = b""
    while chunk := sock.recv(65536):
        peer.sendall(chunk)
        buffer += chunk
        while len(buffer) >= 4:
            length = int.from_bytes(buffer[:3], "little")
            if len(buffer) < 4 + length:
                break
            seq, payload, buffer = buffer[3], buffer[4 : 4 + length], buffer[4 + length :]
            line = describe_command(payload) if seq == 0 else None
            if seq == 1 and line is None:  # the handshake response: its database, if any
                database = handshake_database(payload)
                line = f"#COM_INIT_DB {database}" if database else None
            if line:
                record(line)
    peer.shutdown(socket.SHUT_WR)


def _relay(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)


def serve(listen: int, server: tuple[str, int], record: Callable[[str], None]) -> None:
    """Accept clients on ``listen`` forever, relaying each to ``server``."""
    listener = socket.create_server(("127.0.0.1", listen))
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(server)
        threading.Thread(target=_relay, args=(upstream, client), daemon=True).start()
        threading.Thread(
            target=_client_packets, args=(client, upstream, record), daemon=True
        ).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:3307")
    parser.add_argument("--listen", type=int, default=3399)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    host, port = args.server.rsplit(":", 1)
    lock = threading.Lock()

    def record(line: str) -> None:
        with lock, open(args.out, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    serve(args.listen, (host, int(port)), record)


if __name__ == "__main__":
    main()
