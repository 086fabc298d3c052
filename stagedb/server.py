"""Running stagedb: the listeners on one event loop, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from stagedb import __version__
from stagedb.catalog.users import UserCatalog
from stagedb.config import Config
from stagedb.engine import Engine
from stagedb.errors import BadArguments, InvalidConfig, StageDBError
from stagedb.http import build_http_app
from stagedb.http.auth import is_loopback
from stagedb.http.limits import LimitedTCPSite
from stagedb.http.rest import RestSettings
from stagedb.memory import release_free_memory
from stagedb.mysql import build_mysql_server
from stagedb.mysql.control import ServerControl
from stagedb.mysql.session import StageSession, check_database_name
from stagedb.orphans import remove_orphan_stage_dirs
from stagedb.presign import Presigner, load_or_create_key
from stagedb.storage.filesystems import DataRoot
from stagedb.transport import Transport, refuse_open_root
from stagedb.users import ROOT, Users

logger = logging.getLogger(__name__)


async def _open_data_root(config: Config) -> DataRoot:
    """The data root, or InvalidConfig with the reason (credentials redacted)."""
    shown = config.describe()["data"]
    try:
        return await asyncio.to_thread(DataRoot, config.data, config.storage_options)
    except BadArguments as error:
        reason = error.message
    except (ValueError, ImportError, OSError) as error:
        reason = str(error) or type(error).__name__
    raise InvalidConfig(f"Cannot open the data location '{shown}': {config.redact(reason)}")


async def _sweep(root: DataRoot, engine: Engine) -> None:
    """Delete orphaned internal stage directories in the background (stagedb.orphans)."""
    try:
        await remove_orphan_stage_dirs(root, engine.catalog)
    except (OSError, StageDBError) as error:
        logger.warning("The sweep of orphaned stage directories failed: %s", error)


async def run(config: Config) -> None:
    """Serve until SIGINT/SIGTERM; then close every connection and return."""
    transport = Transport.from_config(config)
    root = await _open_data_root(config)
    presigner = Presigner(await asyncio.to_thread(load_or_create_key, root), config.public_url)
    users = Users(UserCatalog(root), root_password=config.root_password)  # root: config wins
    engine = Engine(root, presigner, users)
    refuse_open_root(config, root_has_password=not users.has_empty_password(ROOT))
    StageSession.database_name = check_database_name(config.database_name)  # issue 7
    mysql = build_mysql_server(
        engine, users, limits=transport.mysql, throttle=transport.throttle, ssl=transport.ssl
    )
    http = web.AppRunner(
        build_http_app(
            engine,
            users,
            presigner,
            loopback_only=is_loopback(config.host),
            max_upload_size=config.max_upload_size,
            rest=RestSettings(
                config.rest_database,
                config.rest_schema,
                config.rest_page_size,
                config.rest_rate_limit,
            ),
            limits=transport.http,
            throttle=transport.throttle,
        ),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=5,
        **transport.http.runner_options(),
    )
    await http.setup()
    try:
        await mysql.start_server(host=config.host, port=config.mysql_port)
        await LimitedTCPSite(
            http,
            config.host,
            config.http_port,
            max_connections=transport.http.max_connections,
            ssl_context=transport.ssl,
        ).start()
    except OSError as error:
        mysql.close()
        await http.cleanup()
        raise InvalidConfig(f"Cannot listen on {config.host}: {error.strerror or error}") from None
    mysql_address = mysql.sockets()[0].getsockname()
    http_address = http.addresses[0]
    scheme = "https" if transport.ssl else "http"
    if not config.public_url:
        shown_host = "127.0.0.1" if http_address[0] in ("0.0.0.0", "::") else http_address[0]
        presigner.base_url = f"{scheme}://{shown_host}:{http_address[1]}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    release_free_memory()  # what start-up (imports, parsing the config) freed; before serving
    print(f"stagedb {__version__}", flush=True)
    mysql_tls = transport.mysql_banner()
    print(f"MySQL protocol: {mysql_address[0]}:{mysql_address[1]} ({mysql_tls})", flush=True)
    print(f"HTTP: {http_address[0]}:{http_address[1]} ({scheme.upper()})", flush=True)
    print(f"Data: {config.data_description()}", flush=True)
    sweep = asyncio.create_task(_sweep(root, engine))

    try:
        await stop.wait()
    finally:
        logger.info("Shutting down")
        sweep.cancel()
        mysql.close()
        control = mysql.control
        if isinstance(control, ServerControl):
            await control.close_all()
        await mysql.wait_closed()
        await http.cleanup()
        print("stagedb stopped", flush=True)
