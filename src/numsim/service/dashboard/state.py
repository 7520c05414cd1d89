"""What the dashboard shows of the live pool: the allocator's snapshot, read at most
about once a second whatever the page views (at 100,000 numbers a snapshot costs
about half a second), and an hour of its counters, sampled, for refusals per hour.

The allocator's counters only grow; the refusals of the last hour are the counters
now less those of the oldest sample within the hour."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...allocator import Allocator
from ...allocator.allocator import Snapshot
from ...allocator.refusal import REASONS, REFUSALS

HOUR = 3600.0
SAMPLE_EVERY = 30.0  # seconds between samples of the counters
SNAPSHOT_AGE = 1.0  # seconds a snapshot is shown before it is read again
_STATUS = {"ready": "free", "busy": "busy", "retired": "retired"}


def status_words(status: str | None) -> str:
    """A number's status as the pages say it: free, busy, at hourly cap, retired..."""
    if status is None:
        return "not loaded yet"
    if status in _STATUS:
        return _STATUS[status]
    return "at " + status.replace("_", " ")  # a cap's reason: hourly_cap, daily_cap, ...


@dataclass(frozen=True, slots=True)
class Refusals:
    """Refusals by reason in the last `seconds` (an hour, or less after a start)."""

    seconds: float
    by_reason: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


class Live:
    """The snapshot (cached) and the counters' samples of one allocator."""

    def __init__(self, allocator: Allocator) -> None:
        self.allocator = allocator
        self._clock = allocator.clock  # the pool's time (a test's ManualClock moves it)
        self._snapshot: Snapshot | None = None
        self._read_at = -SNAPSHOT_AGE
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one snapshot at a time, the others wait for it
        self.sample()  # refusals count from here

    def snapshot(self) -> Snapshot:
        """The pool's state, at most about SNAPSHOT_AGE seconds old."""
        with self._reading:
            if self._snapshot is None or self._clock() - self._read_at >= SNAPSHOT_AGE:
                self._snapshot = self.allocator.snapshot()
                self._read_at = self._clock()
                self._keep(self._snapshot.counters)
            return self._snapshot

    def sample(self) -> None:
        """Keep the counters now (the service calls this every SAMPLE_EVERY seconds)."""
        self._keep(self.allocator.counters())

    def refusals(self) -> Refusals:
        """Refusals in the last hour (or since the first sample, if younger), by reason;
        every reason is listed, the ones with none as 0."""
        counters = self.snapshot().counters
        now = self._clock()
        with self._lock:  # the oldest sample kept is the last one an hour or more ago
            since, earlier = self._samples[0] if self._samples else (now, counters)
        by_reason = {}
        for reason in _reasons(counters):
            count = counters.get(REFUSALS + reason, 0) - earlier.get(REFUSALS + reason, 0)
            by_reason[reason] = max(count, 0)  # a restarted backend starts again from 0
        return Refusals(min(now - since, HOUR), by_reason)

    def _keep(self, counters: Mapping[str, int]) -> None:
        now = self._clock()
        with self._lock:
            if self._samples and now - self._samples[-1][0] < SAMPLE_EVERY / 2:
                return  # a page view soon after a sample adds nothing
            self._samples.append((now, dict(counters)))
            while len(self._samples) > 1 and self._samples[1][0] <= now - HOUR:
                self._samples.popleft()


def _reasons(counters: Iterable[str]) -> list[str]:
    seen = [key.removeprefix(REFUSALS) for key in counters if key.startswith(REFUSALS)]
    return [*REASONS, *sorted(set(seen) - set(REASONS))]


def pool_use(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """Per template: its numbers, channels in use and channels in all, from a snapshot.
    A number in several templates counts in each (as /metrics counts it)."""
    found: dict[str, dict[str, Any]] = {}
    for row in snapshot.numbers.values():
        for template in row["templates"]:
            pool = found.setdefault(template, {"numbers": 0, "in_use": 0, "capacity": 0})
            pool["numbers"] += 1
            pool["in_use"] += row["in_use"]
            pool["capacity"] += row["capacity"] or 0
    return dict(sorted(found.items()))
