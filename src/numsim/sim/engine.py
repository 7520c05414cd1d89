"""The simulation engine: SimPy time driving the production Allocator.

Every attempt is one call of the real allocator at the simulated instant. A call
holds its number through the lease: the lease's TTL is the call's holding time,
so the allocator itself gives the channel back when the call ends, exactly as a
release would, with no extra event per call. A call whose status callback is
lost keeps the default TTL, as in production. No process per attempt, no
polling: arrivals are timeout callbacks, waiting is the allocator's own queue,
woken through the clock's call_at. An attempt that does not wait reads the
allocator's Grant, the acquisition before it is wrapped in a Lease: no Lease
object per simulated attempt.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import simpy
from simpy.events import Timeout

from ..allocator import Allocator, Destination, MemoryBackend, NoNumberAvailable, Request
from ..allocator.allocator import MAX_LEASE_TTL
from ..allocator.backend import Grant, lease_of
from ..allocator.refusal import HOURLY_CAP
from .pool import numbers_and_templates
from .scenario import Scenario
from .trace import (
    ANSWERED,
    CALLBACK,
    CALLBACK_MISSED,
    LOST_CALLBACK,
    NO_ANSWER,
    REASON_CODES,
    REFUSED,
    Trace,
    pack,
)

_SHORTEST_HOLD = 1e-6  # a lease needs a positive TTL; a 0-second call holds for 1 µs
_LONGEST_HOLD = MAX_LEASE_TTL  # a call's lease lives at most a day
# How an attempt went: (its refusal or None, when the call hangs up, answered).
Done = Callable[["NoNumberAvailable | None", float, bool], object]
# One attempt, as its settling needs it: template, destination code, attempt number,
# arrival, answered, hold, lost callback, done.
_Call = tuple[str, int, int, float, bool, float, bool, "Done | None"]


class SimClock:
    """The allocator's clock in a simulation: epoch seconds at SimPy's `now`."""

    __slots__ = ("_env", "epoch")

    def __init__(self, env: simpy.Environment, epoch: float) -> None:
        self._env = env
        self.epoch = epoch

    def __call__(self) -> float:
        # env._now, the attribute SimPy's `now` property returns: read once per simulated
        # attempt, and the property's call costs ~30 ns of the ~4 us an attempt takes
        return self.epoch + self._env._now

    def call_at(self, when: float, callback: Callable[[], object]) -> None:
        def fire(_: object) -> None:
            callback()

        Timeout(self._env, max(when - self(), 0.0)).callbacks.append(fire)


class Engine:
    """One run of a scenario with one seed."""

    def __init__(self, scenario: Scenario, seed: int | None, *, itemize: bool = True) -> None:
        """`itemize`: count each number's refusals at its hourly cap (the numbers table
        reads them; each refusal then passes over the pool, and a summary never reads
        them)."""
        self.scenario = scenario
        self.env = simpy.Environment()
        self.clock = SimClock(self.env, scenario.start_epoch)
        self.rng = random.Random(seed)
        numbers, templates = numbers_and_templates(scenario)
        self.numbers = numbers
        self.templates = list(templates)
        self.allocator = Allocator(
            numbers,
            templates,
            backend=MemoryBackend(threads=False),  # one thread: no lock per attempt
            clock=self.clock,
            destination_limit=scenario.destination_limit,
            lease_ttl=scenario.lease_ttl_seconds,
            strategy=scenario.strategy,
            seed=self.rng.randrange(2**32),
            calling_hours=scenario.calling_hours,
            compliance=scenario.compliance,
        )
        self.number_code = {n.e164: i for i, n in enumerate(numbers)}
        self.template_code = {t: i for i, t in enumerate(self.templates)}
        self.destinations: list[str] = []  # by code: the trace's labels
        # By code: each resolved when first called, then passed per call (a population
        # may be 1,000,000 people, most never called in a short run).
        self._targets: list[Destination | None] = []
        self.records = bytearray()  # trace.pack()ed, one record per attempt
        self._append = self.records.extend
        self._try_grant = self.allocator.try_grant  # try_acquire without a Lease object
        self.cap_refusals = [0] * len(numbers)  # refusals while each number was at its hourly cap
        self._explain = itemize and any(n.max_calls_per_hour for n in numbers)
        call = scenario.call
        self._p_answer = call.answer_probability
        self._p_lost = call.lost_callback_probability
        self._p_callback = call.callback_probability
        self._hold_answered = _sum(call.ring_seconds, call.talk_seconds, self.rng)
        self._no_answer = call.no_answer_seconds.sampler(self.rng)
        self._callback_delay = call.callback_delay_seconds.sampler(self.rng)
        self._callback_talk = call.callback_talk_seconds.sampler(self.rng)
        self._pacers = _Pacers(scenario.calls_per_second, numbers)
        self._pacing = bool(self._pacers)
        self._max_wait = scenario.max_wait_seconds

    def trace(self) -> Trace:
        """What the run left behind, for its result."""
        return Trace(
            self.records,
            self.numbers,
            self.templates,
            self.destinations,
            self.cap_refusals,
            self.allocator.snapshot(),
        )

    # -- destinations ---------------------------------------------------------------------

    def add_destinations(self, destinations: list[str]) -> int:
        """Register a source's destinations; returns the code of the first one."""
        first = len(self.destinations)
        self.destinations.extend(destinations)
        self._targets.extend([None] * len(destinations))
        return first

    # -- attempts -------------------------------------------------------------------------

    def attempt(
        self,
        template: str,
        destination: int,
        attempt: int = 1,
        done: Done | None = None,
        hold: float | None = None,
        answered: bool | None = None,
        max_wait: float | None = None,
    ) -> None:
        """One outbound attempt now. `done(refusal, end, answered)` tells the source how
        it went (refusal: None if it got a number; end: when the call hangs up). Replays
        pass their own hold and answer; campaigns their own max wait."""
        if answered is None:
            answered = self._p_answer >= 1.0 or self.rng.random() < self._p_answer
        if hold is None:
            hold = self._hold_answered() if answered else self._no_answer()
        if not _SHORTEST_HOLD <= hold < _LONGEST_HOLD:  # one test on the usual path
            hold = _checked_hold(hold)
        lost = self._p_lost > 0.0 and self.rng.random() < self._p_lost
        arrival = self.env._now  # what `now` returns, without the property call (see SimClock)
        call = (template, destination, attempt, arrival, answered, hold, lost, done)
        target = self._targets[destination]
        if target is None:
            (target,) = self.allocator.resolve((self.destinations[destination],))
            self._targets[destination] = target
        if max_wait is None:
            max_wait = self._max_wait
        if max_wait == 0.0:
            outcome = self._try_grant(
                template,
                target,
                ttl=None if lost else hold,
                explain=self._explain,
            )
            self._settle(outcome, call, call[3])  # settled at once: no wait
            return

        def settle(request: Request) -> None:
            lease = request.lease
            if lease is None:
                assert isinstance(request.error, NoNumberAvailable)  # memory never fails
                self._settle(request.error, call, self.env.now)
                return
            grant = (lease.id, lease.number, lease.destination, lease.expires_at)
            self._settle(grant, call, self.env.now)

        self.allocator.request(
            template,
            target,
            timeout=max_wait,
            ttl=None if lost else hold,
            callback=settle,
            explain=self._explain,
        )

    def _settle(self, outcome: Grant | NoNumberAvailable, call: _Call, now: float) -> None:
        """Record how an attempt went (`now`: when it was settled), and tell its source."""
        template, destination, attempt, arrival, answered, hold, lost, done = call
        if isinstance(outcome, NoNumberAvailable):
            refusal = outcome
            self._append(
                pack(
                    arrival,
                    now - arrival,
                    0.0,
                    0.0,
                    self.template_code[template],
                    destination,
                    -1,
                    REFUSED,
                    REASON_CODES[refusal.reason],
                    attempt,
                    0,
                )
            )
            if refusal.reasons:
                self._count_caps(refusal.reasons)
            if done is not None:
                done(refusal, now, False)
            return
        _, number, _, expires_at = outcome
        pacing = self._pacers.delay(number, now) if self._pacing else 0.0
        if pacing and not lost:
            lease = lease_of(outcome, template, None)
            self.allocator.renew(lease, ttl=pacing + hold)
        held = hold if not lost else expires_at - self.clock() - pacing
        self._append(
            pack(
                arrival,
                now - arrival,
                pacing,
                held,
                self.template_code[template],
                destination,
                self.number_code[number],
                ANSWERED if answered else NO_ANSWER,
                0,
                attempt,
                LOST_CALLBACK if lost else 0,
            )
        )
        if answered and self._p_callback > 0.0 and self.rng.random() < self._p_callback:
            delay = pacing + hold + self._callback_delay()
            Timeout(self.env, delay, (number, destination)).callbacks.append(self._call_back)
        if done is not None:
            done(None, now + pacing + hold, answered)

    def _call_back(self, event: Any) -> None:
        """A destination calls the number back: an inbound call on that number."""
        e164, destination = event.value
        now = self.env.now
        talk = max(self._callback_talk(), _SHORTEST_HOLD)
        number_code = self.number_code[e164]
        try:
            self.allocator.acquire_inbound(e164, ttl=talk)
        except NoNumberAvailable as refusal:
            reason = REASON_CODES[refusal.reason]
            self._append(
                pack(
                    now, 0.0, 0.0, 0.0, -1, destination, number_code, CALLBACK_MISSED, reason, 0, 0
                )
            )
            return
        self._append(pack(now, 0.0, 0.0, talk, -1, destination, number_code, CALLBACK, 0, 0, 0))

    def _count_caps(self, reasons: dict[str, str]) -> None:
        counts, codes = self.cap_refusals, self.number_code
        for e164, why in reasons.items():
            if why == HOURLY_CAP:
                counts[codes[e164]] += 1


def _checked_hold(hold: float) -> float:
    """A sampled holding time outside the usual range: a 0-second call holds for 1 µs; one
    of a day or more, or not finite (a distribution whose draws overflow), is refused,
    naming it."""
    if hold < _SHORTEST_HOLD:
        return _SHORTEST_HOLD
    if hold == _LONGEST_HOLD:
        return hold
    raise ValueError(
        f"a call's holding time is {hold!r} seconds: the scenario's time distributions "
        f"must draw finite seconds up to a day ({_LONGEST_HOLD:,.0f}; is a mean too large?)"
    )


def _sum(first: Any, second: Any, rng: random.Random) -> Callable[[], float]:
    """A sampler of first + second, skipping a constant 0 (no ring time, say)."""
    one, two = first.sampler(rng), second.sampler(rng)
    if first.kind == "constant" and first.mean == 0:
        return two
    return lambda: one() + two()


class _Pacers:
    """Provider-account pacing: calls placed per second per account, the excess queued
    (as Twilio does), the number held meanwhile."""

    def __init__(self, calls_per_second: Any, numbers: list[Any]) -> None:
        rates = dict(calls_per_second)
        self._gap: dict[str, float] = {}
        for number in numbers:
            account = number.account or number.provider.value
            rate = rates.get(account, rates.get(number.provider.value))
            if rate:
                self._gap[number.e164] = 1.0 / rate
        self._account = {n.e164: n.account or n.provider.value for n in numbers}
        self._next_free: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self._gap)

    def delay(self, e164: str, now: float) -> float:
        gap = self._gap.get(e164)
        if gap is None:
            return 0.0
        account = self._account[e164]
        start = max(now, self._next_free.get(account, now))
        self._next_free[account] = start + gap
        return start - now
