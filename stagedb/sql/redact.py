"""Keeping secrets out of syntax errors.

A syntax error quotes the statement near the offending token, and a
statement may carry a password (``IDENTIFIED BY '...'``) or a stage
credential (``SECRET_ACCESS_KEY = '...'``).  Those values are replaced by
``***`` in the message, even when the statement is too broken to tokenize
(a typo in ``IDENTIFIED``, an unterminated string).
"""

from __future__ import annotations

import re

_QUOTED = r"""'(?:[^'\\]|\\.|'')*'?|"(?:[^"\\]|\\.|"")*"?"""
_SECRET_VALUE = re.compile(
    rf"""(?ix)
    (?: \bBY                                                  # IDENTIFIED [WITH x] BY '...'
      | \w*(?:key|secret|token|password|credential|sas)\w*\s*=?  # SECRET_ACCESS_KEY = '...'
    )\s*({_QUOTED})
    """
)
_MIN_RAW = 3
"""Shorter values are masked only where they appear quoted (masking every 'x' would garble)."""


def redact_secrets(message: str, sql: str) -> str:
    """``message`` with every password or credential value written in ``sql`` masked."""
    for match in _SECRET_VALUE.finditer(sql):
        quoted = match.group(1)
        inner = quoted[1:-1] if len(quoted) > 1 and quoted[-1] == quoted[0] else quoted[1:]
        if not inner:
            continue
        message = message.replace(quoted, "'***'")
        if len(inner) >= _MIN_RAW:
            message = message.replace(inner, "***")
    return message
