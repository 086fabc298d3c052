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
    try:
        asyncio.run(run(config))
    except StageDBError as error:
        raise click.ClickException(str(error)) from None
