"""Waiting for a number: one FIFO queue under every front end (threads, asyncio, SimPy).

A waiting request is served inside whatever allocator operation frees a
channel (a release, an expiry) or at a timed wake-up (a rolling window or a
destination limit freeing a slot, a deadline). Requests that compete for the same
numbers (same template and groups) form one class and are served first come, first
served; across classes, the oldest head goes first.

One thread serves at a time, and it holds the queue's lock only between attempts,
never across one (an attempt may be a Redis call that stalls): cancelling, or giving
up on, a request never waits for a backend. Another thread that would serve meanwhile
asks the serving one to go round again, and waits for that round (so a release has
served this process's waiters when it returns); a callback of the serving thread that
serves again only asks. An attempt that fails leaves its request queued as it was; a
deadline's attempt that fails ends the request with that error.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, TypeAlias

from .refusal import SHORTAGE_REASONS, NoNumberAvailable

if TYPE_CHECKING:
    from .lease import Lease


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
        self.error: Exception | None = None  # a refusal, or the backend's failure
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
Outcome: TypeAlias = "Lease | Exception"  # an attempt's lease, its refusal, or its failure


class WaitQueue:
    """The requests waiting for numbers, and the times they need waking at."""

    def __init__(
        self,
        attempt: Attempt,
        clock: Callable[[], float],
        give_back: Callable[[Lease], object],
    ) -> None:
        self._attempt = attempt  # (request, final) -> lease or refusal; final itemizes reasons
        self._clock = clock
        self._give_back = give_back  # a lease granted to a request that ended meanwhile
        self._lock = threading.RLock()
        self._round_done = threading.Condition(self._lock)
        self._classes: dict[Hashable, deque[Request]] = {}
        self._deadlines: list[tuple[float, int, Request]] = []
        self._wakeups: list[float] = []
        self._order = itertools.count(1)
        self._serving = False
        self._server: int | None = None  # the serving thread
        self._again = False
        self._rounds_started = 0
        self._rounds_done = 0
        self.waiting = 0
        self._closed = False

    def submit(self, request: Request) -> None:
        """Try the request now; if it must wait, queue it behind its class. A failure of
        its first try is raised to the caller, and the request is not queued."""
        if self.waiting:
            self.serve()
        with self._lock:
            request.seq = next(self._order)
            if self._serving or self._short_of_numbers(request.key):
                self._enqueue(request)
                if self._serving:  # the serving thread's next round tries it
                    self._join_round()
                return
            self._begin_serving()
        try:
            outcome, final = self._try(request, request.deadline <= self._clock())
        except BaseException:
            self._end_serving()
            raise
        with self._lock:
            lost = self._settle(request, outcome, final=final)
            if not request.done:
                self._enqueue(request)
        self._after(lost)
        try:  # serve what arrived meanwhile, before others stop waiting for this pass
            self._serve_rounds()
        finally:
            self._end_serving()

    def serve(self) -> bool:
        """Give freed numbers to waiting requests, oldest first; end expired waits.

        Returns False if another pass was under way (in this thread, a callback
        re-entered; or in another): that pass goes round again instead."""
        with self._lock:
            if self._serving:
                self._join_round()
                return False
            self._begin_serving()
            self._again = True
        try:
            self._serve_rounds()
        finally:
            self._end_serving()
        return True

    def cancel(self, request: Request) -> None:
        with self._lock:
            if not request.done:
                request.done = True
                self._dequeued(request)

    def close(self) -> None:
        """End every waiting request (its caller gets RuntimeError): nothing will serve
        them once the allocator is closed. That includes one out of its queue while a
        round tries it (it still has its deadline entry), and one whose first try is
        under way (it is ended when it would queue)."""
        with self._lock:
            self._closed = True
            for queue in self._classes.values():
                for request in queue:
                    self._end_closed(request)
            for _, _, request in self._deadlines:
                self._end_closed(request)
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

    def _begin_serving(self) -> None:
        self._serving = True
        self._server = threading.get_ident()

    def _end_serving(self) -> None:
        with self._lock:
            self._serving = False
            self._server = None
            self._round_done.notify_all()

    def _join_round(self) -> None:
        """Under the lock, while another pass is under way: have it go round again, and
        (from another thread) wait until that round is done. The serving thread itself
        (a callback serving again) only asks."""
        self._again = True
        if self._server == threading.get_ident():
            return
        wanted = self._rounds_started + 1
        while self._serving and self._rounds_done < wanted:
            self._round_done.wait()

    def _serve_rounds(self) -> None:
        """As the serving thread: go round while a round is asked for."""
        while self._round_wanted():
            self._serve_once()
            with self._lock:
                self._rounds_done += 1
                self._round_done.notify_all()

    def _round_wanted(self) -> bool:
        with self._lock:
            again, self._again = self._again, False
            self._rounds_started += again
            return again

    def _serve_once(self) -> None:
        now = self._clock()
        due = []
        with self._lock:
            wakeups = self._wakeups
            while wakeups and wakeups[0] <= now:
                heapq.heappop(wakeups)
            deadlines = self._deadlines
            while deadlines and deadlines[0][0] <= now:
                due.append(heapq.heappop(deadlines)[2])
        for request in due:
            if request.done:
                continue
            outcome: Outcome
            try:
                outcome = self._attempt(request, True)
            except Exception as error:  # its time is up: the wait ends with the failure
                outcome = error
            with self._lock:
                lost = self._settle(request, outcome, final=True)
            self._after(lost)
        with self._lock:
            keys = sorted(self._classes, key=self._head_seq)
        for key in keys:
            self._serve_class(key, now)

    def _serve_class(self, key: Hashable, now: float) -> None:
        skipped: list[Request] = []
        trying: Request | None = None  # the request whose attempt is under way
        try:
            while True:
                with self._lock:
                    queue = self._classes.get(key)
                    if not queue:
                        break
                    request = queue.popleft()
                    if request.done:
                        continue
                    if request.held_back(now):
                        skipped.append(request)  # its own destination is not callable yet
                        continue
                    trying = request
                outcome, final = self._try(request, False)
                with self._lock:
                    trying = None
                    lost = self._settle(request, outcome, final=final)
                    if not request.done:
                        skipped.append(request)
                self._after(lost)
                if not request.done and _shortage(outcome):
                    break  # the rest of the class wants the same numbers
        finally:
            with self._lock:  # a failed attempt leaves the class as it was
                if trying is not None:
                    skipped.append(trying)
                queue = self._classes.setdefault(key, deque())
                queue.extendleft(reversed(skipped))
                if not queue:
                    del self._classes[key]

    def _try(self, request: Request, final: bool) -> tuple[Lease | NoNumberAvailable, bool]:
        """One attempt for the request, outside the lock, and whether it is final. A
        refusal that time will not mend (no compliant number, say) is made final at
        once, its reasons itemized."""
        outcome = self._attempt(request, final)
        if (
            not final
            and isinstance(outcome, NoNumberAvailable)
            and outcome.retry_after is None
            and outcome.reason not in SHORTAGE_REASONS
        ):
            return self._attempt(request, True), True
        return outcome, final

    def _settle(self, request: Request, outcome: Outcome, *, final: bool = False) -> Lease | None:
        """Under the lock: complete the request if `outcome` ends it; else note when to
        wake for it. Returns a lease granted to a request that ended meanwhile (given
        back outside the lock)."""
        if request.done:
            return None if isinstance(outcome, Exception) else outcome
        if not isinstance(outcome, Exception):
            self._complete(request, outcome, None)
            return None
        if final or not isinstance(outcome, NoNumberAvailable):
            self._complete(request, None, outcome)
            return None
        request.retry_at = None
        if outcome.retry_after is not None:
            wake_at = self._clock() + outcome.retry_after
            if outcome.reason not in SHORTAGE_REASONS:
                request.retry_at = wake_at
            if wake_at < request.deadline:
                heapq.heappush(self._wakeups, wake_at)
        return None

    def _after(self, lost: Lease | None) -> None:
        if lost is not None:
            self._give_back(lost)

    def _end_closed(self, request: Request) -> None:
        if not request.done:
            request.closed = True
            self._complete(request, None, None)

    def _enqueue(self, request: Request) -> None:
        """Queue a request in its place: by arrival, though others may have queued while
        its first try ran."""
        if self._closed:
            self._end_closed(request)
            return
        queue = self._classes.setdefault(request.key, deque())
        place = len(queue)
        while place and queue[place - 1].seq > request.seq:
            place -= 1
        queue.insert(place, request)
        request._queue = self
        self.waiting += 1
        heapq.heappush(self._deadlines, (request.deadline, request.seq, request))
        heapq.heappush(self._wakeups, request.deadline)

    def _complete(self, request: Request, lease: Lease | None, error: Exception | None) -> None:
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


def _shortage(outcome: Outcome) -> bool:
    return isinstance(outcome, NoNumberAvailable) and outcome.reason in SHORTAGE_REASONS
