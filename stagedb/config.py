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
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click

from stagedb.errors import InvalidConfig

SETTING = "stagedb.setting"
"""The key of a Config field's ``Setting`` in the field's dataclass metadata."""

T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    """How one Config field shows on ``stagedb serve``: help text, click type, flag shape.

    The flag is ``--<field-name>`` (``--x/--no-x`` for a bool), the environment variable
    ``STAGEDB_<FIELD_NAME>`` and the default the field's; ``flag`` and ``envvar`` change that.
    """

    help: str | None
    type: click.ParamType[Any] | None = None
    show_default: bool = True
    flag: str = ""
    metavar: str | None = None
    multiple: bool = False
    envvar: bool = True


def setting(
    default: T,
    help: str | None,
    *,
    type: click.ParamType[Any] | None = None,
    show_default: bool = True,
) -> T:
    """A Config field with ``default``, described once for the command line."""
    return field(default=default, metadata={SETTING: Setting(help, type, show_default)})


PORT = click.IntRange(0, 65535)
"""A TCP port (0: any free port)."""
SECONDS = click.FloatRange(0, min_open=True)
"""A timeout: seconds, more than 0."""


@dataclass(frozen=True)
class Config:
    """Everything ``stagedb serve`` needs to run.

    Each field is one setting, described once: its default and (``setting``) its help and
    click type; ``stagedb serve`` builds its flag and environment variable from that, and
    the ``--config`` TOML file takes the field's name as its key.
    """

    host: str = setting("127.0.0.1", "Address both ports bind to.")
    mysql_port: int = setting(3307, "MySQL protocol port (0: any free port).", type=PORT)
    http_port: int = setting(8000, "HTTP side port.", type=PORT)
    data: str = setting(
        "./stagedb-data", "Local path or fsspec URL holding the catalog and internal stages."
    )
    root_password: str = setting(
        "", "Password of the root user (default: empty).", show_default=False
    )
    log_level: str = setting(
        "INFO", None, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)
    )
    max_upload_size: int = setting(
        10 * 1024**3,
        "Largest upload request body the HTTP port accepts, in bytes.",
        type=click.IntRange(1),
    )
    public_url: str = setting(
        "",
        "Base URL of the HTTP port in presigned URLs (default: http://HOST:PORT).",
        show_default=False,
    )
    storage_options: dict[str, str] = field(
        default_factory=dict,
        metadata={
            SETTING: Setting(
                "Option of the data location's storage, repeatable: for s3:// endpoint_url, "
                "region, key (access_key_id), secret (secret_access_key), token "
                "(session_token), ... Also STAGEDB_STORAGE_OPTIONS (a JSON object) and "
                "[storage_options] in the config file.",
                show_default=False,
                flag="--storage-option",
                metavar="KEY=VALUE",
                multiple=True,
                envvar=False,
            )
        },
    )
    # REST families (issue 5): the one database and schema they answer for, the largest
    # page of a list, and each user's requests per second (0: no limit).
    rest_database: str = setting(
        "stagedb", "Database name the Snowflake-style REST API answers for."
    )
    rest_schema: str = setting("public", "Schema name the Snowflake-style REST API answers for.")
    rest_page_size: int = setting(
        1000,
        "Largest page of a REST list (larger pageSize values are lowered to it).",
        type=click.IntRange(1, 100_000),
    )
    rest_rate_limit: float = setting(
        1000.0,
        "REST requests per second per user, in bursts of up to one second's worth "
        "(0: no limit); over it the answer is 429.",
        type=click.FloatRange(0),
    )

    # --- Transport security and limits (issue 6); README "Transport security and limits".
    tls_cert: str = setting(
        "",
        "PEM certificate (chain): enables TLS on the MySQL port and HTTPS on the HTTP port.",
        type=click.Path(dir_okay=False),
        show_default=False,
    )
    tls_key: str = setting(
        "",
        "PEM private key (unencrypted) of --tls-cert.",
        type=click.Path(dir_okay=False),
        show_default=False,
    )
    require_tls: bool = setting(
        False, "Refuse MySQL logins that did not switch to TLS (needs --tls-cert)."
    )
    login_max_failures: int = setting(
        5,
        "Failed logins of one user from one address before lockouts start (0: never).",
        type=click.IntRange(0),
    )
    login_lockout: float = setting(
        1.0,
        "First lockout, in seconds; each further failure doubles it.",
        type=click.FloatRange(0),
    )
    login_lockout_max: float = setting(
        300.0, "Longest lockout, in seconds.", type=click.FloatRange(0)
    )
    login_failure_window: float = setting(
        3600.0,
        "Seconds without a failure after which a user's failures are forgotten.",
        type=click.FloatRange(0),
    )
    mysql_max_connections: int = setting(
        151, "Open MySQL connections at most; beyond, errno 1040.", type=click.IntRange(1)
    )
    mysql_max_packet_size: int = setting(
        64 * 1024**2,
        "Largest MySQL packet (max_allowed_packet), in bytes; beyond, errno 1153.",
        type=click.IntRange(1024),
    )
    mysql_connect_timeout: float = setting(
        10.0, "Seconds a MySQL client has to log in.", type=SECONDS
    )
    mysql_wait_timeout: float = setting(
        28800.0,
        "Seconds an idle MySQL session is kept (wait_timeout); then errno 4031 and close.",
        type=SECONDS,
    )
    mysql_write_timeout: float = setting(
        60.0,
        "Seconds a MySQL client may read nothing of a result (net_write_timeout); then close.",
        type=SECONDS,
    )
    http_max_connections: int = setting(
        1000, "Open HTTP connections at most; beyond, 503.", type=click.IntRange(1)
    )
    http_max_header_size: int = setting(
        8190,
        "Longest HTTP request line or header, in bytes; beyond, 400.",
        type=click.IntRange(256),
    )
    http_idle_timeout: float = setting(
        60.0,
        "Seconds an HTTP connection may take to send a complete request header after "
        "connecting or after its previous response (keep-alive idle and slow headers).",
        type=SECONDS,
    )
    http_body_timeout: float = setting(
        60.0, "Seconds a request body may stall before the connection is closed.", type=SECONDS
    )

    # issue 7: the database holding the stages table and the directory tables
    database_name: str = setting(
        "stagedb",
        "Name of the database holding the stages table and one directory table per stage.",
    )

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
