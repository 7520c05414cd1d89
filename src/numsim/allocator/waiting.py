"""Waiting for a number: one FIFO queue under every front end (threads, asyncio, SimPy).

A waiting request is served inside whatever allocator operation frees a
channel (a release, an expiry) or at a timed wake-up (a rolling window or a
destination limit freeing a slot, a deadline), never by polling. Requests that
compete for the same numbers (same template and groups) form one class and are
served first come, first served; across classes, the oldest head goes first.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from .refusal import BUSY, DAILY_CAP, HOURLY_CAP, NoNumberAvailable

if TYPE_CHECKING:
    from .lease import Lease

# Refusals where the request waits for a number like the rest of its class.
_SHORTAGE = frozenset({BUSY, HOURLY_CAP, DAILY_CAP})


class Request:
    """A call waiting for a number. Completes once: with `lease`, or with `error`."""

    __slots__ = (
        "_callback",
        "_queue",
        "call_id",
        "closed",
        "deadline",
        "destination",
        "done",
        "error",
        "explain",
        "key",
        "lease",
        "retry_at",
        "seq",
        "template",
        "ttl",
    )

    def __init__(
        self,
        template: str,
        destination: object,
        call_id: str | None,
        ttl: float | None,
        deadline: float,
        key: Hashable,
        callback: Callable[[Request], object] | None,
    ) -> None:
        self.template = template
        self.destination = destination
        self.call_id = call_id
        self.ttl = ttl
        self.deadline = deadline
        self.key = key
        self.seq = 0
        self.retry_at: float | None = None  # a refusal for this call alone holds until then
        self.lease: Lease | None = None
        self.error: NoNumberAvailable | None = None
        self.done = False
        self.closed = False  # ended by the allocator's close()
        self.explain = True  # a final refusal itemizes its reasons (a pass over the pool)
        self._callback = callback
        self._queue: WaitQueue | None = None

    def result(self) -> Lease:
        """The lease, or raise the refusal that ended the wait."""
        if not self.done:
            raise RuntimeError("the request is still waiting")
        if self.lease is not None:
            return self.lease
        if self.closed:
            raise RuntimeError("the allocator was closed while the request waited")
        if self.error is None:  # cancelled
            raise RuntimeError("the request was cancelled")
        raise self.error

    def held_back(self, now: float) -> bool:
        """Whether a refusal for this call alone (its destination's limit, its calling
        hours) still holds: it waits for its own time, not for a number."""
        return self.retry_at is not None and self.retry_at > now

    def cancel(self) -> None:
        """Stop waiting. A lease granted before the cancel is the caller's to release."""
        if self._queue is not None:
            self._queue.cancel(self)


Attempt = Callable[[Request, bool], "Lease | NoNumberAvailable"]


class WaitQueue:
    """The requests waiting for numbers, and the times they need waking at."""

    def __init__(self, attempt: Attempt, clock: Callable[[], float]) -> None:
        self._attempt = attempt  # (request, final) -> lease or refusal; final itemizes reasons
        self._clock = clock
        self._lock = threading.RLock()
        self._classes: dict[Hashable, deque[Request]] = {}
        self._deadlines: list[tuple[float, int, Request]] = []
        self._wakeups: list[float] = []
        self._order = itertools.count(1)
        self._serving = False
        self._again = False
        self.waiting = 0

    def submit(self, request: Request) -> None:
        """Try the request now; if it must wait, queue it behind its class."""
        with self._lock:
            if self.waiting:
                self.serve()
            request.seq = next(self._order)
            if not self._short_of_numbers(request.key):
                outcome = self._attempt(request, request.deadline <= self._clock())
                if self._settle(request, outcome):
                    return
            self._classes.setdefault(request.key, deque()).append(request)
            request._queue = self
            self.waiting += 1
            heapq.heappush(self._deadlines, (request.deadline, request.seq, request))
            heapq.heappush(self._wakeups, request.deadline)

    def serve(self) -> bool:
        """Give freed numbers to waiting requests, oldest first; end expired waits.

        Returns False if it was called from inside a pass (a callback re-entered):
        that pass then goes round again instead."""
        with self._lock:
            if self._serving:
                self._again = True
                return False
            self._serving = True
            try:
                self._again = True
                while self._again:
                    self._again = False
                    self._serve_once()
            finally:
                self._serving = False
            return True

    def cancel(self, request: Request) -> None:
        with self._lock:
            if not request.done:
                request.done = True
                self._dequeued(request)

    def close(self) -> None:
        """End every waiting request (its caller gets RuntimeError): nothing will serve
        them once the allocator is closed."""
        with self._lock:
            for queue in self._classes.values():
                for request in queue:
                    if not request.done:
                        request.closed = True
                        self._complete(request, None, None)
            self._classes.clear()
            self._deadlines.clear()
            self._wakeups.clear()

    def next_wakeup(self) -> float | None:
        """The earliest time at which time alone may change a waiting request's fate."""
        with self._lock:
            if not self.waiting:
                self._wakeups.clear()
                return None
            return self._wakeups[0] if self._wakeups else None

    # -- internals ----------------------------------------------------------------------

    def _serve_once(self) -> None:
        now = self._clock()
        wakeups = self._wakeups
        while wakeups and wakeups[0] <= now:
            heapq.heappop(wakeups)
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            request = heapq.heappop(deadlines)[2]
            if not request.done:
                self._settle(request, self._attempt(request, True), final=True)
        for key in sorted(self._classes, key=self._head_seq):
            self._serve_class(key, now)

    def _serve_class(self, key: Hashable, now: float) -> None:
        queue = self._classes[key]
        skipped: list[Request] = []
        while queue:
            request = queue.popleft()
            if request.done:
                continue
            if request.held_back(now):
                skipped.append(request)  # its own destination is not callable yet
                continue
            outcome = self._attempt(request, False)
            if not self._settle(request, outcome):
                skipped.append(request)
                if isinstance(outcome, NoNumberAvailable) and outcome.reason in _SHORTAGE:
                    break  # the rest of the class wants the same numbers
        queue.extendleft(reversed(skipped))
        if not queue:
            del self._classes[key]

    def _settle(
        self, request: Request, outcome: Lease | NoNumberAvailable, *, final: bool = False
    ) -> bool:
        """Complete the request if `outcome` ends it; else note when to wake for it."""
        if not isinstance(outcome, NoNumberAvailable):
            self._complete(request, outcome, None)
            return True
        if not final and outcome.retry_after is None and outcome.reason not in _SHORTAGE:
            # Time will not help (no compliant number, say): end now, reasons itemized.
            return self._settle(request, self._attempt(request, True), final=True)
        if final:
            self._complete(request, None, outcome)
            return True
        request.retry_at = None
        if outcome.retry_after is not None:
            wake_at = self._clock() + outcome.retry_after
            if outcome.reason not in _SHORTAGE:
                request.retry_at = wake_at
            if wake_at < request.deadline:
                heapq.heappush(self._wakeups, wake_at)
        return False

    def _complete(
        self, request: Request, lease: Lease | None, error: NoNumberAvailable | None
    ) -> None:
        request.done = True
        request.lease = lease
        request.error = error
        self._dequeued(request)
        if request._callback is not None:
            request._callback(request)

    def _dequeued(self, request: Request) -> None:
        if request._queue is self:
            request._queue = None
            self.waiting -= 1

    def _short_of_numbers(self, key: Hashable) -> bool:
        """Whether a request of this class waits for a number to free up: a newcomer
        then queues behind it. Requests waiting for their own retry time (a
        destination limit, calling hours) hold nobody up."""
        queue = self._classes.get(key)
        if not queue:
            return False
        now = self._clock()
        return any(not r.done and not r.held_back(now) for r in queue)

    def _head_seq(self, key: Hashable) -> int:
        queue = self._classes[key]
        while queue and queue[0].done:
            queue.popleft()
        return queue[0].seq if queue else 0
