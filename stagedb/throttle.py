"""Failed-login throttling per user name and source address, for both ports.

After ``max_failures`` consecutive failed logins of one user from one address,
that pair is locked out for ``lockout`` seconds; every further failure doubles
the lockout, up to ``lockout_max``.  While locked out, a login is refused at
once, without looking at its password, so guessing costs the attacker the whole
lockout and no connection is held open meanwhile.  A lockout always ends; a
successful login clears the pair, and failures are forgotten once
``failure_window`` seconds passed without one.  Other addresses are never
affected, so an attacker cannot lock the real user out from elsewhere.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stagedb.errors import LoginThrottled

MAX_TRACKED = 100_000
"""Pairs remembered at most (the least recently failed are forgotten first)."""


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass(frozen=True)
class ThrottlePolicy:
    """The throttling settings; ``max_failures`` 0 turns throttling off."""

    max_failures: int = 5
    lockout: float = 1.0
    lockout_max: float = 300.0
    failure_window: float = 3600.0

    def lockout_after(self, failures: int) -> float:
        """How long a pair is locked out after its ``failures``-th consecutive failure."""
        if failures < self.max_failures:
            return 0.0
        doublings = min(failures - self.max_failures, 64)
        return float(min(self.lockout * 2**doublings, self.lockout_max))


class LoginThrottle:
    """Failed-login bookkeeping shared by the MySQL and the HTTP front."""

    def __init__(self, policy: ThrottlePolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._pairs: OrderedDict[tuple[str, str], _Failures] = OrderedDict()

    def check(self, user: str, address: str) -> None:
        """Raise LoginThrottled while ``user`` from ``address`` is locked out."""
        record = self._pairs.get((user, address))
        if record is None:
            return
        now = self._clock()
        if now - record.last > self.policy.failure_window:
            del self._pairs[(user, address)]
        elif record.locked_until > now:
            raise LoginThrottled(user, address, record.locked_until - now, record.count)

    def failed(self, user: str, address: str) -> None:
        """Count a failed login (wrong password or unknown user)."""
        if self.policy.max_failures <= 0:
            return
        now = self._clock()
        key = (user, address)
        record = self._pairs.pop(key, None) or _Failures()
        if now - record.last > self.policy.failure_window:
            record = _Failures()
        record.count += 1
        record.last = now
        record.locked_until = now + self.policy.lockout_after(record.count)
        self._pairs[key] = record
        while len(self._pairs) > MAX_TRACKED:
            self._pairs.popitem(last=False)

    def succeeded(self, user: str, address: str) -> None:
        """A successful login clears the pair's failures."""
        self._pairs.pop((user, address), None)
