"""Server configuration: defaults, a TOML file, ``STAGEDB_*`` variables and flags.

Precedence, lowest first: built-in defaults, the ``--config`` TOML file,
environment variables, command-line flags.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from stagedb.errors import InvalidConfig


@dataclass(frozen=True)
class Config:
    """Everything ``stagedb serve`` needs to run."""

    host: str = "127.0.0.1"
    mysql_port: int = 3307
    http_port: int = 8000
    data: str = "./stagedb-data"
    root_password: str = ""
    log_level: str = "INFO"
    max_upload_size: int = 10 * 1024**3
    public_url: str = ""

    def describe(self) -> dict[str, Any]:
        """The settings, with secrets hidden, for logs and start-up messages."""
        shown: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["root_password"] = "(set)" if self.root_password else "(empty)"
        return shown


CONFIG_KEYS = tuple(f.name for f in fields(Config))


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file holding any of CONFIG_KEYS (``-`` may stand for ``_``)."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as error:
        raise InvalidConfig(f"Cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidConfig(f"Config file {path} is not valid TOML: {error}") from None
    values = {key.replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(values) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidConfig(
            f"Unknown key(s) {', '.join(unknown)} in {path}; accepted: {', '.join(CONFIG_KEYS)}"
        )
    return values
