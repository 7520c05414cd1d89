"""Where M/M/c+D is exact: the questions a formula answers without a simulated search.

Poisson arrivals at a constant rate, exponential holding times, one pool of identical
channels served first come, first served, callers who give up after a fixed patience,
and no rule that refuses or delays a call for its own reasons. Anything else (caps,
pacing, profiles, campaigns, replays, calling hours, ...) is where the formulas are
blind and the simulator earns its cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..allocator.rules import COMPLIANCE_TAGS, compliance_map

if TYPE_CHECKING:
    from ..sim.scenario import Scenario


def formula_blind_spot(scenario: Scenario) -> str | None:
    """What in `scenario` the M/M/c+D formula cannot see; None where it is exact."""
    call = scenario.call
    checks = (
        (scenario.registry is not None, "a registry's pool"),
        (len(scenario.numbers) != 1, "several number groups"),
        (bool(scenario.campaigns), "campaigns"),
        (bool(scenario.replays), "replays"),
        (len(scenario.arrivals) != 1, "several arrival streams"),
        (any(a.calls_per_hour is None for a in scenario.arrivals), "a rate profile"),
        (bool(scenario.calls_per_second), "account pacing"),
        (scenario.destination_limit is not None, "a destination limit"),
        (bool(scenario.calling_hours), "calling hours"),
        (any(g.max_calls_per_hour or g.max_calls_per_day for g in scenario.numbers), "caps"),
        (call.callback_probability > 0, "inbound callbacks"),
        (call.lost_callback_probability > 0, "lost status callbacks"),
        (not _exponential_holding(scenario), "non-exponential holding times"),
        (not _compliant(scenario), "numbers that may not call the destinations"),
    )
    return next((why for blind, why in checks if blind), None)


def _exponential_holding(scenario: Scenario) -> bool:
    call = scenario.call
    if call.answer_probability < 1.0 or call.talk_seconds.kind != "exponential":
        return False
    return call.ring_seconds.kind == "constant" and call.ring_seconds.mean == 0


def _compliant(scenario: Scenario) -> bool:
    required = compliance_map(scenario.compliance)
    return all(
        getattr(group, COMPLIANCE_TAGS[required[arrivals.country]])
        for group in scenario.numbers
        for arrivals in scenario.arrivals
        if arrivals.country in required
    )
