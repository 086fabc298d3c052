"""Measuring helpers for the stagedb benchmarks: memory, machine load, output.

:mod:`_harness` re-exports all of these, so scripts use them as ``h.<name>``.

* :class:`Block` -- base of the context managers that measure a ``with`` block.
* :class:`PollingSampler`, :class:`RssSampler` -- sample a process's RSS every
  few milliseconds in a background thread; :func:`current_rss`, and
  :func:`read_vmhwm` for the kernel's own high-water mark.
* :func:`machine_busy`, :func:`wait_until_idle`, :class:`OtherLoad` -- how busy
  the machine is before a run (or between measurements), and how much CPU other
  processes used during it (2 cores: it matters).
* :func:`log` -- progress output on stderr; :func:`fmt_seconds`, :func:`fmt_mib`,
  :func:`fmt_ratio`, :func:`verdict` -- report formatting.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

MIB = 1024 * 1024


def log(message: str) -> None:
    """Progress output on stderr (results go to stdout)."""
    print(message, file=sys.stderr, flush=True)


class Block:
    """A context manager whose ``with`` block runs between :meth:`begin` and :meth:`end`."""

    def begin(self) -> None:
        """Called on entering the block."""

    def end(self) -> None:
        """Called on leaving the block (also after an exception)."""

    def __enter__(self) -> Self:
        self.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()


# --------------------------------------------------------------------------- #
# Memory
# --------------------------------------------------------------------------- #
class PollingSampler(Block):
    """Read a process's RSS every ``interval`` seconds in a background thread.

    Samples once on entering the block, then in the thread, and once more on
    leaving; subclasses keep what they need of each reading in :meth:`record`.
    """

    def __init__(self, pid: int, interval: float = 0.02, name: str = "rss-sampler") -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def record(self, rss: int) -> None:
        """Keep one RSS reading (bytes)."""
        raise NotImplementedError

    def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.record(int(self.process.memory_info().rss))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def begin(self) -> None:
        self._sample()
        self._thread.start()

    def end(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()


class RssSampler(PollingSampler):
    """Poll a process's RSS in a background thread and keep the peak.

    Use as a context manager around the work to observe.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(pid, interval)
        self.peak = 0
        self.samples = 0

    def record(self, rss: int) -> None:
        self.samples += 1
        self.peak = max(self.peak, rss)


def current_rss(pid: int) -> int:
    """Current RSS of ``pid`` in bytes (0 if it is gone)."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def read_vmhwm(pid: int) -> int | None:
    """The kernel's peak-RSS high-water mark (VmHWM) for ``pid`` in bytes, if readable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            parts = line.split()
            return int(parts[1]) * 1024  # reported in kB
    return None


# --------------------------------------------------------------------------- #
# Machine load
# --------------------------------------------------------------------------- #
def machine_busy(wait_idle: float = 0.0, idle_percent: float = 20.0) -> str:
    """One line on how busy the machine is (other load skews the figures).

    Waits up to ``wait_idle`` seconds for CPU use to fall below ``idle_percent``.
    """
    deadline = time.monotonic() + wait_idle
    waited = 0
    busy = psutil.cpu_percent(interval=1.0)
    while busy > idle_percent and time.monotonic() < deadline:
        if waited == 0:
            log(f"machine is {busy:.0f}% busy; waiting up to {wait_idle:g} s for it to calm down")
        waited += 1
        busy = psutil.cpu_percent(interval=1.0)
    load1, _, _ = os.getloadavg()
    note = f"machine before start: {busy:.0f}% CPU busy over 1 s, load average {load1:.2f}"
    if busy > idle_percent:
        note += "  (WARNING: other processes are using the CPU; figures may be low)"
    return note


def wait_until_idle(timeout: float, idle_percent: float = 20.0, interval: float = 0.5) -> float:
    """Wait up to ``timeout`` seconds for machine-wide CPU use to fall below ``idle_percent``.

    For use between measurements (our own servers idle).  Returns the last
    reading (percent of all CPUs busy over ``interval`` seconds).
    """
    deadline = time.monotonic() + timeout
    busy = psutil.cpu_percent(interval=interval)
    while busy > idle_percent and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=interval)
    return busy


def other_processes_cpu() -> dict[int, float]:
    """CPU-seconds so far of every process that is not ours, by pid.

    Ours = this process and its descendants; kernel threads are left out too.
    Each figure includes the process's waited-for children, so short-lived
    processes (e.g. servers a test suite starts and stops) are counted when
    their parent reaps them.  Per-task accounting, unlike /proc/stat's tick
    sampling, stays accurate under heavy context switching.
    """
    me = psutil.Process()
    ours = {me.pid}
    with contextlib.suppress(psutil.Error):
        ours.update(child.pid for child in me.children(recursive=True))
    out: dict[int, float] = {}
    for proc in psutil.process_iter(["ppid", "cpu_times"]):
        if proc.pid in ours or proc.pid == 2 or proc.info["ppid"] == 2:
            continue
        t = proc.info["cpu_times"]
        if t is not None:
            out[proc.pid] = t.user + t.system + t.children_user + t.children_system
    return out


class OtherLoad(Block):
    """Measure CPU used by *other* processes on the machine while the block runs.

    Sums per-process CPU deltas of every process outside this script's process
    tree (see :func:`other_processes_cpu`).  Use as a context manager.
    """

    def __init__(self) -> None:
        self.other_seconds = 0.0
        self.wall = 0.0
        self._t0 = 0.0
        self._cpu0: dict[int, float] = {}

    def begin(self) -> None:
        self._cpu0 = other_processes_cpu()
        self._t0 = time.monotonic()

    def end(self) -> None:
        self.wall = time.monotonic() - self._t0
        now = other_processes_cpu()
        grown = sum(t - self._cpu0.get(pid, 0.0) for pid, t in now.items())
        # A process that ended during the block shows up again in its parent's
        # children times with its whole life: take off what it had used before.
        ended_before = sum(t for pid, t in self._cpu0.items() if pid not in now)
        limit = (os.cpu_count() or 1) * self.wall
        self.other_seconds = min(limit, max(0.0, grown - ended_before))

    @property
    def cores(self) -> float:
        """Average number of cores other processes kept busy."""
        return self.other_seconds / self.wall if self.wall > 0 else 0.0

    def summary(self) -> str:
        """One line on the outside load, with a warning when it may have skewed the figures."""
        note = (
            f"other processes used {self.other_seconds:.1f} CPU-s during the "
            f"{self.wall:.0f} s run ({self.cores:.2f} cores on average)"
        )
        if self.cores > 0.1:
            note += "  (WARNING: outside load; figures may be skewed)"
        return note


# --------------------------------------------------------------------------- #
# Formatting
# --------------------------------------------------------------------------- #
def fmt_seconds(value: float | None) -> str:
    """Seconds for a report: ``12.34 ms`` below 10 ms, else ``1.234 s``; ``n/a`` for None."""
    if value is None:
        return "n/a"
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    return f"{value:.3f} s"


def fmt_mib(value: int | None) -> str:
    """Bytes as ``12.3 MiB``; ``n/a`` for None."""
    return "n/a" if value is None else f"{value / MIB:.1f} MiB"


def fmt_ratio(numerator: float | None, denominator: float | None) -> str:
    """``numerator / denominator`` as ``1.23x``; ``n/a`` if either is missing or the divisor 0."""
    if numerator is None or denominator is None or denominator == 0:
        return "n/a"
    return f"{numerator / denominator:.2f}x"


def verdict(ok: bool | None) -> str:
    """``PASS``, ``FAIL`` or ``n/a `` (not measured), four characters wide."""
    return "n/a " if ok is None else ("PASS" if ok else "FAIL")
