"""A scenario's offered load in the terms of the formulas: calls an hour, holding time,
channels; and the Erlang figures a simulation is read against.

Plain arithmetic on the scenario's dataclasses (no simulator needed). The formulas
know nothing of hourly caps, calling hours or callers who give up: they are the
reference beside a simulated figure, not a replacement for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .erlang import Impatient, erlang_b

if TYPE_CHECKING:
    from ..sim.scenario import NumberGroup, Scenario


@dataclass(frozen=True)
class OfferedLoad:
    """Open arrivals as the formulas see them: the busiest hour's attempts."""

    calls_per_hour: float  # attempts in the busiest hour
    calls_per_day: float  # attempts in the busiest 24 h (the run's, if shorter)
    hold_seconds: float  # mean seconds a number is held per attempt

    @property
    def erlangs(self) -> float:
        return self.calls_per_hour * self.hold_seconds / 3600.0


def offered_load(scenario: Scenario) -> OfferedLoad | None:
    """The open arrivals' load on the pool; None without open arrivals (campaigns and
    replays are paced by their own rules, not by a rate)."""
    if not scenario.arrivals:
        return None
    call = scenario.call
    per_call = 1.0 / call.answer_probability if call.load_counts == "connected" else 1.0
    peak = day = 0.0
    for spec in scenario.arrivals:
        if spec.calls_per_hour is not None:
            peak += spec.calls_per_hour
            day += spec.calls_per_hour * min(scenario.duration_seconds / 3600.0, 24.0)
        else:
            rates = [_hourly(item) for item in spec.profile]
            peak += max(rate for rate, _ in rates)
            # the profile's busiest day: the run may cover only part of it
            day += sum(rate * hours for rate, hours in rates) * min(
                scenario.duration_seconds / 86400.0, 1.0
            )
    return OfferedLoad(peak * per_call, day * per_call, call.mean_hold_seconds)


def expected_attempts(scenario: Scenario) -> float | None:
    """The mean count of attempts a run's summary counts (after the warm-up), when the
    load is open arrivals at constant rates only; else None (campaign redials depend
    on the pool)."""
    if scenario.campaigns or scenario.replays or scenario.hours is None:
        return None
    if not scenario.arrivals or any(spec.calls_per_hour is None for spec in scenario.arrivals):
        return None
    call = scenario.call
    per_call = 1.0 / call.answer_probability if call.load_counts == "connected" else 1.0
    per_hour = sum(spec.calls_per_hour or 0.0 for spec in scenario.arrivals) * per_call
    return per_hour * (scenario.hours - scenario.warmup_hours)


def channels_per_number(group: NumberGroup) -> int:
    """A Twilio number carries one call whatever its channel count says."""
    return 1 if group.provider == "twilio" else group.channels


def pool_channels(scenario: Scenario) -> int:
    return sum(channels_per_number(group) * group.count for group in scenario.numbers)


def erlang_figures(scenario: Scenario) -> dict[str, float]:
    """The summary figures the formulas predict for the scenario's open arrivals on its
    whole pool: Erlang B with no waiting, M/M/c+D (Erlang C when callers wait for
    ever) otherwise; empty without open arrivals."""
    load = offered_load(scenario)
    channels = pool_channels(scenario)
    if load is None or channels == 0:
        return {}
    traffic = load.erlangs
    if scenario.max_wait_seconds == 0:
        blocked = erlang_b(traffic, channels)
        figures = {
            "blocked_fraction": blocked,
            "service_level": 1.0 - blocked,
            "wait_probability": 0.0,
            "wait_mean": 0.0,
            "utilization": traffic * (1.0 - blocked) / channels,
        }
    else:
        seconds = scenario.service_level_seconds
        if seconds is None:
            seconds = scenario.max_wait_seconds
        figures = _waiting_figures(traffic, channels, seconds, load.hold_seconds, scenario)
    figures["pool_blocked_fraction"] = figures["blocked_fraction"]
    figures["pool_service_level"] = figures["service_level"]
    return figures


def _waiting_figures(
    traffic: float, channels: int, seconds: float, hold: float, scenario: Scenario
) -> dict[str, float]:
    """M/M/c+D: callers give up after the max wait (exact for exponential holding)."""
    model = Impatient(traffic, channels, hold, scenario.max_wait_seconds)
    gave_up = model.gave_up
    return {
        "blocked_fraction": gave_up,
        "service_level": model.served_within(seconds),
        "wait_probability": 1.0 - model.served_within(0.0),
        "wait_mean": model.mean_wait,
        "utilization": min(traffic * (1.0 - gave_up) / channels, 1.0),
    }


def _hourly(item: Any) -> tuple[float, float]:
    """(rate per hour, hours it lasts) of one profile entry."""
    if isinstance(item, int | float):
        return float(item), 1.0
    start, end, rate = item
    hours = (_minutes(end) - _minutes(start)) % (24 * 60) / 60.0
    return float(rate), hours or 24.0


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)
