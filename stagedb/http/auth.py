"""Who sends an HTTP request: Basic credentials, checked against the same users as MySQL,
or a programmatic access token (``Authorization: Bearer``, made with CREATE TOKEN)."""

from __future__ import annotations

import base64
import ipaddress
from typing import TYPE_CHECKING

from aiohttp import web

from stagedb.errors import AuthenticateFailure
from stagedb.throttle import LoginThrottle, ThrottlePolicy
from stagedb.users import ROOT, Users

if TYPE_CHECKING:
    from stagedb.engine import Engine

BEARER_OUTCOME = "stagedb.bearer_outcome"
"""Where ``resolve`` leaves a bearer token's user (or its AuthenticateFailure) on a request."""
TOKEN_TYPE_HEADER = "X-Snowflake-Authorization-Token-Type"
ACCEPTED_TOKEN_TYPES = ("PROGRAMMATIC_ACCESS_TOKEN",)


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
        self,
        users: Users,
        loopback_only: bool,
        throttle: LoginThrottle | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.users = users
        self.throttle = throttle or LoginThrottle(ThrottlePolicy())  # failed-login lockouts
        self.anonymous_is_root = loopback_only and users.has_empty_password(ROOT)
        self.engine = engine

    # -- bearer tokens (issue 5) ----------------------------------------------------------

    async def resolve(self, request: web.Request) -> None:
        """Check a bearer token ahead of the handlers (the check reads the catalog, so it is
        asynchronous) and keep the outcome on the request for ``user_of``."""
        header = request.headers.get("Authorization")
        if header is None or BEARER_OUTCOME in request or header[:7].lower() != "bearer ":
            return
        outcome: str | AuthenticateFailure
        token_type = request.headers.get(TOKEN_TYPE_HEADER)
        token = header[7:].strip()
        if token_type is not None and token_type.upper() not in ACCEPTED_TOKEN_TYPES:
            outcome = AuthenticateFailure(
                f"Unsupported {TOKEN_TYPE_HEADER} '{token_type}'; stagedb accepts "
                + ", ".join(ACCEPTED_TOKEN_TYPES)
            )
        elif self.engine is None or not token:
            outcome = AuthenticateFailure("Bearer tokens are not accepted here")
        else:
            try:
                outcome = await self.engine.token_user(token)
            except AuthenticateFailure as error:
                outcome = error
        request[BEARER_OUTCOME] = outcome

    def _bearer_user(self, request: web.Request) -> str:
        outcome = request.get(BEARER_OUTCOME)
        if isinstance(outcome, str):
            return outcome
        if isinstance(outcome, AuthenticateFailure):
            raise outcome
        raise AuthenticateFailure("The bearer token was not checked")

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
        if scheme.lower() == "bearer":
            return self._bearer_user(request)
        if scheme.lower() != "basic":
            raise AuthenticateFailure(
                f"Unsupported authorization scheme '{scheme}'; use Basic or Bearer"
            )
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:  # not base64, not ASCII, or not UTF-8 once decoded
            raise AuthenticateFailure("Malformed Basic credentials") from None
        user, colon, password = decoded.partition(":")
        if not colon:
            raise AuthenticateFailure("Malformed Basic credentials: expected user:password")
        address = request.remote or ""
        # LoginThrottled (429) while locked out; counted against the limit from now on
        with await self.throttle.begin(user, address) as attempt:
            if not await self.users.verify_password(user, password):
                attempt.failed()
                raise AuthenticateFailure(f"Wrong user name or password for '{user}'")
            attempt.succeeded()
        return user
