"""Clocks: the allocator reads time through one, so the same rules run in any time.

A clock is any zero-argument callable returning epoch seconds (``time.time``
is the default). Timed wake-ups (a rolling window frees a slot, a wait times out)
go through ``call_at(when, callback)``: a clock may offer it (ManualClock here, the
simulator's SimPy clock); for one that does not, a TimerThread runs them in real time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


class Clock(Protocol):
    def __call__(self) -> float: ...


@runtime_checkable
class SchedulingClock(Clock, Protocol):
    """A clock that runs callbacks at its own times (ManualClock, the simulator's):
    the allocator's timed wake-ups use it instead of a timer thread."""

    def call_at(self, when: float, callback: Callable[[], object]) -> object: ...


class ManualClock:
    """A clock that moves only when told to: for tests and for users' own tests.

    ``advance(seconds)`` runs every callback scheduled with ``call_at`` up to the
    new time, in time order, with the clock reading each callback's own time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self._lock = threading.RLock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by `seconds` (finite, >= 0) and return the new time."""
        if not 0 <= seconds < math.inf:
            raise ValueError(
                f"a clock moves forward by finite seconds >= 0; got advance({seconds!r})"
            )
        target = self._now + seconds
        while True:
            with self._lock:  # callbacks run outside it: they may take other locks
                if not self._timers or self._timers[0][0] > target:
                    self._now = target
                    return target
                when, _, callback = heapq.heappop(self._timers)
                self._now = max(self._now, when)
            callback()

    def call_at(self, when: float, callback: Callable[[], object]) -> None:
        """Run `callback` once the clock reaches `when` (at the next advance if past)."""
        with self._lock:
            heapq.heappush(self._timers, (when, next(self._order), callback))

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"


class TimerThread:
    """call_at for a clock that runs by itself (the wall clock): one daemon thread,
    started when first needed, runs each callback once the clock reaches its time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_at(self, when: float, callback: Callable[[], object]) -> None:
        with self._changed:
            if self._closed:
                return
            heapq.heappush(self._timers, (when, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="numsim-timers", daemon=True)
                self._thread.start()
            self._changed.notify()

    def close(self) -> None:
        """Drop the pending timers and end the thread."""
        with self._changed:
            self._closed = True
            self._timers.clear()
            self._changed.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._timers and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                delay = self._timers[0][0] - self._clock()
                if delay > 0:
                    self._changed.wait(delay)  # or until an earlier timer arrives
                    continue
                callback = heapq.heappop(self._timers)[2]
            try:
                callback()
            except Exception:  # one failing callback must not stop the others
                log.exception("a timed callback failed")
