"""What the dashboard shows of the live pool as a whole: every number's state, read at
most about once a second whatever the page views (the Live pool and Templates pages;
pages of a few numbers read only theirs, uncached), and an hour of the allocator's
counters, sampled, for refusals per hour.

The allocator's counters only grow; the refusals of the last hour are the counters
now less those of the oldest sample within the hour."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...allocator import Allocator
from ...allocator.refusal import REASONS, REFUSALS
from .. import live

HOUR = 3600.0
SAMPLE_EVERY = 30.0  # seconds between samples of the counters
READING_AGE = 1.0  # seconds every number's state is shown before it is read again
_STATUS = {"ready": "free", "busy": "busy", "retired": "retired", live.UNKNOWN: live.UNKNOWN}


def status_words(status: str) -> str:
    """A number's status as the pages say it: free, busy, at hourly cap, retired..."""
    if status in _STATUS:
        return _STATUS[status]
    return "at " + status.replace("_", " ")  # a cap's reason: hourly_cap, daily_cap, ...


def in_words(row: Mapping[str, Any]) -> dict[str, Any]:
    """A live row (service/live.py) with its status in the pages' words."""
    return {**row, "status": status_words(row["status"])}


@dataclass(frozen=True, slots=True)
class Refusals:
    """Refusals by reason in the last `seconds` (an hour, or less after a start)."""

    seconds: float
    by_reason: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


class Live:
    """Every number's state (cached) and the counters' samples of one allocator."""

    def __init__(self, allocator: Allocator) -> None:
        self.allocator = allocator
        self._clock = allocator.clock  # the pool's time (a test's ManualClock moves it)
        self._reading: live.Reading | None = None
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self._lock = threading.Lock()
        self._reading_lock = threading.Lock()  # one read of every number at a time
        self.sample()  # refusals count from here

    def reading(self) -> live.Reading:
        """Every number's state, at most about READING_AGE seconds old (at 100,000
        numbers a read costs about 0.1 s of CPU, a snapshot 0.3 s)."""
        with self._reading_lock:
            if self._reading is None or self._clock() - self._reading.time >= READING_AGE:
                self._reading = live.read(self.allocator)
            return self._reading

    def sample(self) -> None:
        """Keep the counters now (the service calls this every SAMPLE_EVERY seconds)."""
        self._keep(self.allocator.counters())

    def refusals(self) -> Refusals:
        """Refusals in the last hour (or since the first sample, if younger), by reason;
        every reason is listed, the ones with none as 0."""
        counters = self.allocator.counters()
        self._keep(counters)
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
