"""Interval sizing: the numbers a rate profile needs interval by interval.

Workforce tools size each interval (an hour, or 15 minutes) as if its rate held
steady, and staff the busiest: a day's average hides the peak a pool must carry. Each
interval's answer is the M/M/c+D one (Erlang C's with callers who give up) at that
interval's mean rate; size_pool() confirms the busiest by simulation.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pandas as pd

from ..errors import PlanningError
from ..formulas.analytic import channels_per_number, offered_load, pool_channels
from ..validation import whole
from .targets import FinishBy, Target, checked_target

if TYPE_CHECKING:
    from ..sim.scenario import Scenario

INTERVAL_MINUTES = (15, 30, 60)


@dataclass
class IntervalSizing:
    """The numbers each interval needs; the fewest that meet the target in every one
    is the busiest interval's."""

    table: pd.DataFrame  # by interval start (local time): calls_per_hour, erlangs, numbers
    minutes: int
    target: Target

    @property
    def peak(self) -> pd.Timestamp:
        """The start of the interval that needs the most numbers (the first, on a tie)."""
        return pd.Timestamp(self.table["numbers"].idxmax())

    @property
    def peak_numbers(self) -> int:
        return int(self.table["numbers"].max())

    def label(self, start: pd.Timestamp | None = None) -> str:
        start = self.peak if start is None else start
        end = start + pd.Timedelta(minutes=self.minutes)
        return f"{start:%H:%M}-{end:%H:%M}"

    def records(self) -> list[dict[str, Any]]:
        """Plain JSON values, one per interval."""
        return [
            {
                "interval": self.label(start),
                "start": start.isoformat(),
                "calls_per_hour": float(row["calls_per_hour"]),
                "erlangs": float(row["erlangs"]),
                "numbers": int(row["numbers"]),
            }
            for start, row in self.table.iterrows()
        ]

    def plot(self, ax: Any = None, numbers: int | None = None) -> Any:
        """Numbers needed per interval as bars, and a fixed pool of `numbers` as a line."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        from matplotlib.ticker import MaxNLocator

        labels = [f"{t:%H:%M}" for t in self.table.index]
        ax.bar(labels, self.table["numbers"], label="needed (M/M/c+D)")
        if numbers is not None:
            ax.axhline(numbers, color="tab:red", label=f"pool: {numbers}")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"{self.minutes}-minute interval starting")
        ax.set_ylabel("numbers needed")
        ax.tick_params(axis="x", labelrotation=90)
        ax.legend(loc="best", fontsize="small")
        return ax


def has_profile(scenario: Scenario) -> bool:
    return any(spec.profile for spec in scenario.arrivals)


def size_intervals(
    scenario: Scenario, target: Target, *, minutes: int = 60, max_numbers: int = 10_000
) -> IntervalSizing:
    """Per interval of the run, its mean rate and the fewest numbers of the first group
    whose M/M/c+D figure meets `target` at that rate held steady."""
    target = checked_target(target)
    max_numbers = whole("max_numbers", max_numbers, minimum=1, error=PlanningError)
    if minutes not in INTERVAL_MINUTES:
        raise PlanningError(f"interval minutes must be one of {INTERVAL_MINUTES}, got {minutes!r}")
    if isinstance(target, FinishBy) or not scenario.arrivals or scenario.hours is None:
        raise PlanningError("interval sizing needs open arrivals over a run of given hours")
    scenario = target.prepare(scenario)
    rows = {}
    for start, rates in _interval_rates(scenario, minutes):
        row = {"calls_per_hour": sum(rates), "erlangs": 0.0, "numbers": 0}
        if sum(rates) > 0:
            steady = at_rates(scenario, rates)
            load = offered_load(steady)
            assert load is not None
            row.update(erlangs=load.erlangs, numbers=_fewest(steady, target, max_numbers))
        rows[start] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "start"
    return IntervalSizing(table, minutes, target)


def at_rates(scenario: Scenario, rates: list[float]) -> Scenario:
    """`scenario` with each arrival stream at a constant rate (its interval's mean; a
    stream silent then left out)."""
    arrivals = tuple(
        dataclasses.replace(spec, calls_per_hour=rate, profile=())
        for spec, rate in zip(scenario.arrivals, rates, strict=True)
        if rate > 0
    )
    return scenario.replace(arrivals=arrivals)


def busiest(scenario: Scenario, minutes: int = 60) -> tuple[pd.Timestamp, list[float]]:
    """The interval with the most calls an hour, and each stream's rate in it."""
    return max(_interval_rates(scenario, minutes), key=lambda item: sum(item[1]))


def _interval_rates(scenario: Scenario, minutes: int) -> list[tuple[pd.Timestamp, list[float]]]:
    """(local start, each stream's mean calls an hour) per interval of the run."""
    from ..sim.load import rate_function

    epoch = scenario.start_epoch
    assert scenario.hours is not None
    rates = [rate_function(spec, scenario.timezone, epoch) for spec in scenario.arrivals]
    step = minutes * 60.0
    count = math.ceil(scenario.hours * 3600.0 / step - 1e-9)
    zone = ZoneInfo(scenario.timezone)
    out = []
    for index in range(count):
        begin = index * step
        end = min(begin + step, scenario.hours * 3600.0)
        means = [_mean_rate(rate, begin, end) for rate in rates]
        start = pd.Timestamp(datetime.fromtimestamp(epoch + begin, zone))
        out.append((start, means))
    return out


def _mean_rate(rate: Any, begin: float, end: float) -> float:
    """The mean of a piecewise-constant rate over [begin, end)."""
    total, t = 0.0, begin
    while t < end:
        value, until = rate(t)
        stop = min(until, end)
        total += value * (stop - t)
        t = stop
    return total / (end - begin)


def _fewest(scenario: Scenario, target: Target, most: int) -> int:
    """The fewest numbers of the first group whose M/M/c+D figure meets `target` (0
    when nothing arrives; `most` + 1 when no pool up to `most` does)."""
    load = offered_load(scenario)
    if load is None or load.calls_per_hour == 0:
        return 0
    group = scenario.numbers[0]
    others = pool_channels(scenario) - channels_per_number(group) * group.count

    def met(numbers: int) -> bool:
        channels = others + channels_per_number(group) * numbers
        return target.met(target.estimate(load, channels, scenario))

    low, high = 0, 1
    while not met(high):
        if high > most:
            return most + 1
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if met(middle) else (middle, high)
    return high
