"""Server configuration: defaults, a TOML file, ``STAGEDB_*`` variables and flags.

Precedence, lowest first: built-in defaults, the ``--config`` TOML file,
environment variables, command-line flags.  Storage options (a table
``[storage_options]``, ``STAGEDB_STORAGE_OPTIONS`` as a JSON object, repeated
``--storage-option KEY=VALUE``) merge key by key in the same order.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    storage_options: dict[str, str] = field(default_factory=dict)
    # REST families (issue 5): the one database and schema they answer for, the largest
    # page of a list, and each user's requests per second (0: no limit).
    rest_database: str = "stagedb"
    rest_schema: str = "public"
    rest_page_size: int = 1000
    rest_rate_limit: float = 1000.0

    # --- Transport security and limits (issue 6); README "Transport security and limits".
    tls_cert: str = ""
    tls_key: str = ""
    require_tls: bool = False
    login_max_failures: int = 5
    login_lockout: float = 1.0
    login_lockout_max: float = 300.0
    login_failure_window: float = 3600.0
    mysql_max_connections: int = 151
    mysql_max_packet_size: int = 64 * 1024**2
    mysql_connect_timeout: float = 10.0
    mysql_wait_timeout: float = 28800.0
    mysql_write_timeout: float = 60.0
    http_max_connections: int = 1000
    http_max_header_size: int = 8190
    http_idle_timeout: float = 60.0
    http_body_timeout: float = 60.0

    # issue 7: the database holding the stages table and the directory tables
    database_name: str = "stagedb"

    def describe(self) -> dict[str, Any]:
        """The settings, with secrets hidden, for logs and start-up messages."""
        shown: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["root_password"] = "(set)" if self.root_password else "(empty)"
        shown["data"] = without_userinfo(self.data)
        shown["storage_options"] = {
            key: "(set)" if is_secret_option(key) else value
            for key, value in sorted(self.storage_options.items())
        }
        return shown

    def redact(self, text: str) -> str:
        """``text`` with every secret setting's value (over 3 characters) replaced by ``***``."""
        secrets = [v for k, v in self.storage_options.items() if is_secret_option(k)]
        for value in sorted([*secrets, self.root_password], key=len, reverse=True):
            if len(value) > 3:
                text = text.replace(value, "***")
        return text

    def data_description(self) -> str:
        """The data location for the start-up banner: no credentials, ever."""
        shown = self.describe()
        options = ", ".join(f"{k}={v}" for k, v in shown["storage_options"].items())
        return f"{shown['data']} ({options})" if options else str(shown["data"])


CONFIG_KEYS = tuple(f.name for f in fields(Config))


_SECRET_NAME = re.compile(r"key|secret|token|password|credential|sas", re.IGNORECASE)


def is_secret_option(name: str) -> bool:
    """Whether a storage option's value must never be shown (credentials and the like)."""
    return bool(_SECRET_NAME.search(name))


def without_userinfo(url: str) -> str:
    """``url`` without any ``user:password@`` part."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def storage_options_from(value: Any, source: str) -> dict[str, str]:
    """Storage options from a TOML table or a JSON object: string keys, scalar values."""
    if not isinstance(value, dict):
        raise InvalidConfig(f"storage_options in {source} must map option names to values")
    options: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            options[str(key)] = "true" if item else "false"
        elif isinstance(item, (str, int, float)):
            options[str(key)] = str(item)
        else:
            raise InvalidConfig(f"Storage option {key} in {source} must be a string")
    return options


def storage_options_from_env(text: str) -> dict[str, str]:
    """``STAGEDB_STORAGE_OPTIONS``: a JSON object, e.g. ``{"endpoint_url": "http://..."}``."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidConfig(f"STAGEDB_STORAGE_OPTIONS is not a JSON object: {error}") from None
    return storage_options_from(value, "STAGEDB_STORAGE_OPTIONS")


def storage_options_from_flags(values: tuple[str, ...]) -> dict[str, str]:
    """Repeated ``--storage-option KEY=VALUE`` flags (a later flag wins)."""
    options: dict[str, str] = {}
    for item in values:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise InvalidConfig(f"--storage-option takes KEY=VALUE, not '{item}'")
        options[key.strip()] = value
    return options


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
    if "storage_options" in values:
        values["storage_options"] = storage_options_from(values["storage_options"], str(path))
    return values
