"""MemoryBackend: the embedded backend, all state in this process behind one lock.

Cost per acquire does not grow with the pool: each (template, group) keeps an
index of the numbers free now, ordered as the strategy asks, plus a heap of
capped numbers by the time they free. Rolling windows are deques of call
times, expired in time order from one queue per window, so memory is bounded
by the calls inside the windows, never by the calls ever made.
"""

from __future__ import annotations

import heapq
import itertools
import operator
import random
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence

from .backend import Backend, NumberSpec, NumberState, Policy, Refusal
from .lease import Lease
from .refusal import BUSY, DAILY_CAP, DESTINATION_LIMIT, EMPTY_POOL, HOURLY_CAP, NOT_COMPLIANT
from .rules import DAY, HOUR

READY = "ready"
RETIRED = "retired"
_COMPACT_SLACK = 1024  # stale lease-queue entries tolerated before compacting
_HOUR_TIMES = operator.attrgetter("hour")
_DAY_TIMES = operator.attrgetter("day")


class _Number:
    """A number's live state. `level` is its place in the ready indexes (None: not ready)."""

    __slots__ = (
        "active",
        "capacity",
        "day",
        "day_cap",
        "e164",
        "hour",
        "hour_cap",
        "in_use",
        "inbound",
        "indexes",
        "level",
    )

    def __init__(self, e164: str) -> None:
        self.e164 = e164
        self.capacity = 1
        self.hour_cap: int | None = None
        self.day_cap: int | None = None
        self.in_use = 0
        self.inbound = 0
        self.hour: deque[float] = deque()  # outbound call times within the last hour
        self.day: deque[float] | None = None  # kept only once a daily cap is set
        self.indexes: list[_Index] = []
        self.level: int | None = None
        self.active = True

    def cap_free_at(self) -> float | None:
        """When the rolling windows let this number call again; None if not capped."""
        free_at = None
        if self.hour_cap is not None and len(self.hour) >= self.hour_cap:
            free_at = self.hour[-self.hour_cap] + HOUR
        if self.day_cap is not None and self.day is not None and len(self.day) >= self.day_cap:
            day_free = self.day[-self.day_cap] + DAY
            free_at = day_free if free_at is None else max(free_at, day_free)
        return free_at

    def status(self) -> str:
        if not self.active:
            return RETIRED
        if self.day_cap is not None and self.day is not None and len(self.day) >= self.day_cap:
            return DAILY_CAP
        if self.hour_cap is not None and len(self.hour) >= self.hour_cap:
            return HOURLY_CAP
        return BUSY if self.in_use >= self.capacity else READY

    def __lt__(self, other: _Number) -> bool:  # heap tie-break
        return self.e164 < other.e164


class _Index:
    """The free numbers of one (template, group), and its capped ones by free time."""

    __slots__ = ("cooling", "members")

    def __init__(self) -> None:
        self.members = 0
        self.cooling: list[tuple[float, _Number]] = []

    def add(self, number: _Number, level: int) -> None:
        raise NotImplementedError

    def discard(self, number: _Number, level: int) -> None:
        raise NotImplementedError

    def first(self) -> _Number | None:
        raise NotImplementedError

    def holds(self, number: _Number) -> bool:
        raise NotImplementedError


class _Levels(_Index):
    """Least loaded / round robin: a FIFO of free numbers per load level."""

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
        levels = self.levels
        for level in range(self.low, len(levels)):
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


class MemoryBackend(Backend):
    """State in this process: for one service, the simulator, and users' own tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._policy: Policy | None = None
        self._by_load = True
        self._ttl = 0.0
        self._rng = random.Random()
        self._numbers: dict[str, _Number] = {}
        self._indexes: dict[str, dict[str, _Index]] = {}  # template -> group -> index
        self._pools: dict[str, dict[str, _Number]] = {}  # template -> e164 -> number
        self._leases: dict[str, tuple[_Number, float]] = {}  # id -> (number, expires_at)
        self._inbound: set[str] = set()  # ids of inbound leases
        self._lease_queue: deque[tuple[float, str]] = deque()  # by expiry; stale entries skipped
        self._hour_queue: deque[_Number] = deque()  # one entry per call, in time order
        self._day_queue: deque[_Number] = deque()
        self._destinations: dict[str, deque[float]] = {}
        self._destination_queue: deque[str] = deque()
        self._sticky: dict[str, tuple[_Number, float]] = {}
        self._sticky_queue: deque[tuple[float, str]] = deque()
        self._ids = itertools.count(1)
        self._now = float("-inf")
        self._freed = False
        self._listeners: list[Callable[[], object]] = []
        self._stats: Counter[str] = Counter()
        self._acquired = 0
        self._released = 0

    # -- configuration ---------------------------------------------------------------

    def configure(self, policy: Policy) -> None:
        with self._lock:
            if self._policy is not None:
                raise RuntimeError("this MemoryBackend already serves an allocator; use a new one")
            self._policy = policy
            self._by_load = policy.order == "least_loaded"
            self._ttl = policy.lease_ttl
            self._rng = random.Random(policy.seed)

    def put_number(self, spec: NumberSpec, groups: Mapping[str, Sequence[str]]) -> None:
        with self._lock:
            number = self._numbers.get(spec.e164)
            if number is None:
                number = self._numbers[spec.e164] = _Number(spec.e164)
            self._unindex(number)
            number.active = True
            number.capacity = spec.capacity
            number.hour_cap = spec.hour_cap
            number.day_cap = spec.day_cap
            if spec.day_cap is not None and number.day is None:
                number.day = deque()
            for template, names in groups.items():
                self._pools.setdefault(template, {})[spec.e164] = number
                indexes = self._indexes.setdefault(template, {})
                for name in names:
                    index = indexes.get(name)
                    if index is None:
                        index = indexes[name] = self._new_index()
                    index.members += 1
                    number.indexes.append(index)
            self._refresh(number)
        self._notify()

    def drop_number(self, e164: str) -> None:
        with self._lock:
            number = self._numbers.get(e164)
            if number is None:
                return
            self._unindex(number)
            number.active = False
            self._forget_if_idle(number)

    def subscribe(self, callback: Callable[[], object]) -> None:
        self._listeners.append(callback)

    # -- the atomic operations ----------------------------------------------------------

    def acquire(
        self,
        template: str,
        groups: Sequence[str],
        destination: str,
        now: float,
        call_id: str | None = None,
        sticky: bool = False,
        explain: bool = False,
    ) -> Lease | Refusal:
        with self._lock:
            now = self._advance(now)
            limit = self._policy.destination_limit  # type: ignore[union-attr]
            if limit is not None:
                window = self._destinations.get(destination)
                if window is not None and len(window) >= limit.max_calls:
                    retry_at = window[-limit.max_calls] + limit.per_seconds
                    outcome: Lease | Refusal = self._refuse(DESTINATION_LIMIT, retry_at, now, None)
                    return outcome
            indexes = self._indexes.get(template)
            number = None
            if indexes:
                if sticky:
                    number = self._sticky_number(destination, indexes, groups)
                if number is None:
                    for name in groups:
                        index = indexes.get(name)
                        if index is not None:
                            number = index.first()
                            if number is not None:
                                break
            if number is None:
                outcome = self._refusal(template, indexes, groups, now, explain)
            else:
                outcome = self._take(number, now, template, destination, call_id)
                if limit is not None:
                    window = self._destinations.get(destination)
                    if window is None:
                        window = self._destinations[destination] = deque()
                    window.append(now)
                    self._destination_queue.append(destination)
                if sticky:
                    self._sticky[destination] = (number, now)
                    self._sticky_queue.append((now, destination))
        if self._freed:
            self._notify()
        return outcome

    def acquire_number(self, e164: str, now: float, call_id: str | None = None) -> Lease | Refusal:
        with self._lock:
            now = self._advance(now)
            number = self._numbers.get(e164)
            if number is None or not number.active or number.in_use >= number.capacity:
                status = number.status() if number else RETIRED
                outcome: Lease | Refusal = self._refuse(BUSY, None, now, {e164: status})
            else:
                outcome = self._take(number, now, None, None, call_id)
        if self._freed:
            self._notify()
        return outcome

    def release(self, lease_id: str, now: float) -> bool:
        with self._lock:
            self._advance(now)
            record = self._leases.pop(lease_id, None)
            if record is None:
                self._stats["release_ignored"] += 1
            else:
                self._released += 1
                self._free(record[0], lease_id)
                if len(self._lease_queue) > 2 * len(self._leases) + _COMPACT_SLACK:
                    self._compact_lease_queue()
        if self._freed:
            self._notify()
        return record is not None

    def renew(self, lease_id: str, now: float) -> float | None:
        with self._lock:
            now = self._advance(now)
            record = self._leases.get(lease_id)
            if record is None:
                expires_at = None
            else:
                expires_at = now + self._ttl
                self._leases[lease_id] = (record[0], expires_at)
                self._lease_queue.append((expires_at, lease_id))
        if self._freed:
            self._notify()
        return expires_at

    # -- reading ------------------------------------------------------------------------

    def numbers(self, now: float) -> dict[str, NumberState]:
        with self._lock:
            self._advance(now)
            states = {
                e164: NumberState(
                    number.in_use,
                    number.inbound,
                    len(number.hour),
                    None if number.day is None else len(number.day),
                    number.status(),
                )
                for e164, number in self._numbers.items()
            }
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
            queue, leases = self._lease_queue, self._leases
            while queue:
                expires_at, lease_id = queue[0]
                record = leases.get(lease_id)
                if record is not None and record[1] == expires_at:
                    return expires_at
                queue.popleft()
            return None

    def stats(self) -> dict[str, int]:
        with self._lock:
            stats = dict(self._stats)
            stats["acquired"] = self._acquired - stats.get("acquired_inbound", 0)
            stats["released"] = self._released
            stats.setdefault("expired", 0)
            return stats

    # -- internals (called with the lock held) --------------------------------------------

    def _new_index(self) -> _Index:
        if self._policy is None:
            raise RuntimeError("MemoryBackend.configure() must be called first")
        return _Random(self._rng) if self._policy.order == "random" else _Levels()

    def _take(
        self,
        number: _Number,
        now: float,
        template: str | None,
        destination: str | None,
        call_id: str | None,
    ) -> Lease:
        number.in_use += 1
        self._acquired += 1
        lease_id = str(next(self._ids))
        if destination is None:
            number.inbound += 1
            self._inbound.add(lease_id)
            self._stats["acquired_inbound"] += 1
        else:
            number.hour.append(now)
            self._hour_queue.append(number)
            if number.day is not None:
                number.day.append(now)
                self._day_queue.append(number)
        self._refresh(number)
        expires_at = now + self._ttl
        self._leases[lease_id] = (number, expires_at)
        self._lease_queue.append((expires_at, lease_id))
        return Lease(
            lease_id, number.e164, template, destination, call_id, expires_at, destination is None
        )

    def _free(self, number: _Number, lease_id: str) -> None:
        number.in_use -= 1
        if self._inbound and lease_id in self._inbound:
            self._inbound.discard(lease_id)
            number.inbound -= 1
        if number.active:
            self._refresh(number)
        else:
            self._forget_if_idle(number)
        self._freed = True

    def _forget_if_idle(self, number: _Number) -> None:
        """Drop a retired number once nothing refers to it: no live call, no call in a
        window (re-adding it must not reset its caps)."""
        idle = number.in_use == 0 and not number.hour and not number.day
        if not number.active and idle and self._numbers.get(number.e164) is number:
            del self._numbers[number.e164]

    def _refresh(self, number: _Number) -> None:
        """Put a number where its state says: a ready index, a cooling heap, or neither."""
        level = None
        if number.in_use < number.capacity and number.active:
            hour_cap, day_cap = number.hour_cap, number.day_cap
            if (hour_cap is None or len(number.hour) < hour_cap) and (
                day_cap is None or len(number.day) < day_cap  # type: ignore[arg-type]
            ):
                level = number.in_use if self._by_load else 0
            else:
                entry = (number.cap_free_at(), number)
                for index in number.indexes:
                    heapq.heappush(index.cooling, entry)  # type: ignore[arg-type]
        old = number.level
        if old is not None:
            for index in number.indexes:
                index.discard(number, old)
        if level is not None:
            for index in number.indexes:
                index.add(number, level)
        number.level = level

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
        for template, indexes in list(self._indexes.items()):
            for name in [name for name, index in indexes.items() if index.members == 0]:
                del indexes[name]
            if not indexes:
                del self._indexes[template]

    def _advance(self, now: float) -> float:
        """Move to `now` (never backwards): expire leases, window entries, memories."""
        if now < self._now:
            now = self._now
        else:
            self._now = now
        queue = self._lease_queue
        if queue and queue[0][0] <= now:
            self._expire_leases(now)
        hours = self._hour_queue
        if hours and hours[0].hour[0] <= now - HOUR:
            self._expire_window(hours, now - HOUR, _HOUR_TIMES)
        days = self._day_queue
        if days and days[0].day[0] <= now - DAY:  # type: ignore[index]
            self._expire_window(days, now - DAY, _DAY_TIMES)
        if self._destination_queue:
            self._expire_destinations(now)
        if self._sticky_queue:
            self._expire_sticky(now)
        return now

    def _compact_lease_queue(self) -> None:
        """Drop the entries of released leases, so memory follows live calls only."""
        live = sorted((expires_at, lease_id) for lease_id, (_, expires_at) in self._leases.items())
        self._lease_queue = deque(live)

    def _expire_leases(self, now: float) -> None:
        queue, leases = self._lease_queue, self._leases
        while queue and queue[0][0] <= now:
            expires_at, lease_id = queue.popleft()
            record = leases.get(lease_id)
            if record is not None and record[1] == expires_at:
                del leases[lease_id]
                self._stats["expired"] += 1
                self._free(record[0], lease_id)

    def _expire_window(
        self, queue: deque[_Number], cutoff: float, times_of: Callable[[_Number], deque[float]]
    ) -> None:
        while queue:
            number = queue[0]
            times = times_of(number)
            if times[0] > cutoff:
                return
            queue.popleft()
            times.popleft()
            if not number.active:
                self._forget_if_idle(number)
            elif number.level is None and number.in_use < number.capacity:
                self._refresh(number)

    def _expire_destinations(self, now: float) -> None:
        cutoff = now - self._policy.destination_limit.per_seconds  # type: ignore[union-attr]
        queue, windows = self._destination_queue, self._destinations
        while queue:
            destination = queue[0]
            window = windows[destination]
            if window[0] > cutoff:
                return
            queue.popleft()
            window.popleft()
            if not window:
                del windows[destination]

    def _expire_sticky(self, now: float) -> None:
        cutoff = now - self._policy.sticky_ttl  # type: ignore[operator, union-attr]
        queue = self._sticky_queue
        while queue and queue[0][0] <= cutoff:
            taken_at, destination = queue.popleft()
            memory = self._sticky.get(destination)
            if memory is not None and memory[1] == taken_at:
                del self._sticky[destination]

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
        if not indexes:
            return self._refuse(EMPTY_POOL, None, now, {} if explain else None)
        retry_at, blocker, eligible = None, None, False
        for name in groups:
            index = indexes.get(name)
            if index is None:
                continue
            eligible = True
            cooling = index.cooling
            while cooling:
                free_at, number = cooling[0]
                if (
                    number.level is None
                    and number.active
                    and number.in_use < number.capacity
                    and index in number.indexes
                    and number.cap_free_at() == free_at
                ):
                    if retry_at is None or free_at < retry_at:
                        retry_at, blocker = free_at, number
                    break
                heapq.heappop(cooling)
        if not eligible:
            reason = NOT_COMPLIANT
        else:
            reason = blocker.status() if blocker is not None else BUSY
        statuses = None
        if explain:
            statuses = {e164: number.status() for e164, number in self._pools[template].items()}
        return self._refuse(reason, retry_at, now, statuses)

    def _refuse(
        self, reason: str, retry_at: float | None, now: float, statuses: dict[str, str] | None
    ) -> Refusal:
        self._stats["refused:" + reason] += 1
        return Refusal(reason, retry_at, now, statuses)

    def _notify(self) -> None:
        if self._freed:
            self._freed = False
            for callback in self._listeners:
                callback()
