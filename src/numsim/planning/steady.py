"""Steady state: runs that measure a pool which has forgotten it started empty.

A simulated pool starts idle, which flatters long holds: the first holding times see
fewer busy numbers than the question's. Sizing and evaluation start such runs a
warm-up earlier and leave the warm-up out of the figures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..formulas.analytic import expected_attempts
from ..sim.scenario import ScenarioError

if TYPE_CHECKING:
    from ..formulas.analytic import OfferedLoad
    from ..sim.scenario import Scenario


def warmup_hours(scenario: Scenario, load: OfferedLoad) -> float:
    """Six holding times and three patiences (a patience counted up to six holding
    times: callers who wait for ever leave a queue that drains at the holds' pace):
    long enough for an empty pool to forget how it started."""
    patience = min(scenario.max_wait_seconds, 6 * load.hold_seconds)
    return (6 * load.hold_seconds + 3 * patience) / 3600.0


def steady_state(scenario: Scenario, load: OfferedLoad) -> Scenario:
    """`scenario` started a warm-up earlier, the warm-up left out of its figures (the
    counted hours and their clock times unchanged); as it is where it has a warm-up of
    its own or its rate changes (a profile's hours are the question). The warm-up is
    at most the run's own hours: a run asked to be short stays short."""
    if scenario.warmup_hours > 0 or expected_attempts(scenario) is None:
        return scenario
    assert scenario.hours is not None  # expected_attempts() is None otherwise
    warmup = min(warmup_hours(scenario, load), scenario.hours)  # at most twice the work
    try:
        start = datetime.fromisoformat(scenario.start) - timedelta(hours=warmup)
        return scenario.replace(
            start=start.isoformat(timespec="seconds"),
            hours=scenario.hours + warmup,
            warmup_hours=warmup,
        )
    except (OverflowError, ScenarioError):  # before year 1, or over its attempt budget
        return scenario
