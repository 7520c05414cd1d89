"""Live state as the service shows it, defined once: a number's live columns and a pool's
live use, from the allocator's states and its numbers. The dashboard, the template API
and /metrics all read them here, so a page, a JSON answer and a scrape agree.

A view that shows a few numbers reads only theirs (`read(allocator, e164s)`: a page of
50 of 100,000 numbers costs 50 numbers); only a view of every pool reads every number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..allocator import Allocator, NumberState
from ..allocator.rules import DAY, HOUR
from ..numbers import CAPS, OutboundNumber

UNKNOWN = "unknown"  # the status of a number the backend holds no state for (not synced yet)
_CAP_NAMES = tuple(spec.name for spec in CAPS)


@dataclass(frozen=True, slots=True)
class Reading:
    """Numbers' states at one moment (the clock's time), with the allocator's settings
    of each number it holds."""

    time: float
    states: Mapping[str, NumberState]
    numbers: Mapping[str, OutboundNumber]


def read(allocator: Allocator, e164s: Iterable[str] | None = None) -> Reading:
    """Every number's state, or only those of `e164s` (no other number is read)."""
    if e164s is None:
        now, states = allocator.states()
        return Reading(now, states, allocator.numbers)
    wanted = list(e164s)
    now, states = allocator.states(wanted)
    found = {e164: allocator.find(e164) for e164 in wanted}
    return Reading(now, states, {e164: n for e164, n in found.items() if n is not None})


def number_live(reading: Reading, e164: str) -> dict[str, Any]:
    """A number's live columns: calls in progress (`in_use`) of its `capacity`, outbound
    calls in the rolling hour and day, `status` (ready, busy, retired, a cap's reason, or
    "unknown" for a number the backend holds no state for: no calls), and its caps as the
    allocator enforces them (None: none, or a number the allocator does not hold)."""
    state, number = reading.states.get(e164), reading.numbers.get(e164)
    row: dict[str, Any] = {
        "in_use": 0 if state is None else state.in_use,
        "capacity": None if number is None else number.capacity,
        "calls_last_hour": 0 if state is None else state.calls.get(HOUR, 0),
        "calls_last_day": None if state is None else state.calls.get(DAY),
        "status": UNKNOWN if state is None else state.status,
    }
    for name in _CAP_NAMES:
        row[name] = getattr(number, name, None)
    return row


def with_live(row: Mapping[str, Any], reading: Reading) -> dict[str, Any]:
    """A registry row (the CSV's columns) with its number's live columns after them; the
    row's own settings stand (the registry is the system of record)."""
    live = number_live(reading, str(row["e164"]))
    return {**row, **{name: value for name, value in live.items() if name not in row}}


@dataclass(slots=True)
class PoolUse:
    """A pool's live use: its numbers, channels in use of its channels, and its numbers by
    status (those the backend holds state for). A number in several pools counts in each."""

    numbers: int = 0
    in_use: int = 0
    capacity: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def pool_use(pool: Iterable[str], reading: Reading) -> PoolUse:
    """One pool's live use; `reading` must hold its numbers (all, or at least these)."""
    states, known = reading.states, reading.numbers
    count = in_use = capacity = 0
    statuses: Counter[str] = Counter()
    for e164 in pool:  # one pass, 100,000 numbers a scrape: lean
        count += 1
        state, number = states.get(e164), known.get(e164)
        if state is not None:
            in_use += state.in_use
            statuses[state.status] += 1
        if number is not None:
            capacity += number.capacity
    return PoolUse(count, in_use, capacity, statuses)


def pools_use(templates: Mapping[str, Iterable[str]], reading: Reading) -> dict[str, PoolUse]:
    """Each template's live use, by template id; a template exists while it has numbers
    (as in the registry), so an emptied pool is left out."""
    found = {template: pool_use(templates[template], reading) for template in sorted(templates)}
    return {template: use for template, use in found.items() if use.numbers}
