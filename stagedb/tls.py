"""TLS for both ports: the server's SSL context from ``tls_cert`` and ``tls_key``.

Errors name the files and the reason, never their contents.
"""

from __future__ import annotations

import ssl

from stagedb.config import Config
from stagedb.errors import InvalidConfig


def server_ssl_context(config: Config) -> ssl.SSLContext | None:
    """The SSL context both ports serve with, or None when TLS is off.

    ``tls_cert`` is a PEM file with the certificate (and any intermediates),
    ``tls_key`` its PEM private key (unencrypted).  TLS 1.2 is the minimum.
    """
    if bool(config.tls_cert) != bool(config.tls_key):
        raise InvalidConfig("TLS needs both --tls-cert and --tls-key (or neither)")
    if not config.tls_cert:
        if config.require_tls:
            raise InvalidConfig("--require-tls needs a certificate: set --tls-cert and --tls-key")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key, password=_no_passphrase)
    except FileNotFoundError as error:
        raise InvalidConfig(f"Cannot read TLS file {error.filename}: no such file") from None
    except PermissionError as error:
        raise InvalidConfig(f"Cannot read TLS file {error.filename}: permission denied") from None
    except (ssl.SSLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        raise InvalidConfig(
            f"Cannot use --tls-cert {config.tls_cert} with --tls-key {config.tls_key}: {reason} "
            "(both must be PEM files, the key unencrypted and matching the certificate)"
        ) from None
    return context


def _no_passphrase() -> str:
    """An encrypted key cannot be used: the server has nobody to ask for its passphrase."""
    raise ValueError("the private key is encrypted")
