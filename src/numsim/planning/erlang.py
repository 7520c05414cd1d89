"""Erlang B and C: the loss and delay bounds a pool is sized against.

Stable recursions in floats: B(n) = A·B(n-1) / (n + A·B(n-1)) never overflows and
agrees with exact rational arithmetic to ~1e-15 up to thousands of servers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..validation import finite, share, whole


def offered_traffic(calls_per_hour: float, mean_holding_seconds: float) -> float:
    """Offered load in erlangs: arrivals per second times mean holding time."""
    _check_nonnegative("calls_per_hour", calls_per_hour)
    _check_nonnegative("mean_holding_seconds", mean_holding_seconds)
    return calls_per_hour * mean_holding_seconds / 3600.0


def erlang_b(traffic_erlangs: float, servers: int) -> float:
    """Blocking probability of an M/G/c/c loss system (insensitive to holding times)."""
    _check_nonnegative("traffic_erlangs", traffic_erlangs)
    _check_servers(servers)
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = traffic_erlangs * blocking / (n + traffic_erlangs * blocking)
    return blocking


def erlang_c(traffic_erlangs: float, servers: int) -> float:
    """Probability an arrival waits in an M/M/c queue (1.0 when the load is unstable)."""
    _check_nonnegative("traffic_erlangs", traffic_erlangs)
    _check_servers(servers)
    if traffic_erlangs >= servers:
        return 1.0
    if traffic_erlangs == 0:
        return 0.0
    blocking = erlang_b(traffic_erlangs, servers)
    return servers * blocking / (servers - traffic_erlangs * (1.0 - blocking))


def wait_exceeds(
    traffic_erlangs: float, servers: int, seconds: float, mean_holding_seconds: float
) -> float:
    """P(wait > seconds) in M/M/c: C · exp(-(c - A) · t / h)."""
    _check_nonnegative("seconds", seconds)
    _check_positive("mean_holding_seconds", mean_holding_seconds)
    waits = erlang_c(traffic_erlangs, servers)
    if traffic_erlangs >= servers:
        return 1.0
    return waits * math.exp(-(servers - traffic_erlangs) * seconds / mean_holding_seconds)


def mean_wait(traffic_erlangs: float, servers: int, mean_holding_seconds: float) -> float:
    """Mean wait (all arrivals) in M/M/c, in seconds; inf when unstable."""
    _check_positive("mean_holding_seconds", mean_holding_seconds)
    if traffic_erlangs >= servers:
        return math.inf
    return erlang_c(traffic_erlangs, servers) * mean_holding_seconds / (servers - traffic_erlangs)


@dataclass(frozen=True)
class Impatient:
    """M/M/c+D: callers wait first come, first served, and give up after a fixed
    patience. Exact for exponential holding times, stable at any load.

    From the virtual waiting time's density (Baccelli & Hebuterne 1981), relative to
    the probability of c-1 busy channels: lambda exp(-r x) below the patience
    (r = c/h - lambda) and lambda exp(lambda D - c x / h) above it; the states with
    a free channel sum to 1 / Erlang B with c-1 servers."""

    traffic_erlangs: float
    servers: int
    mean_holding_seconds: float
    patience_seconds: float

    def __post_init__(self) -> None:
        _check_nonnegative("traffic_erlangs", self.traffic_erlangs)
        _check_servers(self.servers)
        _check_positive("mean_holding_seconds", self.mean_holding_seconds)
        _check_nonnegative("patience_seconds", self.patience_seconds)

    def served_within(self, seconds: float) -> float:
        """P(an arrival gets a channel within `seconds`)."""
        _check_nonnegative("seconds", seconds)
        if self.traffic_erlangs == 0:
            return 1.0
        if self.servers == 0:
            return 0.0
        no_wait, _, tail = self._parts()
        waited = self._waited(min(seconds, self.patience_seconds))
        return (no_wait + waited) / (no_wait + self._waited(self.patience_seconds) + tail)

    @property
    def gave_up(self) -> float:
        """P(an arrival gives up): the loss the pool causes."""
        return 1.0 - self.served_within(self.patience_seconds)

    @property
    def mean_wait(self) -> float:
        """Mean seconds waited, over all arrivals (those who give up wait the patience)."""
        if self.traffic_erlangs == 0 or self.servers == 0:
            return 0.0 if self.traffic_erlangs == 0 else self.patience_seconds
        no_wait, rate, tail = self._parts()
        d, patience, scale = self._drain, self.patience_seconds, self._scale
        waited = self._waited(patience)
        if d == 0:
            under = rate * patience**2 / 2 * math.exp(-scale)
        else:  # the integral of waited(x) over (0, patience)
            under = rate / d * (patience * math.exp(-scale) - waited / rate)
        return (patience * (waited + tail) - under) / (no_wait + waited + tail)

    # Every term is relative to p(c-1) and scaled by exp(-scale), so that an overloaded
    # pool with a long patience (exp(-r D) beyond floats) still computes.

    @property
    def _drain(self) -> float:
        return (self.servers - self.traffic_erlangs) / self.mean_holding_seconds

    @property
    def _scale(self) -> float:
        return max(0.0, -self._drain * self.patience_seconds)

    def _parts(self) -> tuple[float, float, float]:
        """(free-channel states, arrival rate, give-up mass), all scaled."""
        rate = self.traffic_erlangs / self.mean_holding_seconds
        scale = self._scale
        no_wait = math.exp(-scale) / erlang_b(self.traffic_erlangs, self.servers - 1)
        decay = math.exp(-self._drain * self.patience_seconds - scale)
        return no_wait, rate, rate * decay * self.mean_holding_seconds / self.servers

    def _waited(self, t: float) -> float:
        """The density's integral over (0, t], scaled."""
        rate = self.traffic_erlangs / self.mean_holding_seconds
        d, scale = self._drain, self._scale
        if d == 0:
            return rate * t * math.exp(-scale)
        return rate * (math.exp(-scale) - math.exp(-d * t - scale)) / d


def servers_for_blocking(traffic_erlangs: float, max_blocking: float) -> int:
    """The fewest servers with Erlang B blocking <= `max_blocking`."""
    _check_fraction("max_blocking", max_blocking)
    _check_nonnegative("traffic_erlangs", traffic_erlangs)
    servers, blocking = 0, 1.0
    while blocking > max_blocking:
        servers += 1
        blocking = traffic_erlangs * blocking / (servers + traffic_erlangs * blocking)
    return servers


def servers_for_wait(
    traffic_erlangs: float, seconds: float, max_probability: float, mean_holding_seconds: float
) -> int:
    """The fewest servers with P(wait > seconds) <= `max_probability` in M/M/c."""
    _check_fraction("max_probability", max_probability)
    servers = max(math.floor(traffic_erlangs) + 1, 1)
    while wait_exceeds(traffic_erlangs, servers, seconds, mean_holding_seconds) > max_probability:
        servers += 1
    return servers


def _check_nonnegative(name: str, value: object) -> None:
    finite(name, value)


def _check_positive(name: str, value: object) -> None:
    finite(name, value, inclusive=False)


def _check_servers(value: object) -> None:
    whole("servers", value)


def _check_fraction(name: str, value: object) -> None:
    share(name, value, strict=True)
