"""Programmatic access tokens: one JSON record per token, holding only the secret's hash.

A token is ``sdbpat.<user in base64url>.<token name>.<43 random characters>``.
Its record lives at ``<data>/catalog/tokens/<user in base64url>/<name>.json``
and keeps the SHA-256 of the whole token, never the token: the random part
carries 256 bits from :mod:`secrets`, so a hash that leaks cannot be turned back
into a usable token by guessing (no slow password hash is needed for secrets of
that entropy).  The user and the name in the clear let a server find the one
record to check without scanning; the comparison is constant-time.

Records are committed with the catalog's atomic primitives (``commit``): a
CREATE is an exclusive create, so of two racing ``CREATE TOKEN t`` by one user
exactly one wins, across servers sharing the data root.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from stagedb.catalog import commit
from stagedb.errors import AuthenticateFailure, CatalogCorrupt, TokenAlreadyExists
from stagedb.storage.filesystems import DataRoot
from stagedb.storage.paths import is_temporary

TOKEN_PREFIX = "sdbpat"
_SUFFIX = ".json"
_NAME = re.compile(r"[_a-zA-Z][_$a-zA-Z0-9]*")


def user_key(user: str) -> str:
    """A user name as one path component: unpadded base64url of its UTF-8."""
    return base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")


def _user_of_key(key: str) -> str:
    return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()


def token_hash(secret: str) -> str:
    """The stored form of a token: SHA-256 in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_token_name(name: str) -> bool:
    """Whether ``name`` can name a token (the stage-name rule)."""
    return bool(_NAME.fullmatch(name))


@dataclass(frozen=True)
class TokenRecord:
    """A token as the catalog keeps it: who owns it, its hash, when it expires."""

    name: str
    user: str
    token_hash: str
    created_at: float
    expires_at: float

    def expired(self, now: float | None = None) -> bool:
        """Whether the token can no longer be used."""
        return (time.time() if now is None else now) >= self.expires_at

    def to_json(self) -> bytes:
        """Serialize for the catalog file."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> TokenRecord:
        """Read a catalog file back; CatalogCorrupt naming ``source`` if unreadable."""
        try:
            data: dict[str, Any] = json.loads(raw)
            return cls(**data)
        except (ValueError, TypeError) as error:
            raise CatalogCorrupt(f"Token record {source} cannot be read: {error}") from None


def new_token(user: str, name: str) -> str:
    """A fresh token secret for ``user``'s token ``name``."""
    return f"{TOKEN_PREFIX}.{user_key(user)}.{name}.{secrets.token_urlsafe(32)}"


def _parse_token(secret: str) -> tuple[str, str] | None:
    """(user, name) a token names, or None if it is not a stagedb token."""
    parts = secret.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX or not is_token_name(parts[2]):
        return None
    try:
        return _user_of_key(parts[1]), parts[2]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class TokenCatalog:
    """Token records on the data root's filesystem."""

    def __init__(self, root: DataRoot) -> None:
        self.fs = root.fs
        self.directory = root.full_path("catalog/tokens")

    def _path(self, user: str, name: str) -> str:
        return f"{self.directory}/{user_key(user)}/{name}{_SUFFIX}"

    def _get(self, user: str, name: str) -> TokenRecord | None:
        path = self._path(user, name)
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return TokenRecord.from_json(raw, path)

    async def create(self, record: TokenRecord) -> None:
        """Add a token; TokenAlreadyExists if the user has one of that name (atomically)."""

        def create() -> None:
            try:
                commit.create_exclusive(
                    self.fs, self._path(record.user, record.name), record.to_json()
                )
            except FileExistsError:
                raise TokenAlreadyExists(
                    f"Token '{record.name}' already exists for user '{record.user}'"
                ) from None

        await asyncio.to_thread(create)

    async def of_user(self, user: str) -> list[TokenRecord]:
        """``user``'s tokens, ordered by name."""

        def listing() -> list[TokenRecord]:
            directory = f"{self.directory}/{user_key(user)}"
            try:
                infos = self.fs.ls(directory, detail=True, refresh=True)
            except FileNotFoundError:
                return []
            records = []
            for info in infos:
                path = info["name"]
                if info.get("type") != "file" or not path.endswith(_SUFFIX) or is_temporary(path):
                    continue
                try:
                    records.append(TokenRecord.from_json(self.fs.cat_file(path), path))
                except FileNotFoundError:
                    continue  # dropped while we listed
            return sorted(records, key=lambda r: r.name)

        return await asyncio.to_thread(listing)

    async def drop(self, user: str, name: str) -> bool:
        """Delete ``user``'s token ``name``; whether there was one."""

        def drop() -> bool:
            if self._get(user, name) is None:  # S3 deletes missing keys without an error
                return False
            try:
                self.fs.rm_file(self._path(user, name))
            except FileNotFoundError:
                return False
            return True

        return await asyncio.to_thread(drop)

    async def verify(self, secret: str) -> str:
        """The user a token acts as; AuthenticateFailure if it is unknown, dropped or expired."""
        named = _parse_token(secret)
        if named is None:
            raise AuthenticateFailure("The bearer token is not a stagedb token")
        user, name = named
        record = await asyncio.to_thread(self._get, user, name)
        if record is None or not hmac.compare_digest(record.token_hash, token_hash(secret)):
            raise AuthenticateFailure("The bearer token is not valid (unknown or dropped)")
        if record.expired():
            raise AuthenticateFailure(f"The bearer token '{name}' has expired")
        return record.user
