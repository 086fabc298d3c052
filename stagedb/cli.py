"""The ``stagedb`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import click

from stagedb import __version__
from stagedb.config import (
    Config,
    load_config_file,
    storage_options_from_env,
    storage_options_from_flags,
)
from stagedb.errors import StageDBError

CREDENTIAL_LOGGERS = ("botocore", "aiobotocore", "s3fs", "urllib3", "gcsfs", "adlfs", "azure")
"""Storage clients whose DEBUG logs show credentials (signed headers, request bodies with
catalog records): never below INFO, even at ``--log-level DEBUG``."""

_FILE_STORAGE_OPTIONS = "stagedb.file_storage_options"
"""Where ``_load_config`` leaves the file's ``[storage_options]`` (not a flag default)."""


def _load_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        try:
            values = load_config_file(value)
        except StageDBError as error:
            raise click.BadParameter(error.message) from None
        ctx.meta[_FILE_STORAGE_OPTIONS] = values.pop("storage_options", {})
        ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


def _storage_options(
    ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> dict[str, str]:
    """The config file's table, then STAGEDB_STORAGE_OPTIONS, then the flags, key by key."""
    try:
        return {
            **ctx.meta.get(_FILE_STORAGE_OPTIONS, {}),
            **storage_options_from_env(os.environ.get("STAGEDB_STORAGE_OPTIONS") or "{}"),
            **storage_options_from_flags(value),
        }
    except StageDBError as error:
        raise click.BadParameter(error.message) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stagedb")
def main() -> None:
    """stagedb: stages of files, reached through the MySQL protocol."""


@main.command()
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="STAGEDB_CONFIG",
    callback=_load_config,
    is_eager=True,
    expose_value=False,
    help="TOML file with any of the settings below (keys as the flags, with _).",
)
@click.option(
    "--host",
    envvar="STAGEDB_HOST",
    default=Config.host,
    show_default=True,
    help="Address both ports bind to.",
)
@click.option(
    "--mysql-port",
    envvar="STAGEDB_MYSQL_PORT",
    type=click.IntRange(0, 65535),
    default=Config.mysql_port,
    show_default=True,
    help="MySQL protocol port (0: any free port).",
)
@click.option(
    "--http-port",
    envvar="STAGEDB_HTTP_PORT",
    type=click.IntRange(0, 65535),
    default=Config.http_port,
    show_default=True,
    help="HTTP side port.",
)
@click.option(
    "--data",
    envvar="STAGEDB_DATA",
    default=Config.data,
    show_default=True,
    help="Local path or fsspec URL holding the catalog and internal stages.",
)
@click.option(
    "--root-password",
    envvar="STAGEDB_ROOT_PASSWORD",
    default=Config.root_password,
    help="Password of the root user (default: empty).",
)
@click.option(
    "--log-level",
    envvar="STAGEDB_LOG_LEVEL",
    default=Config.log_level,
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--max-upload-size",
    envvar="STAGEDB_MAX_UPLOAD_SIZE",
    type=click.IntRange(1),
    default=Config.max_upload_size,
    show_default=True,
    help="Largest upload request body the HTTP port accepts, in bytes.",
)
@click.option(
    "--public-url",
    envvar="STAGEDB_PUBLIC_URL",
    default=Config.public_url,
    help="Base URL of the HTTP port in presigned URLs (default: http://HOST:PORT).",
)
@click.option(
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_storage_options,
    help="Option of the data location's storage, repeatable: for s3:// endpoint_url, region, "
    "key (access_key_id), secret (secret_access_key), token (session_token), ... "
    "Also STAGEDB_STORAGE_OPTIONS (a JSON object) and [storage_options] in the config file.",
)
# -- REST families (issue 5) --
@click.option(
    "--rest-database",
    envvar="STAGEDB_REST_DATABASE",
    default=Config.rest_database,
    show_default=True,
    help="Database name the Snowflake-style REST API answers for.",
)
@click.option(
    "--rest-schema",
    envvar="STAGEDB_REST_SCHEMA",
    default=Config.rest_schema,
    show_default=True,
    help="Schema name the Snowflake-style REST API answers for.",
)
@click.option(
    "--rest-page-size",
    envvar="STAGEDB_REST_PAGE_SIZE",
    type=click.IntRange(1, 100_000),
    default=Config.rest_page_size,
    show_default=True,
    help="Largest page of a REST list (larger pageSize values are lowered to it).",
)
@click.option(
    "--rest-rate-limit",
    envvar="STAGEDB_REST_RATE_LIMIT",
    type=click.FloatRange(0),
    default=Config.rest_rate_limit,
    show_default=True,
    help="REST requests per second per user, in bursts of up to one second's worth "
    "(0: no limit); over it the answer is 429.",
)
# --- Transport security and limits (issue 6); README "Transport security and limits".
@click.option(
    "--tls-cert",
    envvar="STAGEDB_TLS_CERT",
    default=Config.tls_cert,
    type=click.Path(dir_okay=False),
    help="PEM certificate (chain): enables TLS on the MySQL port and HTTPS on the HTTP port.",
)
@click.option(
    "--tls-key",
    envvar="STAGEDB_TLS_KEY",
    default=Config.tls_key,
    type=click.Path(dir_okay=False),
    help="PEM private key (unencrypted) of --tls-cert.",
)
@click.option(
    "--require-tls/--no-require-tls",
    envvar="STAGEDB_REQUIRE_TLS",
    default=Config.require_tls,
    show_default=True,
    help="Refuse MySQL logins that did not switch to TLS (needs --tls-cert).",
)
@click.option(
    "--login-max-failures",
    envvar="STAGEDB_LOGIN_MAX_FAILURES",
    type=click.IntRange(0),
    default=Config.login_max_failures,
    show_default=True,
    help="Failed logins of one user from one address before lockouts start (0: never).",
)
@click.option(
    "--login-lockout",
    envvar="STAGEDB_LOGIN_LOCKOUT",
    type=click.FloatRange(0),
    default=Config.login_lockout,
    show_default=True,
    help="First lockout, in seconds; each further failure doubles it.",
)
@click.option(
    "--login-lockout-max",
    envvar="STAGEDB_LOGIN_LOCKOUT_MAX",
    type=click.FloatRange(0),
    default=Config.login_lockout_max,
    show_default=True,
    help="Longest lockout, in seconds.",
)
@click.option(
    "--login-failure-window",
    envvar="STAGEDB_LOGIN_FAILURE_WINDOW",
    type=click.FloatRange(0),
    default=Config.login_failure_window,
    show_default=True,
    help="Seconds without a failure after which a user's failures are forgotten.",
)
@click.option(
    "--mysql-max-connections",
    envvar="STAGEDB_MYSQL_MAX_CONNECTIONS",
    type=click.IntRange(1),
    default=Config.mysql_max_connections,
    show_default=True,
    help="Open MySQL connections at most; beyond, errno 1040.",
)
@click.option(
    "--mysql-max-packet-size",
    envvar="STAGEDB_MYSQL_MAX_PACKET_SIZE",
    type=click.IntRange(1024),
    default=Config.mysql_max_packet_size,
    show_default=True,
    help="Largest MySQL packet (max_allowed_packet), in bytes; beyond, errno 1153.",
)
@click.option(
    "--mysql-connect-timeout",
    envvar="STAGEDB_MYSQL_CONNECT_TIMEOUT",
    type=click.FloatRange(0, min_open=True),
    default=Config.mysql_connect_timeout,
    show_default=True,
    help="Seconds a MySQL client has to log in.",
)
@click.option(
    "--mysql-wait-timeout",
    envvar="STAGEDB_MYSQL_WAIT_TIMEOUT",
    type=click.FloatRange(0, min_open=True),
    default=Config.mysql_wait_timeout,
    show_default=True,
    help="Seconds an idle MySQL session is kept (wait_timeout); then errno 4031 and close.",
)
@click.option(
    "--mysql-write-timeout",
    envvar="STAGEDB_MYSQL_WRITE_TIMEOUT",
    type=click.FloatRange(0, min_open=True),
    default=Config.mysql_write_timeout,
    show_default=True,
    help="Seconds a MySQL client may read nothing of a result (net_write_timeout); then close.",
)
@click.option(
    "--http-max-connections",
    envvar="STAGEDB_HTTP_MAX_CONNECTIONS",
    type=click.IntRange(1),
    default=Config.http_max_connections,
    show_default=True,
    help="Open HTTP connections at most; beyond, 503.",
)
@click.option(
    "--http-max-header-size",
    envvar="STAGEDB_HTTP_MAX_HEADER_SIZE",
    type=click.IntRange(256),
    default=Config.http_max_header_size,
    show_default=True,
    help="Longest HTTP request line or header, in bytes; beyond, 400.",
)
@click.option(
    "--http-idle-timeout",
    envvar="STAGEDB_HTTP_IDLE_TIMEOUT",
    type=click.FloatRange(0, min_open=True),
    default=Config.http_idle_timeout,
    show_default=True,
    help="Seconds an HTTP connection may take to send a complete request header after "
    "connecting or after its previous response (keep-alive idle and slow headers).",
)
@click.option(
    "--http-body-timeout",
    envvar="STAGEDB_HTTP_BODY_TIMEOUT",
    type=click.FloatRange(0, min_open=True),
    default=Config.http_body_timeout,
    show_default=True,
    help="Seconds a request body may stall before the connection is closed.",
)
# issue 7: directory tables
@click.option(
    "--database-name",
    envvar="STAGEDB_DATABASE_NAME",
    default=Config.database_name,
    show_default=True,
    help="Name of the database holding the stages table and one directory table per stage.",
)
def serve(**options: Any) -> None:
    """Run the server until SIGINT or SIGTERM."""
    from stagedb.memory import limit_malloc_arenas
    from stagedb.server import run

    limit_malloc_arenas()
    config = Config(**options)
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if config.log_level.upper() != "DEBUG":
        logging.getLogger("mysql_mimic").setLevel(logging.WARNING)
    for library in CREDENTIAL_LOGGERS:  # their DEBUG lines carry keys and request bodies
        logging.getLogger(library).setLevel(max(logging.INFO, logging.getLogger().level))
    try:
        asyncio.run(run(config))
    except StageDBError as error:
        raise click.ClickException(str(error)) from None


# -- file transfer commands over the HTTP port (issue 5) --
def _transfer_commands() -> None:
    from stagedb.cli_transfer import download, upload

    main.add_command(upload)
    main.add_command(download)


_transfer_commands()
