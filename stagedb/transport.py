"""Transport security and limits from the configuration, for both ports."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from stagedb.config import Config
from stagedb.errors import InvalidConfig
from stagedb.http.auth import is_loopback
from stagedb.http.limits import HttpLimits
from stagedb.mysql.connection import MysqlLimits
from stagedb.throttle import LoginThrottle, ThrottlePolicy
from stagedb.tls import server_ssl_context


@dataclass(frozen=True)
class Transport:
    """TLS, login throttling and the limits of both ports."""

    ssl: ssl.SSLContext | None
    throttle: LoginThrottle
    mysql: MysqlLimits
    http: HttpLimits

    @classmethod
    def from_config(cls, config: Config) -> Transport:
        """The settings of ``config`` (InvalidConfig on a bad TLS file or value)."""
        for name in ("login_lockout", "login_lockout_max", "login_failure_window"):
            if getattr(config, name) < 0:
                raise InvalidConfig(f"{name} cannot be negative")
        policy = ThrottlePolicy(
            max_failures=config.login_max_failures,
            lockout=config.login_lockout,
            lockout_max=max(config.login_lockout, config.login_lockout_max),
            failure_window=config.login_failure_window,
        )
        return cls(
            ssl=server_ssl_context(config),
            throttle=LoginThrottle(policy),
            mysql=MysqlLimits(
                max_connections=config.mysql_max_connections,
                max_packet_size=config.mysql_max_packet_size,
                connect_timeout=config.mysql_connect_timeout,
                wait_timeout=config.mysql_wait_timeout,
                require_tls=config.require_tls,
                write_timeout=config.mysql_write_timeout,
            ),
            http=HttpLimits(
                max_connections=config.http_max_connections,
                max_header_size=config.http_max_header_size,
                idle_timeout=config.http_idle_timeout,
                body_timeout=config.http_body_timeout,
            ),
        )

    def mysql_banner(self) -> str:
        """How the MySQL port takes TLS, for the start-up lines."""
        if self.ssl is None:
            return "TLS off"
        return "TLS required" if self.mysql.require_tls else "TLS available"


def refuse_open_root(config: Config, root_has_password: bool) -> None:
    """Refuse to listen beyond loopback while root logs in without a password."""
    if is_loopback(config.host) or root_has_password:
        return
    raise InvalidConfig(
        f"Refusing to listen on {config.host} (beyond loopback) while root has no password: "
        "anyone who can reach the ports could log in as root. Set a password with "
        "--root-password, the STAGEDB_ROOT_PASSWORD environment variable or root_password "
        "in the --config file (or listen on 127.0.0.1)"
    )
