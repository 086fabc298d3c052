"""Keeping secrets out of syntax errors.

A syntax error quotes the statement near the offending token, and a
statement may carry a password (``IDENTIFIED BY '...'``, ``SET PASSWORD [FOR
user] = '...'``, ``REPLACE '<current password>'``) or a stage credential
(``SECRET_ACCESS_KEY = '...'``).  Those values are replaced by ``***`` in the
message, even when the statement is too broken to tokenize (a typo in
``IDENTIFIED``, an unterminated string).  Statements shown to other sessions
(SHOW PROCESSLIST) are masked the same way.
"""

from __future__ import annotations

import re

_QUOTED = r"""'(?:[^'\\]|\\.|'')*'?|"(?:[^"\\]|\\.|"")*"?"""
_USER_PART = rf"""(?:{_QUOTED}|`[^`]*`?|[\w.$%-]+)"""
_USER = rf"""(?:CURRENT_USER\s*(?:\(\s*\))?|{_USER_PART}(?:\s*@\s*{_USER_PART})?)"""
_SECRET_VALUE = re.compile(
    rf"""(?ix)
    (?: \bBY                                                  # IDENTIFIED [WITH x] BY '...'
      | \w*(?:key|secret|token|password|credential|sas)\w*\s*(?::?=|\()?  # KEY = '...', f('...')
      | \bPASSWORD\s+FOR\s+{_USER}\s*:?=?                     # SET PASSWORD FOR 'u' = '...'
      | \bREPLACE\s                                           # ... REPLACE '<current password>'
    )\s*({_QUOTED})
    """
)
_MIN_RAW = 3
"""Shorter values are masked only where they appear quoted (masking every 'x' would garble)."""


_NEAR_END = "' at "
"""What follows the quoted text of a syntax error (``near '...' at line 1``): the quoted
text is cut after a few characters, so a value may show only its beginning there."""


def redact_secrets(message: str, sql: str) -> str:
    """``message`` with every password or credential value written in ``sql`` masked,
    also where the error's ``near '...'`` text cuts one short."""
    for match in _SECRET_VALUE.finditer(sql):
        quoted = match.group(1)
        inner = quoted[1:-1] if len(quoted) > 1 and quoted[-1] == quoted[0] else quoted[1:]
        if not inner:
            continue
        message = message.replace(quoted, "'***'")
        if len(inner) >= _MIN_RAW:
            message = message.replace(inner, "***")
        for end in range(len(quoted) - 1, 1, -1):  # a cut value: its beginning, then "' at "
            message = message.replace(quoted[:end] + _NEAR_END, "'***" + _NEAR_END)
    return message


def redact_statement(sql: str) -> str:
    """``sql`` with every password or credential value it writes replaced by ``'***'``."""
    return _SECRET_VALUE.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + "'***'", sql)
