"""Failed-login throttling per user name and source address, for both ports.

After ``max_failures`` consecutive failed logins of one user from one address,
that pair is locked out for ``lockout`` seconds; every further failure doubles
the lockout, up to ``lockout_max``.  While locked out, a login is refused at
once, without looking at its password, so guessing costs the attacker the whole
lockout and no connection is held open meanwhile.  A lockout always ends; a
successful login clears the pair, and failures are forgotten once
``failure_window`` seconds passed without one.  Other addresses are never
affected, so an attacker cannot lock the real user out from elsewhere.

A login counts against the limit from the moment its check begins
(``LoginThrottle.begin``), not only once it failed: checking a password takes
time (scrypt, about 50 ms, on the HTTP port), and guesses sent in parallel
must not all pass the lockout check before the first one fails.  Once the
logins in flight would, should they all fail, lock the pair out, a further
login waits for them to end (``IN_FLIGHT_WAIT`` at most) and is then refused
if they failed, or goes on if one succeeded -- so N parallel wrong guesses get
``max_failures`` answers and N - ``max_failures`` refusals (after a lockout
ended, one answer), while a pool opening many connections at once with the
right password only waits a moment.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stagedb.errors import LoginThrottled

MAX_TRACKED = 100_000
"""Pairs remembered at most (the least recently failed are forgotten first)."""
IN_FLIGHT_WAIT = 10.0
"""Seconds a login waits at most for the logins in flight before it (see the module)."""


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0
    pending: int = 0
    """Logins of the pair being checked right now."""


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
    """Failed-login bookkeeping shared by the MySQL and the HTTP front (one event loop)."""

    def __init__(self, policy: ThrottlePolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._pairs: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._waiters: dict[tuple[str, str], list[asyncio.Future[None]]] = {}

    def check(self, user: str, address: str) -> None:
        """Raise LoginThrottled while ``user`` from ``address`` is locked out."""
        record = self._pairs.get((user, address))
        if record is None:
            return
        now = self._clock()
        if now - record.last > self.policy.failure_window and record.count:
            record.count, record.locked_until = 0, 0.0  # a quiet window: failures forgotten
        if record.locked_until > now:
            raise LoginThrottled(user, address, record.locked_until - now, record.count)
        if not record.count and not record.pending:
            del self._pairs[(user, address)]

    async def begin(self, user: str, address: str) -> LoginAttempt:
        """Start a login of ``user`` from ``address``: raise LoginThrottled while the pair is
        locked out, else count the login as in flight until the attempt ends.

        While the logins in flight, should they fail, would lock the pair out,
        wait (``IN_FLIGHT_WAIT`` at most) for one to end, and look again.
        """
        key = (user, address)
        if self.policy.max_failures <= 0:
            return LoginAttempt(self, key, counted=False)
        deadline = self._clock() + IN_FLIGHT_WAIT
        while True:
            self.check(user, address)
            record = self._pairs.get(key) or self._track(key, _Failures())
            in_flight = record.count + record.pending  # the failures if those in flight fail
            if not record.pending or not self.policy.lockout_after(in_flight):
                record.pending += 1
                return LoginAttempt(self, key, counted=True)
            waited = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(key, []).append(waited)
            try:
                await asyncio.wait_for(waited, max(0.0, deadline - self._clock()))
            except TimeoutError:
                retry = self.policy.lockout_after(in_flight) or self.policy.lockout
                raise LoginThrottled(user, address, retry, in_flight) from None

    def failed(self, user: str, address: str) -> None:
        """Count a failed login (wrong password or unknown user)."""
        self._failed((user, address), in_flight=False)

    def succeeded(self, user: str, address: str) -> None:
        """A successful login clears the pair's failures."""
        self._succeeded((user, address), in_flight=False)

    def _track(self, key: tuple[str, str], record: _Failures) -> _Failures:
        self._pairs[key] = record
        self._pairs.move_to_end(key)
        while len(self._pairs) > MAX_TRACKED:
            self._pairs.popitem(last=False)
        return record

    def _failed(self, key: tuple[str, str], *, in_flight: bool) -> None:
        if self.policy.max_failures <= 0:
            return
        now = self._clock()
        record = self._pairs.get(key) or _Failures()
        if in_flight:
            record.pending = max(0, record.pending - 1)
        if now - record.last > self.policy.failure_window:
            record.count = 0
        record.count += 1
        record.last = now
        record.locked_until = now + self.policy.lockout_after(record.count)
        self._track(key, record)
        self._wake(key)

    def _succeeded(self, key: tuple[str, str], *, in_flight: bool) -> None:
        record = self._pairs.get(key)
        if record is not None:
            record.pending = max(0, record.pending - 1) if in_flight else record.pending
            record.count, record.locked_until = 0, 0.0
            if not record.pending:
                del self._pairs[key]
        self._wake(key)

    def _released(self, key: tuple[str, str]) -> None:
        """A login in flight ended undecided (the client left): it no longer counts."""
        record = self._pairs.get(key)
        if record is not None:
            record.pending = max(0, record.pending - 1)
            if not record.count and not record.pending:
                del self._pairs[key]
        self._wake(key)

    def _wake(self, key: tuple[str, str]) -> None:
        for waited in self._waiters.pop(key, []):
            if not waited.done():
                waited.set_result(None)


class LoginAttempt:
    """A login in flight (from ``LoginThrottle.begin``): end it with ``failed()`` or
    ``succeeded()``; leaving its ``with`` block undecided releases it uncounted."""

    def __init__(self, throttle: LoginThrottle, key: tuple[str, str], *, counted: bool) -> None:
        self._throttle = throttle
        self._key = key
        self._open = counted

    def failed(self) -> None:
        """The password was wrong (or the user unknown): one more consecutive failure."""
        if self._open:
            self._open = False
            self._throttle._failed(self._key, in_flight=True)

    def succeeded(self) -> None:
        """The login succeeded: the pair's failures are cleared."""
        if self._open:
            self._open = False
            self._throttle._succeeded(self._key, in_flight=True)

    def release(self) -> None:
        """End the attempt without a verdict (nothing counted)."""
        if self._open:
            self._open = False
            self._throttle._released(self._key)

    def __enter__(self) -> LoginAttempt:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
