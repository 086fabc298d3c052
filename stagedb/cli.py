"""The ``stagedb`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, fields
from typing import Any

import click

from stagedb import __version__
from stagedb.config import (
    SETTING,
    Config,
    Setting,
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

OptionCallback = Callable[[click.Context, click.Parameter, Any], Any]
"""A click option's ``callback``."""
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""A decorator of a click command function."""


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


def _option(item: Field[Any], callback: OptionCallback | None) -> Decorator:
    """The ``click.option`` of one Config field, from the field and its Setting."""
    spec: Setting = item.metadata[SETTING]
    flag = spec.flag or "--" + item.name.replace("_", "-")
    if isinstance(item.default, bool):
        flag = f"{flag}/--no-{flag[2:]}"
    attrs: dict[str, Any] = {
        "type": spec.type,
        "help": spec.help,
        "metavar": spec.metavar,
        "multiple": spec.multiple,
        "callback": callback,
    }
    if spec.show_default:
        attrs["show_default"] = True
    if spec.envvar:
        attrs["envvar"] = f"STAGEDB_{item.name.upper()}"
    if item.default is not MISSING:
        attrs["default"] = item.default
    return click.option(flag, item.name, **attrs)


def config_options(callbacks: Mapping[str, OptionCallback]) -> Decorator:
    """Decorator adding one option per Config field, in field order; ``callbacks`` by field."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for item in reversed(fields(Config)):
            command = _option(item, callbacks.get(item.name))(command)
        return command

    return decorate


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
@config_options(callbacks={"storage_options": _storage_options})
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
