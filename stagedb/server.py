"""Running stagedb: the listeners on one event loop, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal

from stagedb import __version__
from stagedb.config import Config
from stagedb.engine import Engine
from stagedb.errors import InvalidConfig
from stagedb.mysql import build_mysql_server
from stagedb.mysql.control import ServerControl
from stagedb.storage.filesystems import DataRoot

logger = logging.getLogger(__name__)


async def run(config: Config, started: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM; then close every connection and return."""
    try:
        root = await asyncio.to_thread(DataRoot, config.data)
    except (ValueError, ImportError, OSError) as error:
        raise InvalidConfig(f"Cannot open the data location '{config.data}': {error}") from None
    engine = Engine(root)
    mysql = build_mysql_server(engine, config.root_password)
    try:
        await mysql.start_server(host=config.host, port=config.mysql_port)
    except OSError as error:
        raise InvalidConfig(
            f"Cannot listen on {config.host}:{config.mysql_port}: {error.strerror or error}"
        ) from None
    address = mysql.sockets()[0].getsockname()
    print(f"stagedb {__version__}", flush=True)
    print(f"MySQL protocol: {address[0]}:{address[1]}", flush=True)
    print(f"Data: {root.url}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if started is not None:
        started.set()
    try:
        await stop.wait()
    finally:
        logger.info("Shutting down")
        mysql.close()
        control = mysql.control
        if isinstance(control, ServerControl):
            await control.close_all()
        await mysql.wait_closed()
        print("stagedb stopped", flush=True)
