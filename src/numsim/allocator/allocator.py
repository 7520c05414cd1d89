"""The Allocator: picks the number a call goes out on, under every rule, atomically."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import itertools
import logging
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..clock import Clock, SchedulingClock, TimerThread
from ..errors import BackendUnavailable, UnknownNumberError, UnknownTemplateError
from ..numbers import CAPS, OutboundNumber, Template, caps, check_template_id
from ..phone import PhoneInfo, normalize_e164, phone_info
from ..validation import finite
from .backend import (
    AsyncBackend,
    Backend,
    Cap,
    Finding,
    Grant,
    NumberSpec,
    NumberState,
    Policy,
    Refusal,
    lease_of,
)
from .lease import Lease
from .memory import MemoryBackend
from .refusal import (
    CALLING_HOURS,
    NOT_COMPLIANT,
    REFUSALS,
    SHORTAGE_REASONS,
    TEMPLATE_REFUSALS,
    NoNumberAvailable,
)
from .rules import (
    DAY,
    HOUR,
    CallingHours,
    DestinationLimit,
    calling_hours_map,
    compliance_map,
    number_tags,
)
from .strategy import Strategy
from .waiting import Request, WaitQueue

if TYPE_CHECKING:
    from ..registry import NumberRegistry

# Longer than the longest call the providers allow (Plivo 4 h, Exotel TimeLimit 14,400 s),
# so a call that never renews is not cut short.
DEFAULT_LEASE_TTL = 4 * 3600 + 600
# No call lasts a day: a longer lease is a mistake (it would hold a channel for good).
MAX_LEASE_TTL = float(DAY)
DEFAULT_STICKY_TTL = 7 * DAY
# On a backend that may stall (Redis), a waiting acquire returns or raises at most this
# long after its timeout, whatever the backend does: a call still unanswered then goes on
# in the background, and a lease it grants is given back.
WAIT_GRACE = 1.0
# Destinations resolved (parsed, their region's rules looked up), the most recently used
# kept: ~0.8 KB each, so at most ~13 MB for a dialer calling many people.
DESTINATION_CACHE = 1 << 14
_T = TypeVar("_T")
_CAP_NAMES = tuple(cap.name for cap in CAPS)
_INFINITY = float("inf")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class Destination:
    """A destination parsed and given its region's routing rules by an allocator
    (Allocator.resolve): passed in place of its E.164 to an allocator with the same
    rules, it skips the lookup per call. Made by allocators only; a copy or an
    unpickled one keeps the rules of the process it lands in."""

    e164: str
    info: PhoneInfo
    required_tag: str | None
    groups: tuple[str, ...]
    hours: CallingHours | None
    rules: _Rules


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The pool at one moment: per number state, and counters since the start."""

    time: float
    numbers: dict[str, dict[str, Any]]
    counters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "numbers": self.numbers, "counters": self.counters}

    def to_frame(self) -> Any:
        """The per-number table as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        frame = pd.DataFrame.from_dict(self.numbers, orient="index")
        frame.index.name = "e164"
        return frame


class Allocator:
    """Pick an available number from a template's pool at call time.

    The same object serves a live service (wall clock, memory or Redis backend)
    and the simulator (a SimPy clock): the rules exist once.
    """

    def __init__(
        self,
        numbers: Iterable[OutboundNumber],
        templates: Mapping[str, Iterable[str]] | Iterable[Template],
        *,
        backend: Backend | None = None,
        clock: Clock | None = None,
        destination_limit: DestinationLimit | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        strategy: str | Strategy = "least_loaded",
        seed: int | None = None,
        calling_hours: Mapping[str, object] | None = None,
        compliance: bool | Mapping[str, str] = True,
        sticky_ttl: float = DEFAULT_STICKY_TTL,
    ) -> None:
        if destination_limit is not None and not isinstance(destination_limit, DestinationLimit):
            raise TypeError("destination_limit must be a numsim.DestinationLimit or None")
        _check_ttl("lease_ttl", lease_ttl)
        _check_seconds("sticky_ttl", sticky_ttl)
        self._clock: Callable[[], float] = clock or time.time
        self._now = _reader(self._clock)  # every read of the clock calls this
        # Timed wake-ups of waiting requests: the clock's own call_at (ManualClock, the
        # simulator's), or a timer thread for the wall clock.
        self._timers: TimerThread | None = None
        self._call_at: Callable[[float, Callable[[], object]], object]
        if isinstance(self._clock, SchedulingClock):
            self._call_at = self._clock.call_at
        else:
            self._timers = TimerThread(self._clock)
            self._call_at = self._timers.call_at
        self._backend = backend if backend is not None else MemoryBackend()
        self._strategy = Strategy.named(strategy)
        self._compliance = compliance_map(compliance)
        self._hours = calling_hours_map(calling_hours)
        self._numbers: dict[str, OutboundNumber] = {}
        self._pools: dict[str, dict[str, None]] = {}  # template -> ordered set of e164
        self._config_lock = threading.RLock()
        # A destination by the caller's spelling, resolved once while it is in use, in one
        # cache per set of routing rules in the process (see _resolver).
        self._rules = _rules(
            tuple(sorted(self._compliance.items())),
            self._strategy,
            tuple(sorted(self._hours.items())),
        )
        self._destination_of = self._rules.cached
        self._resolve = self._rules.resolve
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._scheduled: set[float] = set()
        self._schedule_lock = threading.Lock()
        self._sticky = self._strategy.sticky
        # One thread runs the async front end's synchronous calls, in the order they were
        # made (tasks join the waiting queue in the order they called); started on first use.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="numsim-async")
        self._poll_pending = False  # a poll is queued in the worker
        self._outage = False  # serving in the background failed, and said so once
        self._backend.configure(
            Policy(
                order=self._strategy.order,
                lease_ttl=float(lease_ttl),
                destination_limit=destination_limit,
                sticky_ttl=float(sticky_ttl) if self._sticky else None,
                seed=seed,
            )
        )
        self._waits = WaitQueue(self._attempt_request, self._now, self._give_back)
        # "Nothing freed since": a class of waiting requests refused for want of numbers
        # is not tried again (its refusal stands) until a channel frees, a number
        # changes, or time reaches its refusal's retry time or the next lease expiry.
        # Only where every free reaches this process (a backend without wake_interval).
        self._generations = itertools.count()
        self._generation = next(self._generations)
        # Each: (generation, stands until, the refusal, its retry time or None).
        self._futile: dict[Hashable, tuple[int, float, NoNumberAvailable, float | None]] = {}
        self._load(numbers, templates)
        self._backend.subscribe(self._on_free)  # last: a refused constructor starts no thread

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """End the calls still waiting (they raise RuntimeError), stop the allocator's
        threads (timed wake-ups, the async worker) and close its backend. The allocator
        is not used after."""
        self._waits.close()
        if self._timers is not None:
            self._timers.close()
        self._worker.shutdown(wait=True)
        self._backend.close()

    async def aclose(self) -> None:
        """close for asyncio: also closes the backend's asyncio connections."""
        self._waits.close()
        if self._timers is not None:
            await asyncio.to_thread(self._timers.close)
        await asyncio.to_thread(self._worker.shutdown, True)
        if isinstance(self._backend, AsyncBackend):
            await self._backend.aclose()
        else:
            self._backend.close()

    def __enter__(self) -> Allocator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Allocator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @classmethod
    def from_registry(cls, registry: NumberRegistry, **options: Any) -> Allocator:
        """An allocator over every number and template pool of a registry."""
        templates = {t.id: t.numbers for t in registry.templates().values()}
        return cls(registry.numbers(), templates, **options)

    # -- calls --------------------------------------------------------------------------

    def acquire(
        self,
        template: str,
        destination: str | Destination,
        *,
        call_id: str | None = None,
        timeout: float | None = None,
        ttl: float | None = None,
    ) -> Lease:
        """Take a channel of the best available number of `template`'s pool.

        Raises NoNumberAvailable (with reasons and retry_after) if none fits. With
        `timeout` (seconds), waits first come, first served until one does. The
        lease lives `ttl` seconds unless renewed (default: the allocator's
        lease_ttl); a call with a provider time limit can pass that limit plus a
        margin.
        """
        if ttl is not None:
            _check_ttl("ttl", ttl)
        if timeout:
            return self._acquire_waiting(template, destination, call_id, timeout, ttl)
        target = self._destination(destination)
        if self._waits.waiting:
            self.poll()  # those already waiting go first
        outcome = self._attempt(template, target, call_id, ttl, True)
        if isinstance(outcome, NoNumberAvailable):
            raise outcome
        return outcome

    def try_acquire(
        self,
        template: str,
        destination: str | Destination,
        *,
        call_id: str | None = None,
        ttl: float | None = None,
        explain: bool = False,
    ) -> Lease | NoNumberAvailable:
        """Like acquire without waiting, but returns the refusal instead of raising it,
        and itemizes `reasons` only if `explain` (it costs a pass over the pool)."""
        return _lease(
            self.try_grant(template, destination, call_id=call_id, ttl=ttl, explain=explain),
            template,
            call_id,
        )

    def try_grant(
        self,
        template: str,
        destination: str | Destination,
        *,
        call_id: str | None = None,
        ttl: float | None = None,
        explain: bool = False,
    ) -> Grant | NoNumberAvailable:
        """try_acquire answering a compact Grant (lease id, number, destination,
        expires_at), not a Lease: for callers that make millions of attempts and read
        no Lease object (the simulator). `Lease(id, number, ...)` of a Grant releases
        it like any lease."""
        if ttl is not None and not (type(ttl) is float and 0.0 < ttl <= MAX_LEASE_TTL):
            _check_ttl("ttl", ttl)  # finite()'s fast path, without its two calls
        if type(destination) is Destination and destination.rules is self._rules:
            target = destination
        else:
            target = self._destination(destination)
        if self._waits.waiting:
            self.poll()  # those already waiting go first
        return self._try(template, target, call_id, ttl, explain)

    async def aacquire(
        self,
        template: str,
        destination: str | Destination,
        *,
        call_id: str | None = None,
        timeout: float | None = None,
        ttl: float | None = None,
    ) -> Lease:
        """acquire for asyncio: never blocks the event loop.

        A backend with asyncio operations (RedisBackend) is called through them, and
        its synchronous calls (serving waiters) run in a worker thread. With a
        timeout, the task joins the same first-come, first-served queue as threads
        (its place fixed when it calls), served by whoever frees a channel: this
        process or, through Redis, any other. Cancelling it gives back whatever it
        was granted."""
        if ttl is not None:
            _check_ttl("ttl", ttl)
        if timeout:
            return await self._aacquire_waiting(template, destination, call_id, timeout, ttl)
        backend = self._backend
        if not isinstance(backend, AsyncBackend):
            return self.acquire(template, destination, call_id=call_id, ttl=ttl)
        target = self._destination(destination)
        if self._waits.waiting:
            await self._off_loop(self.poll)  # those already waiting go first
        outcome = await self._aattempt(backend, template, target, call_id, ttl, True)
        if isinstance(outcome, NoNumberAvailable):
            raise outcome
        return outcome

    async def arelease(self, lease: Lease) -> bool:
        """release for asyncio."""
        _check_lease(lease, "release")
        backend = self._backend
        if not isinstance(backend, AsyncBackend):
            return self.release(lease)
        released = await backend.arelease(lease.id, lease.number, self._now())
        if released and self._waits.waiting:
            await self._off_loop(self.poll)
        return released

    async def arenew(self, lease: Lease, *, ttl: float | None = None) -> bool:
        """renew for asyncio."""
        _check_lease(lease, "renew")
        backend = self._backend
        if not isinstance(backend, AsyncBackend):
            return self.renew(lease, ttl=ttl)
        if ttl is not None:
            _check_ttl("ttl", ttl)
        expires_at = await backend.arenew(lease.id, lease.number, self._now(), ttl)
        if expires_at is None:
            return False
        lease.expires_at = expires_at
        return True

    def request(
        self,
        template: str,
        destination: str | Destination,
        *,
        call_id: str | None = None,
        timeout: float = 0.0,
        ttl: float | None = None,
        callback: Callable[[Request], object] | None = None,
        explain: bool = True,
    ) -> Request:
        """Low level: ask for a number, waiting up to `timeout` seconds of the clock.

        Returns at once; `callback(request)` runs when the request completes
        (it may run before this returns). Front ends for threads, asyncio and
        the simulator are built on this. `explain`: a refusal itemizes its
        `reasons` (a pass over the pool; the simulator asks only when it reads them).
        """
        finite("timeout", timeout)
        if ttl is not None:
            _check_ttl("ttl", ttl)
        if template not in self._pools:
            raise UnknownTemplateError(f"unknown template {template!r}")
        target = self._destination(destination)
        request = Request(
            template,
            target,
            call_id,
            ttl,
            self._now() + timeout,
            (template, target.groups),
            callback,
        )
        request.explain = explain
        self._waits.submit(request)
        if not request.done and self._backend.expect_frees(self._now(), self._has_waiters):
            self.poll()  # a channel freed between its try and the mark was announced to no one
        self._schedule_wakeup()
        return request

    def acquire_inbound(
        self, e164: str, *, call_id: str | None = None, ttl: float | None = None
    ) -> Lease:
        """Take a channel of `e164` for an inbound call (not counted toward hourly caps)."""
        number = normalize_e164(e164)
        if number not in self._numbers:
            raise UnknownNumberError(f"{number} is not a number of this allocator")
        if ttl is not None:
            _check_ttl("ttl", ttl)
        outcome = self._backend.acquire_number(number, self._now(), call_id, ttl)
        if isinstance(outcome, Refusal):
            raise NoNumberAvailable(outcome.reason, reasons=outcome.statuses, destination=number)
        return outcome

    def release(self, lease: Lease) -> bool:
        """Give the lease's channel back. Idempotent: returns False (and changes
        nothing) if the lease was already released or had expired."""
        _check_lease(lease, "release")
        return self._backend.release(lease.id, lease.number, self._now())

    def renew(self, lease: Lease, *, ttl: float | None = None) -> bool:
        """Extend a live call's lease to now + ttl (default: the allocator's lease_ttl);
        False if it already expired or ended."""
        _check_lease(lease, "renew")
        if ttl is not None:
            _check_ttl("ttl", ttl)
        expires_at = self._backend.renew(lease.id, lease.number, self._now(), ttl)
        if expires_at is None:
            return False
        lease.expires_at = expires_at
        return True

    # -- time ---------------------------------------------------------------------------

    def poll(self) -> None:
        """Serve waiting requests whose time has come, then schedule the next timed
        wake-up. Called on every release and at every wake-up; callers may call it
        too (say, after moving a clock without call_at)."""
        try:
            served = self._waits.serve()
        except Exception:
            with contextlib.suppress(Exception):  # the waiters still need their wake-ups
                self._schedule_wakeup()
            raise
        if served:  # inside a pass, that pass schedules when it is done
            self._schedule_wakeup()

    def next_wakeup(self) -> float | None:
        """Clock time when a waiting request may be served by time alone, or None."""
        wake = self._waits.next_wakeup()
        if wake is None:
            return None
        expiry = self._backend.next_expiry(self._now())
        return wake if expiry is None else min(wake, expiry)

    # -- reading ------------------------------------------------------------------------

    def in_use(self, e164: str) -> int:
        """Channels busy on `e164` now, inbound calls included."""
        number = normalize_e164(e164)
        busy = self._backend.in_use(number, self._now())
        if busy == 0 and number not in self._numbers:
            raise UnknownNumberError(f"{number} is not a number of this allocator")
        return busy

    def check(self, *, repair: bool = True) -> list[Finding]:
        """Verify the backend's state against its lease index and repair what can be
        derived (calls in progress per number, lease expiries, and, on Redis, the
        settings of this allocator's numbers if a key was lost). An empty list: healthy.
        Run it after a Redis incident, or periodically from a service."""
        findings = self._backend.check(self._now(), repair)
        self.poll()
        return findings

    def states(self, e164s: Iterable[str] | None = None) -> tuple[float, dict[str, NumberState]]:
        """The clock's time and each number's state then, as the backend sees it (a
        number removed while a call still holds it included): what snapshot() reads,
        without building its rows (a metrics scrape of 100,000 numbers).

        Given `e164s`, only those numbers' states, and no other number is read (a page
        of 50 of 100,000; on Redis one round trip that reads only their keys). A number
        the backend holds no state for (never added, or removed and idle) is absent."""
        now = self._now()
        if e164s is None:
            return now, self._backend.numbers(now)
        if isinstance(e164s, str):
            raise TypeError("states() takes an iterable of E.164 numbers, not one string")
        known = self._numbers
        wanted = dict.fromkeys(e if e in known else normalize_e164(e) for e in e164s)
        return now, self._backend.numbers(now, tuple(wanted)) if wanted else {}

    def counters(self) -> dict[str, int]:
        """Counters since the start: acquisitions, releases, expiries, refusals by
        reason ("refused:<reason>") and by template ("refused_in:<template>:<reason>"),
        without reading every number: cheap to sample often."""
        counters = Counter(self._backend.stats())
        with self._count_lock:
            counters.update(self._counts)
        return dict(sorted(counters.items()))

    def snapshot(self) -> Snapshot:
        """Per number: channels in use, capacity, calls in the rolling hour and day,
        status; plus counters of acquisitions and refusals by reason."""
        now, states = self.states()
        with self._config_lock:
            templates_of: dict[str, list[str]] = {}
            for template, pool in self._pools.items():
                for e164 in pool:
                    templates_of.setdefault(e164, []).append(template)
            rows: dict[str, dict[str, Any]] = {}
            known = self._numbers
            for e164, state in states.items():  # one pass, 100,000 numbers a scrape: lean
                number = known.get(e164)
                row = rows[e164] = {
                    "provider": None if number is None else number.provider.value,
                    "capacity": None if number is None else number.capacity,
                    "in_use": state.in_use,
                    "inbound": state.inbound,
                    "calls_last_hour": state.calls[HOUR],
                    "calls_last_day": state.calls.get(DAY),
                }
                for name in _CAP_NAMES:
                    row[name] = getattr(number, name, None)
                row["status"] = state.status
                row["templates"] = templates_of.get(e164) or []
        return Snapshot(now, rows, self.counters())

    @property
    def numbers(self) -> dict[str, OutboundNumber]:
        with self._config_lock:
            return dict(self._numbers)

    @property
    def templates(self) -> dict[str, tuple[str, ...]]:
        with self._config_lock:
            return {t: tuple(pool) for t, pool in self._pools.items()}

    def find(self, e164: str) -> OutboundNumber | None:
        """The allocator's number `e164`, or None: one look-up, where `numbers` copies
        them all."""
        number = e164 if e164 in self._numbers else normalize_e164(e164)  # a key: as given
        with self._config_lock:
            return self._numbers.get(number)

    def templates_of(self, e164: str) -> list[str]:
        """The templates whose pools hold `e164` (none for a number not in any pool):
        a look-up per template, without copying every pool as `templates` does."""
        number = e164 if e164 in self._numbers else normalize_e164(e164)  # a key: as given
        with self._config_lock:
            return self._templates_of(number)

    @property
    def waiting(self) -> int:
        """Requests waiting for a number now."""
        return self._waits.waiting

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def compliance(self) -> dict[str, str]:
        """Destination country -> the compliance tag a number needs to call it."""
        return dict(self._compliance)

    @property
    def clock(self) -> Callable[[], float]:
        """The clock this allocator reads (epoch seconds)."""
        return self._clock

    # -- live pool changes (live leases are never lost) -----------------------------------

    # Each change goes to the backend first and to this allocator's view after it: a
    # change that fails (BackendUnavailable) leaves both as they were, and can be retried.

    def add_number(self, number: OutboundNumber, *, templates: Iterable[str] = ()) -> None:
        """Add a number, or update its settings, and assign it to `templates`."""
        if not isinstance(number, OutboundNumber):
            raise TypeError(f"add_number() takes an OutboundNumber, got {number!r}")
        wanted = [check_template_id(t) for t in templates]
        with self._config_lock:
            self._push(number, {*self._templates_of(number.e164), *wanted})
            self._numbers[number.e164] = number
            for template in wanted:
                self._pools.setdefault(template, {})[number.e164] = None
        self.poll()

    def remove_number(self, e164: str) -> None:
        """Stop using a number; calls on it keep their leases until released."""
        number = normalize_e164(e164)
        with self._config_lock:
            if number not in self._numbers:
                raise UnknownNumberError(f"{number} is not a number of this allocator")
            self._backend.drop_number(number, self._now())
            del self._numbers[number]
            for pool in self._pools.values():
                pool.pop(number, None)

    def assign(self, template: str, numbers: Iterable[str]) -> None:
        """Add numbers (already known to the allocator) to a template's pool."""
        check_template_id(template)
        with self._config_lock:
            joining = [self._known(n) for n in numbers]
            for e164 in joining:  # all to the backend (idempotent), then all here
                self._push(self._numbers[e164], {*self._templates_of(e164), template})
            pool = self._pools.setdefault(template, {})
            for e164 in joining:
                pool[e164] = None
        self.poll()

    def unassign(self, template: str, numbers: Iterable[str]) -> None:
        """Take numbers out of a template's pool; their live calls go on."""
        with self._config_lock:
            pool = self._pools.get(template)
            if pool is None:
                raise UnknownTemplateError(f"unknown template {template!r}")
            leaving = [self._known(n) for n in numbers]
            for e164 in leaving:
                if e164 not in pool:
                    raise UnknownNumberError(f"{e164} is not in template {template!r}")
            for e164 in leaving:  # all to the backend (idempotent), then all here
                self._push(self._numbers[e164], set(self._templates_of(e164)) - {template})
            for e164 in leaving:
                del pool[e164]

    # -- internals ----------------------------------------------------------------------

    def _load(
        self,
        numbers: Iterable[OutboundNumber],
        templates: Mapping[str, Iterable[str]] | Iterable[Template],
    ) -> None:
        for number in numbers:
            if not isinstance(number, OutboundNumber):
                raise TypeError(f"numbers must be OutboundNumber objects, got {number!r}")
            if number.e164 in self._numbers:
                raise ValueError(f"number {number.e164} is given twice")
            self._numbers[number.e164] = number
        for template in Template.from_mapping(templates).values():
            missing = [n for n in template.numbers if n not in self._numbers]
            if missing:
                raise UnknownNumberError(
                    f"template {template.id!r} uses {', '.join(missing)}, not in numbers"
                )
            self._pools[template.id] = dict.fromkeys(template.numbers)
        for number in self._numbers.values():
            self._push(number, self._templates_of(number.e164))

    def _templates_of(self, e164: str) -> list[str]:
        return [template for template, pool in self._pools.items() if e164 in pool]

    def _push(self, number: OutboundNumber, templates: Iterable[str]) -> None:
        """Tell the backend a number's limits and its groups in each of `templates`."""
        self._generation = next(self._generations)  # a waiting request may fit it now
        tags = number_tags(number) & set(self._compliance.values())
        groups = self._strategy.groups(number._info, tags)
        self._backend.put_number(
            NumberSpec(number.e164, number.capacity, tuple(Cap(*cap) for cap in caps(number))),
            {template: groups for template in templates},
            self._now(),
        )

    def _known(self, value: str) -> str:
        e164 = normalize_e164(value)
        if e164 not in self._numbers:
            raise UnknownNumberError(f"{e164} is not a number of this allocator")
        return e164

    def resolve(self, destinations: Iterable[str]) -> list[Destination]:
        """The destinations parsed and given this allocator's routing rules once, to
        pass in place of their E.164 (to acquire, try_grant, request...): a caller that
        dials the same people again and again (the simulator) then skips the lookup
        per call. Raises ValueError naming an invalid one."""
        if isinstance(destinations, str):
            raise TypeError(f"resolve takes a list of destinations, got one: {destinations!r}")
        return [self._destination(value) for value in destinations]

    def _destination(self, value: object) -> Destination:
        if type(value) is Destination:
            if value.rules is not self._rules:
                raise ValueError(
                    f"destination {value.e164} was resolved by an allocator with other "
                    "routing rules (compliance, strategy, calling hours); pass its E.164"
                )
            return value
        try:
            return self._destination_of(value)
        except TypeError:  # not hashable: resolved, not kept
            return self._resolve(value)

    def _attempt_request(self, request: Request, final: bool) -> Lease | NoNumberAvailable:
        target = cast(Destination, request.destination)  # what request() put there
        if not final:
            futile = self._futile.get(request.key)
            if futile is not None and futile[0] == self._generation:
                now = self._now()
                if now < futile[1]:
                    return _standing(futile[2], futile[3], now)
        explain = final and request.explain
        outcome = self._attempt(request.template, target, request.call_id, request.ttl, explain)
        if (
            isinstance(outcome, NoNumberAvailable)
            and outcome.reason in SHORTAGE_REASONS
            and self._backend.wake_interval is None
        ):
            generation, now = self._generation, self._now()
            retry_at = None if outcome.retry_after is None else now + outcome.retry_after
            until = _INFINITY if retry_at is None else retry_at
            expiry = self._backend.next_expiry(now)
            if expiry is not None:
                until = min(until, expiry)
            self._futile[request.key] = (generation, until, outcome, retry_at)
        return outcome

    def _attempt(
        self,
        template: str,
        target: Destination,
        call_id: str | None,
        ttl: float | None,
        explain: bool,
    ) -> Lease | NoNumberAvailable:
        """One atomic try, its Grant wrapped in a Lease."""
        return _lease(self._try(template, target, call_id, ttl, explain), template, call_id)

    def _try(
        self,
        template: str,
        target: Destination,
        call_id: str | None,
        ttl: float | None,
        explain: bool,
    ) -> Grant | NoNumberAvailable:
        """One atomic try, the one path of every synchronous acquisition (_attempt wraps
        its Grant in a Lease; the simulator reads the Grant); `explain` itemizes the
        reasons of a refusal (costs O(pool))."""
        if template not in self._pools:
            raise UnknownTemplateError(f"unknown template {template!r}")
        now = self._now()
        if target.hours is not None:
            closed = self._closed(template, target, target.hours, now)
            if closed is not None:
                return closed
        outcome = self._backend.grant(
            template, target.groups, target.e164, now, call_id, ttl, self._sticky, explain
        )
        if isinstance(outcome, Refusal):
            return self._refused(outcome, template, target)
        return outcome

    async def _aattempt(
        self,
        backend: AsyncBackend,
        template: str,
        target: Destination,
        call_id: str | None,
        ttl: float | None,
        explain: bool,
    ) -> Lease | NoNumberAvailable:
        """_attempt over a backend's asyncio operations."""
        if template not in self._pools:
            raise UnknownTemplateError(f"unknown template {template!r}")
        now = self._now()
        if target.hours is not None:
            closed = self._closed(template, target, target.hours, now)
            if closed is not None:
                return closed
        outcome = await backend.aacquire(
            template, target.groups, target.e164, now, call_id, ttl, self._sticky, explain
        )
        if isinstance(outcome, Lease):
            return outcome
        return self._refused(outcome, template, target)

    def _closed(
        self, template: str, target: Destination, hours: CallingHours, now: float
    ) -> NoNumberAvailable | None:
        """The refusal for a destination outside its calling hours, or None."""
        wait = hours.seconds_until_open(now, target.info.time_zones)
        if wait == 0.0:
            return None
        self._count(REFUSALS + CALLING_HOURS)
        self._count(f"{TEMPLATE_REFUSALS}{template}:{CALLING_HOURS}")
        return NoNumberAvailable(
            CALLING_HOURS, retry_after=wait, template=template, destination=target.e164
        )

    def _refused(self, outcome: Refusal, template: str, target: Destination) -> NoNumberAvailable:
        reasons = pool_size = None
        if outcome.statuses is not None:
            reasons = self._reasons(outcome.statuses, target.required_tag)
            pool_size = len(self._pools.get(template, ()))
        retry_at = outcome.retry_at
        return NoNumberAvailable(
            outcome.reason,
            reasons=reasons,
            retry_after=None if retry_at is None else max(retry_at - outcome.now, 0.0),
            template=template,
            destination=target.e164,
            pool_size=pool_size,
        )

    def _reasons(self, statuses: dict[str, str], required_tag: str | None) -> dict[str, str]:
        if required_tag is None:
            return statuses
        compliant = {
            e164
            for e164 in statuses
            if e164 in self._numbers and required_tag in number_tags(self._numbers[e164])
        }
        return {e164: (s if e164 in compliant else NOT_COMPLIANT) for e164, s in statuses.items()}

    def _acquire_waiting(
        self,
        template: str,
        destination: str | Destination,
        call_id: str | None,
        timeout: float,
        ttl: float | None,
    ) -> Lease:
        woken = threading.Event()
        submit = functools.partial(
            self.request,
            template,
            destination,
            call_id=call_id,
            timeout=timeout,
            ttl=ttl,
            callback=lambda _: woken.set(),
        )
        give_up_at = self._give_up_at(timeout)
        submitting: concurrent.futures.Future[Request] = self._in_worker(submit)
        try:
            request = submitting.result(_left(give_up_at))
            while not request.done:
                left = _left(give_up_at)
                if left is not None and left <= 0:
                    raise self._gave_up(timeout)
                if not woken.wait(_shorter(self._wait_seconds(), left)):
                    self._poll_soon()
        except concurrent.futures.TimeoutError:
            submitting.add_done_callback(self._abandon_submitted)
            raise self._gave_up(timeout) from None
        except BaseException:
            submitting.add_done_callback(self._abandon_submitted)
            raise
        return request.result()

    async def _aacquire_waiting(
        self,
        template: str,
        destination: str | Destination,
        call_id: str | None,
        timeout: float,
        ttl: float | None,
    ) -> Lease:
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        submit = functools.partial(
            self.request,
            template,
            destination,
            call_id=call_id,
            timeout=timeout,
            ttl=ttl,
            callback=lambda _: loop.call_soon_threadsafe(woken.set),
        )
        give_up_at = self._give_up_at(timeout)
        future = self._in_worker(submit)
        submitting = asyncio.wrap_future(future)
        try:
            try:
                request = await asyncio.wait_for(asyncio.shield(submitting), _left(give_up_at))
            except TimeoutError:
                raise self._gave_up(timeout) from None
            while not request.done:
                left = _left(give_up_at)
                if left is not None and left <= 0:
                    raise self._gave_up(timeout)
                try:
                    await asyncio.wait_for(woken.wait(), _shorter(self._wait_seconds(), left))
                except TimeoutError:
                    self._poll_soon()
        except BaseException:
            # Cancelled (or failed, or given up) while waiting, or while the request was
            # still being made: give back whatever it is granted, once it is known (not on
            # the loop, which may be gone by then).
            future.add_done_callback(self._abandon_submitted)
            raise
        return request.result()

    def _in_worker(self, operation: Callable[[], _T]) -> concurrent.futures.Future[_T]:
        """Run an operation for a waiting caller: in the worker thread on a backend that
        may stall (the caller then waits for it only as long as its timeout allows),
        directly on one that never does."""
        if self._backend.remote:
            return self._worker.submit(operation)
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        try:
            future.set_result(operation())
        except BaseException as error:
            future.set_exception(error)
        return future

    def _give_up_at(self, timeout: float) -> float | None:
        """The monotonic time a waiting caller stops waiting for a backend that stalls:
        only on a clock that runs in real time (the deadline itself is the clock's)."""
        if not self._backend.remote or self._timers is None:
            return None
        return time.monotonic() + timeout + WAIT_GRACE

    def _gave_up(self, timeout: float) -> BackendUnavailable:
        return BackendUnavailable(
            f"the backend did not answer within the wait's timeout ({timeout:g} s) and "
            f"{WAIT_GRACE:g} s more; the call gets no number"
        )

    def _poll_soon(self) -> None:
        """A waiting caller's own look for a wake-up lost on its way (Redis): one poll at
        a time queued in the worker, so callers never wait on a stalled backend."""
        if not self._backend.remote:
            self.poll()
            return
        with self._schedule_lock:
            if self._poll_pending:
                return
            self._poll_pending = True
        with contextlib.suppress(RuntimeError):  # the worker is shut down: closing
            self._worker.submit(self._poll_queued)

    def _poll_queued(self) -> None:
        with self._schedule_lock:
            self._poll_pending = False
        self._serve_in_background()

    def _abandon_submitted(self, submitting: concurrent.futures.Future[Request]) -> None:
        """Abandon a request once its submission ends (in whichever thread ends it)."""
        if submitting.cancelled() or submitting.exception() is not None:
            return
        self._abandon(submitting.result())

    def _abandon(self, request: Request) -> None:
        """End a request its caller stopped waiting for; give back a lease it got."""
        request.cancel()  # never blocks: the queue's lock is not held across a backend call
        if request.lease is not None:
            self._give_back(request.lease)

    def _give_back(self, lease: Lease) -> None:
        """Release a lease nobody will use (its caller gave up, or close() ended its
        wait): in the worker on a backend that may stall, here once the worker has
        stopped (close() closes the backend after); a failure leaves it to its TTL."""
        if not self._backend.remote:
            self._release_quietly(lease)
            return
        try:
            self._worker.submit(self._release_quietly, lease)
        except RuntimeError:  # the worker is shut down: closing
            self._release_quietly(lease)

    def _release_quietly(self, lease: Lease) -> None:
        try:
            self.release(lease)
        except Exception as error:
            log.warning(
                "giving back lease %s of %s failed (%s); it frees at its TTL",
                lease.id,
                lease.number,
                error,
            )

    async def _off_loop(self, operation: Callable[[], _T]) -> _T:
        """Run a synchronous operation without blocking the event loop (_in_worker's
        choice: the worker thread for a backend that may stall, directly otherwise)."""
        return await asyncio.wrap_future(self._in_worker(operation))

    def _wait_seconds(self) -> float | None:
        """How long a waiting thread or task sleeps before polling by itself: the
        backend's wake_interval, a fallback for a wake-up lost on its way from another
        process (Redis); None: timed wake-ups and releases always reach it."""
        return self._backend.wake_interval

    def _schedule_wakeup(self) -> None:
        """Have poll() called at the next time a waiting request may be served: first at
        the queue's own next time (a deadline, a window freeing), which needs no backend;
        then at a lease's expiry, if earlier and the backend can say (it may be down: a
        deadline must come all the same)."""
        wake = self._waits.next_wakeup()
        if wake is None:
            return
        self._schedule_at(wake)
        expiry = self._backend.next_expiry(self._now())
        if expiry is not None and expiry < wake:
            self._schedule_at(expiry)

    def _schedule_at(self, wake: float) -> None:
        with self._schedule_lock:
            if wake in self._scheduled or (self._scheduled and wake > min(self._scheduled)):
                return
            self._scheduled.add(wake)

        def fire(when: float = wake) -> None:
            with self._schedule_lock:
                self._scheduled.discard(when)
            self._serve_in_background()

        self._call_at(wake, fire)

    def _has_waiters(self) -> bool:
        return self._waits.waiting > 0

    def _on_free(self) -> None:
        """A channel freed (inside a release, an expiry, or a message from another
        process): serve the waiters."""
        self._generation = next(self._generations)  # (a counter's next() is atomic)
        if self._waits.waiting:
            self._serve_in_background()

    def _serve_in_background(self) -> None:
        """poll() on behalf of waiters, in a thread that is not theirs (a timed wake-up, a
        freed channel). A failure is not this thread's to raise: the waiters' deadlines
        still end their waits. An unreachable backend is logged once until serving works
        again, not once per try."""
        try:
            self.poll()
        except BackendUnavailable as error:
            if not self._outage:
                self._outage = True
                log.warning("serving waiting calls failed, until the backend answers: %s", error)
            return
        except Exception:
            log.exception("serving waiting calls failed")
            return
        if self._outage:
            self._outage = False
            log.warning("serving waiting calls works again")

    def _count(self, key: str) -> None:
        with self._count_lock:
            self._counts[key] += 1


@functools.cache
def _rules(
    compliance: tuple[tuple[str, str], ...],
    strategy: Strategy,
    hours: tuple[tuple[str, CallingHours], ...],
) -> _Rules:
    """One _Rules per set of routing rules in the process, shared by the allocators
    with those rules: the simulator's runs, a new allocator each, resolve each
    destination once."""
    return _Rules(compliance, strategy, hours)


class _Rules:
    """One set of routing rules (compliance, strategy, calling hours: all a resolved
    destination depends on) and the destinations resolved under it, the
    DESTINATION_CACHE most recently used kept (`cached`). Copied or unpickled, it is
    the process's own _Rules for the same rules (so a Destination stays usable)."""

    def __init__(
        self,
        compliance: tuple[tuple[str, str], ...],
        strategy: Strategy,
        hours: tuple[tuple[str, CallingHours], ...],
    ) -> None:
        self.key = (compliance, strategy, hours)
        self.compliance = dict(compliance)
        self.strategy = strategy
        self.hours = dict(hours)
        # One tuple per route, not per person: less memory for every call to touch.
        self.routes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.cached = functools.lru_cache(DESTINATION_CACHE)(self.resolve)

    def resolve(self, value: object) -> Destination:
        """A destination parsed, with its region's rules."""
        info = phone_info(value, what="destination")
        required = self.compliance.get(info.region)
        groups = self.strategy.preferences(info, required)
        groups = self.routes.setdefault(groups, groups)
        return Destination(info.e164, info, required, groups, self.hours.get(info.region), self)

    def __reduce__(self) -> tuple[Callable[..., _Rules], tuple[Any, ...]]:
        return _rules, self.key

    def __copy__(self) -> _Rules:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Rules:
        return self


def _lease(
    outcome: Grant | NoNumberAvailable, template: str, call_id: str | None
) -> Lease | NoNumberAvailable:
    """A try's outcome for callers of the public API: its Grant wrapped in a Lease."""
    if isinstance(outcome, NoNumberAvailable):
        return outcome
    return lease_of(outcome, template, call_id)


def _standing(refusal: NoNumberAvailable, retry_at: float | None, now: float) -> NoNumberAvailable:
    """A refusal that still stands, its retry_after counted from `now`: the one it was
    made with would ask for a wake-up that much later than its own time, and that
    wake-up for another."""
    if retry_at is None:
        return refusal
    return NoNumberAvailable(
        refusal.reason,
        reasons=refusal.reasons,
        retry_after=max(retry_at - now, 0.0),
        template=refusal.template,
        destination=refusal.destination,
        pool_size=refusal.pool_size,
    )


def _reader(clock: Callable[[], float]) -> Callable[[], float]:
    """What reading `clock` calls: for an instance of a Python class (ManualClock, the
    simulator's SimClock) its bound __call__, since calling the instance itself goes
    through a type slot (~30 ns more, on every acquisition). The class's __call__ is
    looked up once, here."""
    call = inspect.getattr_static(type(clock), "__call__", None)
    return types.MethodType(call, clock) if isinstance(call, types.FunctionType) else clock


def _left(give_up_at: float | None) -> float | None:
    """Seconds until `give_up_at` (monotonic), or None for no limit."""
    return None if give_up_at is None else max(give_up_at - time.monotonic(), 0.0)


def _shorter(a: float | None, b: float | None) -> float | None:
    """The shorter of two waits, None meaning forever."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def _check_lease(lease: object, operation: str) -> None:
    if not isinstance(lease, Lease):
        raise TypeError(f"{operation}() takes a Lease, got {type(lease).__name__}")


def _check_seconds(name: str, value: object) -> None:
    finite(name, value, inclusive=False)


def _check_ttl(name: str, value: object) -> None:
    finite(name, value, inclusive=False, maximum=MAX_LEASE_TTL)
