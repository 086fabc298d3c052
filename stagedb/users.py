"""Users and how they authenticate, for every front.

``root`` always exists; its password is configuration (``--root-password``,
``STAGEDB_ROOT_PASSWORD``), read at every start and never stored.  Every other
user lives in the catalog (``stagedb.catalog.users``), which keeps only
password verifiers (``stagedb.passwords``).

Two small entry points decide a login, one per front, so that other layers
(login throttling) can wrap them:

* ``native_password_verifier(name)``: what mysql_native_password checks a
  MySQL client's scramble against;
* ``verify_password(name, password)``: HTTP Basic credentials.

Checking an HTTP password runs scrypt (about 50 ms) in a worker thread once;
after that the credentials are remembered as an HMAC (with a key that lives
only in this process) of name and password, next to the verifier they matched.
A changed or dropped user changes or removes the verifier, which makes the
remembered entry useless at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict

from stagedb.catalog.users import UserCatalog, UserRecord
from stagedb.passwords import check_http_verifier, http_verifier, native_verifier

ROOT = "root"
_CACHE_SIZE = 4096


class Users:
    """The server's users: root from the configuration, the others from the catalog."""

    def __init__(self, catalog: UserCatalog | None = None, root_password: str = "") -> None:
        self.catalog = catalog
        self.root_password = root_password
        self._root_native = native_verifier(root_password) if root_password else None
        self._cache_key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self._decoy_verifier: str | None = None

    def _decoy(self) -> str:
        """A verifier of a random password, checked for unknown users."""
        if self._decoy_verifier is None:
            self._decoy_verifier = http_verifier(secrets.token_hex(16))
        return self._decoy_verifier

    async def get(self, name: str) -> UserRecord | None:
        """A stored (non-root) user, or None."""
        if name == ROOT or self.catalog is None:
            return None
        return await self.catalog.get(name)

    async def exists(self, name: str) -> bool:
        """Whether a user of that name exists."""
        return name == ROOT or await self.get(name) is not None

    def has_empty_password(self, name: str) -> bool:
        """Whether ``name`` is root and root logs in without a password."""
        return name == ROOT and not self.root_password

    async def native_password_verifier(self, name: str) -> str | None:
        """SHA1(SHA1(password)) in hex for ``name``; None for root without a password.

        Raises LookupError for an unknown user.
        """
        if name == ROOT:
            return self._root_native
        record = await self.get(name)
        if record is None:
            raise LookupError(name)
        return record.native_password

    async def verify_password(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s password (HTTP Basic)."""
        if name == ROOT:
            return _same(password, self.root_password)
        record = await self.get(name)
        if record is None:  # as slow as a wrong password: no probing for names
            await asyncio.to_thread(lambda: check_http_verifier(password, self._decoy()))
            return False
        tag = hmac.new(self._cache_key, f"{name}\x00{password}".encode(), hashlib.sha256).digest()
        if self._verified.get(tag) == record.http_password:
            self._verified.move_to_end(tag)
            return True
        if not await asyncio.to_thread(check_http_verifier, password, record.http_password):
            return False
        self._verified[tag] = record.http_password
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return True


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two passwords of any length."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )
