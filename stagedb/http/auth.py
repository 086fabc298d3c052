"""Who sends an HTTP request: Basic credentials, checked against the same users as MySQL."""

from __future__ import annotations

import base64
import ipaddress

from aiohttp import web

from stagedb.errors import AuthenticateFailure
from stagedb.throttle import LoginThrottle, ThrottlePolicy
from stagedb.users import ROOT, Users


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps a port reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpAuthenticator:
    """Authenticates requests; anonymous requests act as root only on a loopback-only,
    password-less server (so Databend's documented curl commands work as written)."""

    def __init__(
        self, users: Users, loopback_only: bool, throttle: LoginThrottle | None = None
    ) -> None:
        self.users = users
        self.throttle = throttle or LoginThrottle(ThrottlePolicy())  # failed-login lockouts
        self.anonymous_is_root = loopback_only and users.has_empty_password(ROOT)

    async def user_of(self, request: web.Request) -> str:
        """The authenticated user name, or raise AuthenticateFailure (401)."""
        header = request.headers.get("Authorization")
        if header is None:
            if self.anonymous_is_root:
                return ROOT
            raise AuthenticateFailure(
                "Credentials are required (HTTP Basic: curl -u user:password)"
            )
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise AuthenticateFailure(f"Unsupported authorization scheme '{scheme}'; use Basic")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:  # not base64, not ASCII, or not UTF-8 once decoded
            raise AuthenticateFailure("Malformed Basic credentials") from None
        user, colon, password = decoded.partition(":")
        if not colon:
            raise AuthenticateFailure("Malformed Basic credentials: expected user:password")
        address = request.remote or ""
        self.throttle.check(user, address)  # LoginThrottled (429) while locked out
        if not await self.users.verify_password(user, password):
            self.throttle.failed(user, address)
            raise AuthenticateFailure(f"Wrong user name or password for '{user}'")
        self.throttle.succeeded(user, address)
        return user
