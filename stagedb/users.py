"""Users and how they authenticate, for every front.

For now there is one user, ``root``, whose password comes from the
configuration (empty by default).  The MySQL front needs the
mysql_native_password verifier (SHA1(SHA1(password))); the HTTP front checks
Basic credentials in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

ROOT = "root"


@dataclass(frozen=True)
class Users:
    """The server's users (only root so far)."""

    root_password: str = ""

    def exists(self, name: str) -> bool:
        """Whether a user of that name exists."""
        return name == ROOT

    def has_empty_password(self, name: str) -> bool:
        """Whether ``name`` exists and logs in without a password."""
        return self.exists(name) and not self.root_password

    def native_password_hash(self, name: str) -> str | None:
        """mysql_native_password's stored form, SHA1(SHA1(password)) in hex; None if empty."""
        if not self.exists(name) or not self.root_password:
            return None
        return hashlib.sha1(hashlib.sha1(self.root_password.encode()).digest()).hexdigest()

    def verify_password(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s password (constant-time comparison)."""
        if not self.exists(name):
            return False
        return hmac.compare_digest(password.encode(), self.root_password.encode())
