"""What stagedb keeps of a password: two verifiers, never the password itself.

* ``native_verifier``: SHA1(SHA1(password)) in hex, which the MySQL protocol's
  ``mysql_native_password`` needs (the client proves it knows SHA1(password)
  against a fresh nonce; the verifier alone does not let anyone log in).
* ``http_verifier``: a salted scrypt hash (``scrypt$N$r$p$salt$hash``) that the
  HTTP side port checks Basic credentials against.  It is deliberately slow
  (about 50 ms), so verified credentials are cached by ``stagedb.users``.

Note that the unsalted native verifier is the weaker of the two against
offline guessing by someone who can read the catalog: protect the data
location, and give users long random passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32


def native_verifier(password: str) -> str:
    """mysql_native_password's stored form: SHA1(SHA1(password)), hex."""
    return hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=_HASH_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def http_verifier(password: str) -> str:
    """A new salted scrypt verifier of ``password`` (slow: run it off the event loop)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_http_verifier(password: str, verifier: str) -> bool:
    """Whether ``password`` matches ``verifier`` (constant-time; slow)."""
    try:
        scheme, n, r, p, salt, digest = verifier.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
