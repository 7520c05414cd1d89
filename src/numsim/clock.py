"""Clocks: the allocator reads time through one, so the same rules run in any time.

A clock is any zero-argument callable returning epoch seconds (``time.time``
is the default). A clock that also has ``call_at(when, callback)`` drives the
allocator's timed wake-ups itself (ManualClock here, the simulator's SimPy
clock), so waiting never depends on wall-clock sleeps.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> float: ...


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
        """Move time forward by `seconds` (>= 0) and return the new time."""
        if not seconds >= 0:
            raise ValueError(f"a clock only moves forward; got advance({seconds!r})")
        with self._lock:
            target = self._now + seconds
            while self._timers and self._timers[0][0] <= target:
                when, _, callback = heapq.heappop(self._timers)
                self._now = max(self._now, when)
                callback()
            self._now = target
            return target

    def call_at(self, when: float, callback: Callable[[], object]) -> None:
        """Run `callback` once the clock reaches `when` (at the next advance if past)."""
        with self._lock:
            heapq.heappush(self._timers, (when, next(self._order), callback))

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"
