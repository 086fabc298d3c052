"""Presigned URLs: one method on one file, until an expiry, with no other credentials.

A URL names the stage, the path, the user whose ``@~`` it may refer to, the
expiry and (for uploads) the content type, and carries an HMAC-SHA256 of all of
them plus the method, made with a key kept in the data directory (so every
server sharing the data directory accepts every other's URLs).  The key is
never shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from stagedb.catalog import commit
from stagedb.errors import PermissionDenied
from stagedb.storage.filesystems import DataRoot

KEY_PATH = "secrets/presign.key"
PRESIGNED_PREFIX = "/v1/presigned"
MAX_EXPIRE_SECONDS = 7 * 24 * 3600


def load_or_create_key(root: DataRoot) -> bytes:
    """The presign key of this data root, created (exactly once, atomically) if missing."""
    path = root.full_path(KEY_PATH)
    with contextlib.suppress(FileExistsError):
        commit.create_exclusive(root.fs, path, secrets.token_hex(32).encode())
    key: bytes = root.fs.cat_file(path)
    return key.strip()


@dataclass(frozen=True)
class PresignedUrl:
    """What PRESIGN returns: the method to use, headers to send, and the URL."""

    method: str
    headers: dict[str, str]
    url: str


class Presigner:
    """Makes and checks presigned URLs for the HTTP side port."""

    def __init__(self, key: bytes, base_url: str) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")

    def _signature(
        self, method: str, stage: str, path: str, user: str, expires: int, content_type: str
    ) -> str:
        message = "\n".join((method, stage, path, user, str(expires), content_type))
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def sign(
        self,
        method: str,
        stage: str,
        path: str,
        user: str,
        expire_seconds: int,
        content_type: str | None = None,
    ) -> PresignedUrl:
        """A URL allowing ``method`` (GET or PUT) on ``stage``/``path`` for ``expire_seconds``."""
        expires = int(time.time()) + expire_seconds
        query = {"user": user, "expires": str(expires)}
        if content_type:
            query["content_type"] = content_type
        query["signature"] = self._signature(method, stage, path, user, expires, content_type or "")
        url = (
            f"{self.base_url}{PRESIGNED_PREFIX}/{quote(stage, safe='~')}/{quote(path)}"
            f"?{urlencode(query)}"
        )
        headers = {"Content-Type": content_type} if content_type else {}
        return PresignedUrl(method, headers, url)

    def verify(self, method: str, stage: str, path: str, query: dict[str, str]) -> str:
        """Check a presigned request; return the user it acts for, or raise PermissionDenied."""
        try:
            user, expires = query["user"], int(query["expires"])
            signature = query["signature"]
        except (KeyError, ValueError):
            raise PermissionDenied("This presigned URL is incomplete") from None
        expected = self._signature(
            method, stage, path, user, expires, query.get("content_type", "")
        )
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise PermissionDenied("This presigned URL is not valid for this method and path")
        if expires < time.time():
            raise PermissionDenied("This presigned URL has expired")
        return user
