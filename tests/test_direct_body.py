"""A body taken over from its socket, stored where ``splice`` cannot go.

The presigned PUT's direct path splices socket -> pipe -> file on a local
disk (tests/test_http_direct.py).  Any other filesystem gets the body through
:meth:`DirectBody.read`; here a socket pair feeds one into fsspec's memory
filesystem, the same objects the server uses, without a server around them.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

import pytest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from stagedb.errors import ClientDisconnected
from stagedb.http.direct import DirectBody
from stagedb.http.presigned import _receive
from stagedb.storage.files import StageFiles
from stagedb.storage.writer import FileWriter

MIB = 1024 * 1024


def _stage() -> tuple[MemoryFileSystem, FileWriter, str]:
    memory = MemoryFileSystem()
    root = f"/stage-{uuid.uuid4().hex}"
    memory.makedirs(root, exist_ok=True)
    writer = FileWriter(StageFiles(DirFileSystem(root, fs=memory)))
    probe = writer.open("probe.bin")
    assert not probe.can_splice  # these tests are about the other path
    probe.discard()
    return memory, writer, root


def _body(sock: socket.socket, buffered: list[bytes], remaining: int) -> DirectBody:
    fd = os.dup(sock.fileno())
    os.set_blocking(fd, False)
    return DirectBody(fd, buffered, remaining, timeout=10.0, closing=lambda: False)


def test_body_is_read_into_a_filesystem_without_splice() -> None:
    memory, writer, root = _stage()
    data = os.urandom(3 * MIB + 11)
    server, client = socket.socketpair()
    sender = threading.Thread(target=client.sendall, args=(data[MIB:],))
    sender.start()
    body = _body(server, [data[:MIB]], len(data) - MIB)
    try:
        assert _receive(body, writer, "dir/raw.bin") == len(data)
    finally:
        sender.join()
        body.close()
        server.close()
        client.close()
    assert memory.cat_file(f"{root}/dir/raw.bin") == data
    assert [p for p in memory.find(root) if "stagedb-tmp" in p] == []


def test_body_that_ends_early_leaves_nothing() -> None:
    memory, writer, root = _stage()
    server, client = socket.socketpair()

    def send_half() -> None:
        client.sendall(os.urandom(MIB))
        client.close()  # 1 MiB of the 2 MiB announced

    sender = threading.Thread(target=send_half)
    sender.start()
    body = _body(server, [], 2 * MIB)
    try:
        with pytest.raises(ClientDisconnected):
            _receive(body, writer, "short.bin")
    finally:
        sender.join()
        body.close()
        server.close()
    assert not memory.exists(f"{root}/short.bin")
    assert [p for p in memory.find(root) if "stagedb-tmp" in p] == []
