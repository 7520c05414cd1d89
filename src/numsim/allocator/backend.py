"""The backend interface: the allocator's shared state, changed only in atomic steps.

Everything that needs no shared state (validation, compliance, calling hours,
strategy preferences) lives once, in the Allocator. A backend holds the state
and does the check-and-take and the release, each as one atomic step: a lock
in memory, one Lua function in Redis. Every backend passes the same test suite.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .lease import Lease, LeaseId
from .rules import DestinationLimit


class Cap(NamedTuple):
    """One cap on a number's outbound calls: at most `limit` calls in any rolling
    `window` seconds; `reason` names a refusal (and the number's status) while it is
    full. Caps are data: a backend walks them in one loop, so a new window is a new row."""

    reason: str  # e.g. "hourly_cap"
    window: float  # seconds
    limit: int


@dataclass(frozen=True, slots=True)
class NumberSpec:
    """What a backend needs to know about a number's limits. A number is capped while
    any cap is full; of several full caps, the refusal names the one that frees last
    (on a tie the longer window, then the later in `caps`)."""

    e164: str
    capacity: int
    caps: tuple[Cap, ...] = ()

    def __post_init__(self) -> None:
        for reason, window, limit in self.caps:
            if not isinstance(reason, str) or not reason or len(reason.split()) != 1:
                raise ValueError(f"a cap's reason must be one word, got {reason!r}")
            if isinstance(window, bool) or not isinstance(window, int | float):
                raise ValueError(f"cap {reason}: window must be seconds, got {window!r}")
            if not 0 < window < math.inf:
                raise ValueError(f"cap {reason}: window must be positive seconds, got {window!r}")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"cap {reason}: limit must be a whole number >= 1, got {limit!r}")


@dataclass(frozen=True, slots=True)
class Policy:
    """Settings fixed for the life of an allocator."""

    order: str  # least_loaded | round_robin | random
    lease_ttl: float
    destination_limit: DestinationLimit | None
    sticky_ttl: float | None  # how long a destination remembers its number; None: never
    seed: int | None = None


# An acquisition before it is wrapped in a Lease: (lease id, number, destination or None
# for an inbound call, expires_at). What a caller that reads no Lease object gets (the
# simulator: one per simulated attempt); the Allocator wraps it for everyone else.
Grant = tuple[LeaseId, str, str | None, float]


def lease_of(grant: Grant, template: str | None, call_id: str | None) -> Lease:
    """A Grant's Lease (a grant with no destination is an inbound call's)."""
    lease_id, number, destination, expires_at = grant
    inbound = destination is None
    return Lease(lease_id, number, template, destination, call_id, expires_at, inbound)


class Refusal(NamedTuple):
    reason: str
    retry_at: float | None  # backend time when time alone may let the call through
    now: float  # backend time of the refusal
    statuses: dict[str, str] | None  # pool number -> why, when asked to explain


class NumberState(NamedTuple):
    """One number as a backend sees it at a moment."""

    in_use: int
    inbound: int
    # window seconds -> outbound calls in it. Every number keeps the hour (rules.HOUR)
    # whether capped or not: snapshots show it, and a cap set later counts the calls
    # already made; another window is kept once a cap asks for it.
    calls: Mapping[float, int]
    status: str  # ready | busy | retired | the reason of the cap that holds it


SETTINGS_LOST = "settings lost"


class Finding(NamedTuple):
    """One broken invariant found by Backend.check, and whether it was repaired."""

    number: str | None  # the number it concerns, if known
    problem: str
    repaired: bool

    def __str__(self) -> str:
        subject = f"{self.number}: " if self.number else ""
        return f"{subject}{self.problem} ({'repaired' if self.repaired else 'not repaired'})"


class Backend(ABC):
    """Shared allocation state. All times are epoch seconds; `now` is the caller's
    clock reading, which a backend may replace with its own (Redis server time)."""

    # Waiting requests re-check at least this often (seconds): a fallback for a wake-up
    # lost on its way from another process. None: every wake-up is delivered in-process.
    wake_interval: float | None = None
    # Whether calls go over a network and may stall (RedisBackend): the allocator then
    # makes them for a waiting caller in its worker thread, and the caller waits for them
    # no longer than its timeout allows.
    remote: bool = False

    @abstractmethod
    def configure(self, policy: Policy) -> None:
        """Set the policy; called once by the allocator before anything else."""

    @abstractmethod
    def put_number(self, spec: NumberSpec, groups: Mapping[str, Sequence[str]], now: float) -> None:
        """Add or update a number and its groups per template; live leases stay."""

    @abstractmethod
    def drop_number(self, e164: str, now: float) -> None:
        """Take a number out of every pool; its live leases stay until released."""

    @abstractmethod
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
        """Atomically: check every rule and take a channel of the best number that fits.

        The lease lives `ttl` seconds (the policy's lease_ttl if None). Answered as a
        Grant: the Allocator wraps it in a Lease, the simulator reads it as it is."""

    def acquire(
        self,
        template: str,
        groups: Sequence[str],
        destination: str,
        now: float,
        call_id: str | None = None,
        ttl: float | None = None,
        sticky: bool = False,
        explain: bool = False,
    ) -> Lease | Refusal:
        """grant, answered as a Lease."""
        outcome = self.grant(template, groups, destination, now, call_id, ttl, sticky, explain)
        return outcome if isinstance(outcome, Refusal) else lease_of(outcome, template, call_id)

    @abstractmethod
    def acquire_number(
        self, e164: str, now: float, call_id: str | None = None, ttl: float | None = None
    ) -> Lease | Refusal:
        """Atomically take a channel of one given number (an inbound call)."""

    @abstractmethod
    def release(self, lease_id: LeaseId, number: str, now: float) -> bool:
        """Give a lease's channel back; False (and nothing changes) if it was already
        released or expired, or if `number` is not the lease's number."""

    @abstractmethod
    def renew(
        self, lease_id: LeaseId, number: str, now: float, ttl: float | None = None
    ) -> float | None:
        """Extend a live lease of `number` to now + ttl (the policy's lease_ttl if None);
        its new expiry, or None if it is gone."""

    @abstractmethod
    def numbers(self, now: float, e164s: Collection[str] | None = None) -> dict[str, NumberState]:
        """Every number's state now; given `e164s`, only theirs, reading no other number
        (a page of 50 of 100,000). A number the backend holds no state for (never
        added, or removed and idle) is absent, as it is from the full read."""

    @abstractmethod
    def in_use(self, e164: str, now: float) -> int:
        """Channels busy on `e164` now (0 for an unknown number)."""

    @abstractmethod
    def next_expiry(self, now: float) -> float | None:
        """When the next live lease expires, after `now` (wakes waiters if its worker died)."""

    @abstractmethod
    def check(self, now: float, repair: bool) -> list[Finding]:
        """Verify the state's invariants against the lease index (each number's calls in
        progress, each lease's expiry), repairing what can be derived if `repair`."""

    @abstractmethod
    def subscribe(self, callback: Callable[[], object]) -> None:
        """Call `callback` after a channel frees (release or expiry), outside any lock."""

    def expect_frees(self, now: float, waiting: Callable[[], bool]) -> bool:
        """A request waits for a channel to free; `waiting()` tells whether any request
        still does. True if frees made before this call may have gone unannounced (the
        caller then looks again). Every free reaches the callbacks in-process by
        default; RedisBackend tells other processes of frees only while some process
        waits."""
        return False

    def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing to release
        """Release what the backend holds (threads, connections); it is not used after."""

    @abstractmethod
    def stats(self) -> dict[str, int]:
        """Counts since start: acquired, acquired_inbound, released, release_ignored,
        expired, and refused:<reason> for each refusal the backend made."""


class AsyncBackend(Backend):
    """A backend that also speaks asyncio (its own client; never blocks the loop). The
    allocator's async operations use these; for any other backend they run the
    synchronous ones directly (MemoryBackend: a lock held for microseconds)."""

    @abstractmethod
    async def aacquire(
        self,
        template: str,
        groups: Sequence[str],
        destination: str,
        now: float,
        call_id: str | None = None,
        ttl: float | None = None,
        sticky: bool = False,
        explain: bool = False,
    ) -> Lease | Refusal:
        """acquire, awaited."""

    @abstractmethod
    async def arelease(self, lease_id: LeaseId, number: str, now: float) -> bool:
        """release, awaited."""

    async def aclose(self) -> None:
        """close for asyncio: also closes the asyncio connections."""
        self.close()

    @abstractmethod
    async def arenew(
        self, lease_id: LeaseId, number: str, now: float, ttl: float | None = None
    ) -> float | None:
        """renew, awaited."""
