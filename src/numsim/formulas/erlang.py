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
        if blocking == 0.0:  # underflowed: it stays 0 for every server more
            break
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
    patience. Exact for exponential holding times, stable at any load and any scale.

    From the virtual waiting time's density (Baccelli & Hebuterne 1981), relative to
    the probability of c-1 busy channels: lambda exp(-r x) below the patience
    (r = c/h - lambda) and lambda exp(lambda D - c x / h) above it; the states with
    a free channel sum to 1 / Erlang B with c-1 servers. Every mass is kept as its
    logarithm: a large pool's 1 / Erlang B overflows floats, an overloaded pool's
    exp(-r D) too."""

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
        no_wait, _, total = self._masses()
        served = _log_sum(no_wait, self._log_waited(min(seconds, self.patience_seconds)))
        return min(math.exp(served - total), 1.0)

    @property
    def gave_up(self) -> float:
        """P(an arrival gives up): the loss the pool causes."""
        return 1.0 - self.served_within(self.patience_seconds)

    @property
    def mean_wait(self) -> float:
        """Mean seconds waited, over all arrivals (those who give up wait the patience):
        the integral over (0, D) of P(virtual wait > x), in positive terms only."""
        if self.traffic_erlangs == 0 or self.servers == 0:
            return 0.0 if self.traffic_erlangs == 0 else self.patience_seconds
        patience = self.patience_seconds
        if patience == 0:
            return 0.0
        _, rate, total = self._masses()
        waiting = rate + 2 * math.log(patience) + _log_moment(-self._drain * patience)
        wait = math.exp(waiting - total) + patience * math.exp(self._log_tail() - total)
        return min(wait, patience)

    @property
    def _drain(self) -> float:
        return (self.servers - self.traffic_erlangs) / self.mean_holding_seconds

    def _masses(self) -> tuple[float, float, float]:
        """Logs of (free-channel states, arrival rate, all states)."""
        rate = self._log_rate
        no_wait = log_inverse_erlang_b(self.traffic_erlangs, self.servers - 1)
        waited = self._log_waited(self.patience_seconds)
        return no_wait, rate, _log_sum(no_wait, waited, self._log_tail())

    @property
    def _log_rate(self) -> float:
        return math.log(self.traffic_erlangs) - math.log(self.mean_holding_seconds)

    def _log_tail(self) -> float:
        """Log of the mass of those who give up: lambda e^(-r D) h / c."""
        hold = math.log(self.mean_holding_seconds) - math.log(self.servers)
        return self._log_rate - self._drain * self.patience_seconds + hold

    def _log_waited(self, t: float) -> float:
        """Log of the density's integral over (0, t]: lambda t (e^y - 1) / y, y = -r t."""
        if t == 0:
            return -math.inf
        return self._log_rate + math.log(t) + _log_growth(-self._drain * t)


def log_inverse_erlang_b(traffic_erlangs: float, servers: int) -> float:
    """log(1 / Erlang B): finite where Erlang B underflows (many servers, light load).

    The usual recursion while B stays a normal float, then its inverse
    1/B(n) = 1 + n / (A B(n-1)) in logs; inf when A is 0 (B is 0 beyond 0 servers)."""
    if servers == 0:
        return 0.0
    if traffic_erlangs == 0:
        return math.inf
    blocking, n = 1.0, 0
    while n < servers:
        following = traffic_erlangs * blocking / (n + 1 + traffic_erlangs * blocking)
        if following < 1e-250:
            break
        blocking, n = following, n + 1
    inverse = -math.log(blocking)
    log_traffic = math.log(traffic_erlangs)
    for more in range(n + 1, servers + 1):
        step = inverse + math.log(more) - log_traffic
        if step > 40 and more > traffic_erlangs:
            # the 1 + no longer counts (e^-40 is below a double's precision) and never
            # will again (the steps only grow): the rest is a sum of log(k / A)
            rest = math.lgamma(servers + 1) - math.lgamma(more) - (servers - more + 1) * log_traffic
            return inverse + rest
        inverse = step + math.log1p(math.exp(-step))
    return inverse


def _log_sum(*logs: float) -> float:
    top = max(logs)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(value - top) for value in logs))


def _log_growth(y: float) -> float:
    """log((e^y - 1) / y), 0 at y = 0, for any y."""
    if y > 1:
        return y + math.log1p(-math.exp(-y)) - math.log(y)
    if y < -1:
        return math.log(-math.expm1(y)) - math.log(-y)
    if y == 0:
        return 0.0
    return math.log(math.expm1(y) / y)


def _log_moment(y: float) -> float:
    """log of the integral of s e^(y s) over (0, 1): ((y - 1) e^y + 1) / y^2, for any y."""
    if y > 1:
        return y + math.log(y - 1 + math.exp(-y)) - 2 * math.log(y)
    if abs(y) < 0.05:  # the series, where the closed form cancels
        return math.log(sum(y**k / (math.factorial(k) * (k + 2)) for k in range(7)))
    return math.log(((y - 1) * math.exp(y) + 1) / (y * y))


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
