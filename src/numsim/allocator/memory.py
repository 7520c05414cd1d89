"""MemoryBackend: the embedded backend, all state in this process behind one lock.

Cost per acquire does not grow with the pool: each (template, group) keeps an
index of the numbers free now, ordered as the strategy asks, plus a heap of its
capped numbers by the time they free. A number's rolling windows are deques of
its call times, trimmed whenever the number is touched; a number whose state
changes by time alone (a cap frees, a retired number's windows empty) waits in
one "revisit" heap. Memory follows live calls and the calls inside the windows,
never the calls ever made.
"""

from __future__ import annotations

import heapq
import random
import threading
import uuid
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from .backend import (
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
from .callmap import CallMap, CallMapSupport, MemoryCallMap
from .lease import Lease, LeaseId
from .refusal import BUSY, DESTINATION_LIMIT, EMPTY_POOL, NOT_COMPLIANT, REFUSALS, TEMPLATE_REFUSALS
from .rules import HOUR, DestinationLimit

READY = "ready"
RETIRED = "retired"
_COMPACT_SLACK = 1024  # stale lease-heap entries tolerated before compacting
_INFINITY = float("inf")


class _Number:
    """A number's live state. `level` is its place in the ready indexes (None: not ready).

    `windows` pairs each rolling window kept (seconds) with the outbound call times in it,
    oldest first: the hour always, another window from the first time a cap asks for it
    (a cap lifted later keeps its window, trimmed). A tuple, not a dict: walked on every
    call, and a tuple walks ~50 ns faster. `caps` are (reason, seconds, limit,
    that window's calls). A window entry at time t counts until t + window <= now (one
    comparison form everywhere, so "capped" and "frees at" always agree)."""

    __slots__ = (
        "active",
        "capacity",
        "caps",
        "e164",
        "groups",
        "in_use",
        "inbound",
        "indexes",
        "level",
        "windows",
    )

    def __init__(self, e164: str) -> None:
        self.e164 = e164
        self.capacity = 1
        self.caps: tuple[tuple[str, float, int, deque[float]], ...] = ()
        self.in_use = 0
        self.inbound = 0
        self.windows: tuple[tuple[float, deque[float]], ...] = ((HOUR, deque()),)
        self.groups: dict[str, Sequence[str]] = {}  # template -> the groups it belongs to
        self.indexes: list[_Index] = []  # the built indexes of those groups
        self.level: int | None = None
        self.active = True

    def set_caps(self, caps: Sequence[Cap]) -> None:
        windows = dict(self.windows)
        self.caps = tuple(
            (reason, window, limit, windows.setdefault(window, deque()))
            for reason, window, limit in caps
        )
        self.windows = tuple(windows.items())

    def trim(self, now: float) -> None:
        """Drop window entries that no longer count."""
        for window, calls in self.windows:
            while calls and calls[0] + window <= now:
                calls.popleft()

    def cap_free_at(self) -> float | None:
        """When the (trimmed) windows let this number call again; None if not capped."""
        free_at = None
        for _, window, limit, calls in self.caps:
            if len(calls) >= limit:
                at = calls[-limit] + window
                if free_at is None or at > free_at:
                    free_at = at
        return free_at

    def windows_end(self) -> float:
        """When every window entry will have stopped counting."""
        return max((calls[-1] + w for w, calls in self.windows if calls), default=-_INFINITY)

    def status(self) -> str:
        """Why this (trimmed) number can or cannot take a call: caps before busy, and
        of full caps the one that frees last, on a tie the longer window (NumberSpec)."""
        if not self.active:
            return RETIRED
        why, free_at, longest = None, -_INFINITY, 0.0
        for reason, window, limit, calls in self.caps:
            if len(calls) >= limit:
                at = calls[-limit] + window
                if at > free_at or (at == free_at and window >= longest):
                    why, free_at, longest = reason, at, window
        if why is not None:
            return why
        return BUSY if self.in_use >= self.capacity else READY

    def __lt__(self, other: _Number) -> bool:  # heap tie-break
        return self.e164 < other.e164


# A lease: (expires_at, id, number, inbound).
_Lease = tuple[float, str, _Number, bool]


class _Index(ABC):
    """The free numbers of one (template, group), and its capped ones by free time.

    Built the first time a call asks for its group: a group no destination needs
    (say "*" in a pool that only calls the US) costs nothing."""

    __slots__ = ("cooling", "members")

    def __init__(self) -> None:
        self.members = 0
        self.cooling: list[tuple[float, _Number]] = []

    @abstractmethod
    def add(self, number: _Number, level: int) -> None:
        """Make a free number at load `level` available."""

    @abstractmethod
    def discard(self, number: _Number, level: int) -> None:
        """Take a number added at `level` out."""

    @abstractmethod
    def first(self) -> _Number | None:
        """The number the strategy picks next, or None if none is free."""

    @abstractmethod
    def holds(self, number: _Number) -> bool:
        """Whether the number is free in this index."""


class _Levels(_Index):
    """Least loaded / round robin: a FIFO of free numbers per load level.

    MemoryBackend._refresh updates `levels` inline (the hottest path); `add` and
    `discard` say what it does."""

    __slots__ = ("levels", "low")

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[OrderedDict[_Number, None]] = [OrderedDict()]
        self.low = 0  # no free number sits below this level

    def add(self, number: _Number, level: int) -> None:
        levels = self.levels
        while len(levels) <= level:
            levels.append(OrderedDict())
        levels[level][number] = None
        if level < self.low:
            self.low = level

    def discard(self, number: _Number, level: int) -> None:
        del self.levels[level][number]

    def first(self) -> _Number | None:
        levels, low = self.levels, self.low
        if low < len(levels) and levels[low]:  # the usual case: no scan
            return next(iter(levels[low]))
        for level in range(low + 1, len(levels)):
            if levels[level]:
                self.low = level
                return next(iter(levels[level]))
        self.low = len(levels)
        return None

    def holds(self, number: _Number) -> bool:
        level = number.level
        return level is not None and level < len(self.levels) and number in self.levels[level]


class _Random(_Index):
    """Random: free numbers in an array with positions, for O(1) uniform picks."""

    __slots__ = ("items", "positions", "rng")

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.items: list[_Number] = []
        self.positions: dict[_Number, int] = {}
        self.rng = rng

    def add(self, number: _Number, level: int) -> None:
        self.positions[number] = len(self.items)
        self.items.append(number)

    def discard(self, number: _Number, level: int) -> None:
        position = self.positions.pop(number)
        last = self.items.pop()
        if last is not number:
            self.items[position] = last
            self.positions[last] = position

    def first(self) -> _Number | None:
        items = self.items
        return items[self.rng.randrange(len(items))] if items else None

    def holds(self, number: _Number) -> bool:
        return number in self.positions


class MemoryBackend(Backend, CallMapSupport):
    """State in this process: for one service, the simulator, and users' own tests.

    `threads=False`: one thread alone calls it (the simulator's): its two hottest
    operations, grant and release, take no lock (~2% of a simulated attempt)."""

    def __init__(self, *, threads: bool = True) -> None:
        self._lock = threading.Lock()
        self._threads = threads
        self._policy: Policy | None = None
        self._by_load = True
        self._levelled = True  # indexes are _Levels (not _Random): updated inline
        self._ttl = 0.0
        self._limit: DestinationLimit | None = None
        self._sticky_ttl = 0.0
        self._rng = random.Random()
        self._numbers: dict[str, _Number] = {}
        self._indexes: dict[str, dict[str, _Index]] = {}  # template -> group -> index
        self._pools: dict[str, dict[str, _Number]] = {}  # template -> e164 -> number
        # A live lease is one tuple, its record by id and its entry in the expiry heap; a
        # heap entry its id no longer maps to (released, or renewed: a new entry) is stale.
        self._leases: dict[str, _Lease] = {}
        self._lease_heap: list[_Lease] = []  # by expiry (then id: unique)
        self._revisit: list[tuple[float, _Number]] = []  # numbers that change by time alone
        self._destinations: dict[str, deque[float]] = {}
        self._destination_queue: deque[str] = deque()  # one entry per call, in time order
        self._sticky: dict[str, tuple[_Number, float]] = {}
        self._sticky_queue: deque[tuple[float, str]] = deque()
        # Lease ids unique across backends, processes and restarts: a service stores them
        # to release on a callback, and a stranger's id must never free one of ours.
        self._id_prefix = uuid.uuid4().hex[:16] + "-"
        self._now = -_INFINITY
        self._due = _INFINITY  # nothing expires before this time
        self._freed = False
        self._listeners: list[Callable[[], object]] = []
        self._stats: Counter[str] = Counter()
        self._acquired = 0  # every take, inbound too: the serial of the latest lease id
        self._released = 0  # (a lease not released nor live has expired)
        self._calls: CallMap | None = None

    def call_map(self) -> CallMap:
        """The call -> lease records of a Dialer, kept with this backend."""
        with self._lock:
            if self._calls is None:
                self._calls = MemoryCallMap()
            return self._calls

    # -- configuration ---------------------------------------------------------------

    def configure(self, policy: Policy) -> None:
        with self._lock:
            if self._policy is not None:
                raise RuntimeError("this MemoryBackend already serves an allocator; use a new one")
            self._policy = policy
            self._by_load = policy.order == "least_loaded"
            self._levelled = policy.order != "random"
            self._ttl = policy.lease_ttl
            self._limit = policy.destination_limit
            self._sticky_ttl = policy.sticky_ttl or 0.0
            self._rng = random.Random(policy.seed)

    def put_number(self, spec: NumberSpec, groups: Mapping[str, Sequence[str]], now: float) -> None:
        with self._lock:
            self._advance(now)
            number = self._numbers.get(spec.e164)
            if number is None:
                number = self._numbers[spec.e164] = _Number(spec.e164)
            self._unindex(number)
            number.active = True
            number.capacity = spec.capacity
            number.set_caps(spec.caps)
            for template, names in groups.items():
                self._pools.setdefault(template, {})[spec.e164] = number
                number.groups[template] = tuple(names)
                indexes = self._indexes.setdefault(template, {})
                for name in names:
                    index = indexes.get(name)
                    if index is not None:
                        index.members += 1
                        number.indexes.append(index)
            self._refresh(number)
        self._notify()

    def drop_number(self, e164: str, now: float) -> None:
        with self._lock:
            self._advance(now)
            number = self._numbers.get(e164)
            if number is None:
                return
            self._unindex(number)
            number.active = False
            self._forget_if_idle(number)

    def subscribe(self, callback: Callable[[], object]) -> None:
        self._listeners.append(callback)

    # -- the atomic operations ----------------------------------------------------------

    def grant(
        self,
        template: str,
        groups: Sequence[str],
        destination: str,
        now: float,
        call_id: str | None = None,
        ttl: float | None = None,
        sticky: bool = False,
        explain: bool = False,
    ) -> Grant | Refusal:
        # acquire/release rather than `with`: 70 ns less a call (Python 3.11), on the two
        # hottest operations (one per simulated attempt)
        threads = self._threads
        if threads:
            self._lock.acquire()
        try:
            if now > self._now:  # _advance, inline: the hottest caller
                self._now = now
                if now >= self._due:
                    self._expire(now)
            now = self._now
            limit = self._limit
            if limit is not None:
                window = self._destinations.get(destination)
                if window is not None and len(window) >= limit.max_calls:
                    retry_at = window[-limit.max_calls] + limit.per_seconds
                    outcome: Grant | Refusal = self._refuse(
                        DESTINATION_LIMIT, retry_at, now, None, template
                    )
                    return outcome
            indexes = self._indexes.get(template)
            number = None
            if indexes is not None:
                if sticky:
                    number = self._sticky_number(destination, indexes, groups)
                if number is None:
                    for name in groups:
                        index = indexes.get(name)
                        if index is None:
                            index = self._build_index(template, name)
                        # _Levels.first()'s usual case, inline: benchmark allocator_vs_limits
                        # measured 0.91-0.94 with the copies here and in _refresh, 0.96-1.03
                        # without them.
                        if self._levelled:
                            levels, low = index.levels, index.low  # type: ignore[attr-defined]
                            if low < len(levels) and levels[low]:
                                number = next(iter(levels[low]))
                                break
                        number = index.first()
                        if number is not None:
                            break
            if number is None:
                outcome = self._refusal(template, indexes, groups, now, explain)
            else:
                outcome = self._take(number, now, destination, ttl)
                if limit is not None:
                    self._remember_destination(destination, now, limit.per_seconds)
                if sticky:
                    self._sticky[destination] = (number, now)
                    self._sticky_queue.append((now, destination))
                    self._due = min(self._due, now + self._sticky_ttl)
        finally:
            if threads:
                self._lock.release()
        if self._freed:
            self._notify()
        return outcome

    def acquire_number(
        self, e164: str, now: float, call_id: str | None = None, ttl: float | None = None
    ) -> Lease | Refusal:
        with self._lock:
            now = self._advance(now)
            number = self._numbers.get(e164)
            if number is None or not number.active or number.in_use >= number.capacity:
                status = number.status() if number else RETIRED
                outcome: Lease | Refusal = self._refuse(BUSY, None, now, {e164: status})
            else:
                outcome = lease_of(self._take(number, now, None, ttl), None, call_id)
        if self._freed:
            self._notify()
        return outcome

    def release(self, lease_id: LeaseId, number: str, now: float) -> bool:
        threads = self._threads
        if threads:
            self._lock.acquire()  # not `with`: see grant
        try:
            self._advance(now)
            record = self._leases.get(lease_id)
            if record is None or record[2].e164 != number:
                record = None
                self._stats["release_ignored"] += 1
            else:
                del self._leases[lease_id]
                self._released += 1
                self._free(record)
                if len(self._lease_heap) > 2 * len(self._leases) + _COMPACT_SLACK:
                    self._compact_lease_heap()
        finally:
            if threads:
                self._lock.release()
        if self._freed:
            self._notify()
        return record is not None

    def renew(
        self, lease_id: LeaseId, number: str, now: float, ttl: float | None = None
    ) -> float | None:
        with self._lock:
            now = self._advance(now)
            record = self._leases.get(lease_id)
            if record is None or record[2].e164 != number:
                expires_at = None
            else:
                expires_at = now + (self._ttl if ttl is None else ttl)
                self._push_expiry((expires_at, lease_id, record[2], record[3]))
        if self._freed:
            self._notify()
        return expires_at

    # -- reading ------------------------------------------------------------------------

    def numbers(self, now: float, e164s: Collection[str] | None = None) -> dict[str, NumberState]:
        with self._lock:
            now = self._advance(now)
            known = self._numbers
            chosen: Iterable[_Number] = known.values()
            if e164s is not None:  # only these: a page's numbers, not the whole pool
                chosen = [n for e164 in e164s if (n := known.get(e164)) is not None]
            states = {}
            for number in chosen:
                number.trim(now)
                states[number.e164] = NumberState(
                    number.in_use,
                    number.inbound,
                    {window: len(calls) for window, calls in number.windows},
                    number.status(),
                )
        if self._freed:
            self._notify()
        return states

    def in_use(self, e164: str, now: float) -> int:
        with self._lock:
            self._advance(now)
            number = self._numbers.get(e164)
            busy = 0 if number is None else number.in_use
        if self._freed:
            self._notify()
        return busy

    def next_expiry(self, now: float) -> float | None:
        with self._lock:
            self._advance(now)  # expire what is due, so the answer lies in the future
            heap, leases = self._lease_heap, self._leases
            expiry = None
            while heap:
                if leases.get(heap[0][1]) is heap[0]:
                    expiry = heap[0][0]
                    break
                heapq.heappop(heap)
        if self._freed:
            self._notify()
        return expiry

    def check(self, now: float, repair: bool) -> list[Finding]:
        with self._lock:
            self._advance(now)
            leases: Counter[str] = Counter()
            inbound: Counter[str] = Counter()
            for _, _, number, is_inbound in self._leases.values():
                leases[number.e164] += 1
                inbound[number.e164] += is_inbound
            findings = []
            for e164, number in self._numbers.items():
                want, want_inbound = leases[e164], inbound[e164]
                if (number.in_use, number.inbound) != (want, want_inbound):
                    findings.append(
                        Finding(
                            e164,
                            f"counts {number.in_use} calls in progress ({number.inbound} "
                            f"inbound) but has {want} leases ({want_inbound} inbound)",
                            repair,
                        )
                    )
                    if repair:
                        number.in_use, number.inbound = want, want_inbound
                        if number.active:
                            self._refresh(number)
                        self._freed = True
        self._notify()
        return findings

    def stats(self) -> dict[str, int]:
        with self._lock:
            stats = dict(self._stats)
            stats["acquired"] = self._acquired - stats.get("acquired_inbound", 0)
            stats["released"] = self._released
            stats["expired"] = self._acquired - self._released - len(self._leases)
            return stats

    # -- internals (called with the lock held) --------------------------------------------

    def _new_index(self) -> _Index:
        if self._policy is None:
            raise RuntimeError("MemoryBackend.configure() must be called first")
        return _Levels() if self._levelled else _Random(self._rng)

    def _build_index(self, template: str, name: str) -> _Index:
        """The index of a group asked for the first time: its members as they are now."""
        index = self._indexes[template][name] = self._new_index()
        for number in self._pools[template].values():
            if name in number.groups.get(template, ()):
                index.members += 1
                number.indexes.append(index)
                if number.level is not None:
                    index.add(number, number.level)
                elif number.in_use < number.capacity:
                    free_at = number.cap_free_at()
                    if free_at is not None:
                        heapq.heappush(index.cooling, (free_at, number))
        return index

    def _take(
        self, number: _Number, now: float, destination: str | None, ttl: float | None
    ) -> Grant:
        """Take a channel of `number` (an inbound call if no destination)."""
        number.in_use += 1
        self._acquired += 1
        inbound = destination is None
        if inbound:
            number.inbound += 1
            self._stats["acquired_inbound"] += 1
        else:
            for window, calls in number.windows:  # the call enters, trim() inline;
                calls.append(now)  # the call just added stays (even at a time of +inf)
                while calls[0] + window <= now and len(calls) > 1:
                    calls.popleft()
        self._refresh(number)
        lease_id = f"{self._id_prefix}{self._acquired}"
        expires_at = now + (self._ttl if ttl is None else ttl)
        self._leases[lease_id] = lease = (expires_at, lease_id, number, inbound)
        heapq.heappush(self._lease_heap, lease)  # _push_expiry, inline
        if expires_at < self._due:
            self._due = expires_at
        return lease_id, number.e164, destination, expires_at

    def _push_expiry(self, lease: _Lease) -> None:
        """Make `lease` the live record of its id, and schedule its expiry."""
        self._leases[lease[1]] = lease
        heapq.heappush(self._lease_heap, lease)
        if lease[0] < self._due:
            self._due = lease[0]

    def _revisit_at(self, when: float, number: _Number) -> None:
        heapq.heappush(self._revisit, (when, number))
        if when < self._due:
            self._due = when

    def _remember_destination(self, destination: str, now: float, per_seconds: float) -> None:
        window = self._destinations.get(destination)
        if window is None:
            window = self._destinations[destination] = deque()
        window.append(now)
        self._destination_queue.append(destination)
        if now + per_seconds < self._due:
            self._due = now + per_seconds

    def _free(self, record: _Lease) -> None:
        number = record[2]
        number.in_use -= 1
        if record[3]:
            number.inbound -= 1
        if number.active:
            self._refresh(number)
        else:
            self._forget_if_idle(number)
        self._freed = True

    def _forget_if_idle(self, number: _Number) -> None:
        """Drop a retired number once nothing refers to it: no live call, no call in a
        window (re-adding it must not reset its caps)."""
        if number.active or number.in_use or self._numbers.get(number.e164) is not number:
            return
        number.trim(self._now)
        if any(calls for _, calls in number.windows):
            self._revisit_at(number.windows_end(), number)
        else:
            del self._numbers[number.e164]

    def _refresh(self, number: _Number) -> None:
        """Put a number where its state says: a ready index, a cooling heap, or neither.

        The hottest code of the allocator: the level indexes are updated inline."""
        in_use = number.in_use
        if in_use >= number.capacity or not number.active:
            level = None
        elif not number.caps:  # the usual case: no window to trim
            level = in_use if self._by_load else 0
        else:
            now = self._now
            for window, calls in number.windows:  # trim(), inline
                while calls and calls[0] + window <= now:
                    calls.popleft()
            level = in_use if self._by_load else 0
            for _, _, limit, calls in number.caps:
                if len(calls) >= limit:  # capped: cooling until its caps free
                    level = None
                    free_at = number.cap_free_at()
                    assert free_at is not None
                    entry = (free_at, number)
                    for index in number.indexes:
                        heapq.heappush(index.cooling, entry)
                    self._revisit_at(free_at, number)
                    break
        old = number.level
        number.level = level
        if not self._levelled:  # below: _Levels.discard and add, inline (see acquire)
            for index in number.indexes:
                if old is not None:
                    index.discard(number, old)
                if level is not None:
                    index.add(number, level)
            return
        for index in number.indexes:
            levels = index.levels  # type: ignore[attr-defined]
            if old is not None:
                del levels[old][number]
            if level is not None:
                if level >= len(levels):
                    levels.extend(OrderedDict() for _ in range(level + 1 - len(levels)))
                levels[level][number] = None
                if level < index.low:  # type: ignore[attr-defined]
                    index.low = level  # type: ignore[attr-defined]

    def _unindex(self, number: _Number) -> None:
        if number.level is not None:
            for index in number.indexes:
                index.discard(number, number.level)
            number.level = None
        for template, pool in list(self._pools.items()):
            if pool.pop(number.e164, None) is not None and not pool:
                del self._pools[template]
        for index in number.indexes:
            index.members -= 1
        number.indexes = []
        number.groups = {}
        for template in [t for t in self._indexes if t not in self._pools]:
            del self._indexes[template]

    def _advance(self, now: float) -> float:
        """Move to `now` (never backwards), expiring whatever is due."""
        if now > self._now:
            self._now = now
            if now >= self._due:
                self._expire(now)
        return self._now

    def _expire(self, now: float) -> None:
        """Expire leases, revisit numbers, forget old destinations; find the next due."""
        heap, leases = self._lease_heap, self._leases
        while heap and heap[0][0] <= now:
            lease = heapq.heappop(heap)
            if leases.get(lease[1]) is lease:
                del leases[lease[1]]
                self._free(lease)
        revisit = self._revisit
        while revisit and revisit[0][0] <= now:
            number = heapq.heappop(revisit)[1]
            if not number.active:
                self._forget_if_idle(number)
            elif number.level is None:
                self._refresh(number)
        due = heap[0][0] if heap else _INFINITY
        if revisit and revisit[0][0] < due:
            due = revisit[0][0]
        if self._destination_queue:
            due = min(due, self._expire_destinations(now))
        if self._sticky_queue:
            due = min(due, self._expire_sticky(now))
        self._due = due

    def _expire_destinations(self, now: float) -> float:
        """Forget destination calls outside the limit's window; when the next one leaves."""
        per = self._limit.per_seconds  # type: ignore[union-attr]
        queue, windows = self._destination_queue, self._destinations
        while queue:
            destination = queue[0]
            window = windows[destination]
            if window[0] + per > now:
                return window[0] + per
            queue.popleft()
            window.popleft()
            if not window:
                del windows[destination]
        return _INFINITY

    def _expire_sticky(self, now: float) -> float:
        queue, ttl = self._sticky_queue, self._sticky_ttl
        while queue and queue[0][0] + ttl <= now:
            taken_at, destination = queue.popleft()
            memory = self._sticky.get(destination)
            if memory is not None and memory[1] == taken_at:
                del self._sticky[destination]
        return queue[0][0] + ttl if queue else _INFINITY

    def _compact_lease_heap(self) -> None:
        """Drop the entries of released leases, so memory follows live calls only."""
        live = list(self._leases.values())
        heapq.heapify(live)
        self._lease_heap = live

    def _sticky_number(
        self, destination: str, indexes: dict[str, _Index], groups: Sequence[str]
    ) -> _Number | None:
        memory = self._sticky.get(destination)
        if memory is None:
            return None
        broadest = indexes.get(groups[-1])  # every group tried is inside the last one
        number = memory[0]
        return number if broadest is not None and broadest.holds(number) else None

    def _refusal(
        self,
        template: str,
        indexes: dict[str, _Index] | None,
        groups: Sequence[str],
        now: float,
        explain: bool,
    ) -> Refusal:
        """Why no number fits, and the earliest time a capped one frees."""
        if indexes is None:
            return self._refuse(EMPTY_POOL, None, now, {} if explain else None, template)
        retry_at, blocker, eligible = None, None, False
        for name in groups:
            index = indexes.get(name)
            if index is None or not index.members:
                continue
            eligible = True
            cooling = index.cooling
            while cooling:
                free_at, number = cooling[0]
                if (
                    free_at > now
                    and number.level is None
                    and number.active
                    and number.in_use < number.capacity
                    and index in number.indexes
                    and number.cap_free_at() == free_at
                ):
                    if retry_at is None or free_at < retry_at:
                        retry_at, blocker = free_at, number
                    break
                heapq.heappop(cooling)
        reason: str
        if not eligible:
            reason = NOT_COMPLIANT
        else:
            reason = blocker.status() if blocker is not None else BUSY
        statuses = None
        if explain:
            statuses = {}
            for e164, number in self._pools[template].items():
                number.trim(now)
                statuses[e164] = number.status()
        return self._refuse(reason, retry_at, now, statuses, template)

    def _refuse(
        self,
        reason: str,
        retry_at: float | None,
        now: float,
        statuses: dict[str, str] | None,
        template: str | None = None,
    ) -> Refusal:
        """Count the refusal by reason (and by template and reason, for a template's call)."""
        self._stats[REFUSALS + reason] += 1
        if template is not None:
            self._stats[f"{TEMPLATE_REFUSALS}{template}:{reason}"] += 1
        return Refusal(reason, retry_at, now, statuses)

    def _notify(self) -> None:
        if self._freed:
            self._freed = False
            for callback in self._listeners:
                callback()
