"""How long a campaign takes, in closed form: an estimate, and a floor no run beats.

attempts = contacts x expected attempts per contact; each limit allows so many
attempts an hour (the pool's channels, its hourly and daily caps, the provider
account's pacing, the campaign's own pacing); the smallest one dominates, and
calling hours stretch the dialling hours over the day. That is the estimate: what a
planner reckons, to read beside the simulation (which also sees redial gaps,
waiting and randomness) and to tell which limit more numbers would lift.

It is not a floor: a rolling window's cap lets each number spend a whole window's
calls at once, so a campaign against an hourly cap can finish up to an hour sooner
than its attempts over N x cap (a daily cap: up to a day), and calling hours stretch
only the hours after the first window closes. The floor counts that: each window
starting full, no stretch by calling hours, the redials' gaps of the contacts that
need every attempt. No pool below the floor's size can meet a deadline on average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..allocator.rules import calling_hours_map
from ..errors import PlanningError
from ..formulas.analytic import channels_per_number

if TYPE_CHECKING:
    from ..sim.scenario import Scenario

# Limits that grow with the pool: more numbers lift them.
POOL_LIMITS = ("concurrency", "hourly_cap", "daily_cap")


@dataclass(frozen=True)
class CampaignEstimate:
    """The closed-form completion time of a scenario's campaigns on its pool."""

    attempts: float  # expected dial attempts over all contacts
    limits: dict[str, float] = field(default_factory=dict)  # attempts an hour each allows
    open_share: float = 1.0  # share of the day calling hours let the campaigns dial
    redial_hours: float = 0.0  # the time the redial gaps take alone (mean holds)
    redial_floor_hours: float = 0.0  # ... at least, on average (see floors())

    @property
    def dialling_hours(self) -> float:
        """Hours of dialling at the tightest rate, stretched by calling hours."""
        return self.attempts / min(self.limits.values()) / self.open_share

    @property
    def hours(self) -> float:
        """Hours from the start until the last attempt is placed (roughly; never below
        the floor)."""
        return max(self.dialling_hours, self.redial_hours, self.floor_hours)

    @property
    def binding_constraint(self) -> str:
        """The tightest rate, or `redial_gap` when the gaps alone take longer."""
        if self.redial_hours > self.dialling_hours:
            return "redial_gap"
        return min(self.limits, key=lambda name: self.limits[name])

    @property
    def floor_hours(self) -> float:
        """Hours no run can beat on average: the largest of floors()."""
        return max(self.floors().values())

    def floors(self) -> dict[str, float]:
        """Per limit, the hours it takes at least (averaged over runs: each is convex
        in the attempts, so its value at the mean attempts bounds the mean): a rate
        (channels, pacing) its attempts over the rate; a rolling cap one window less
        than its attempts over the cap (each window may start full); the redial gaps
        those of the contacts that need every attempt."""
        windows = {"hourly_cap": 1.0, "daily_cap": 24.0}
        floors = {}
        for name, per_hour in self.limits.items():
            hours = self.attempts / per_hour
            window = windows.get(name)
            floors[name] = hours if window is None else max(hours - window, 0.0)
        floors["redial_gap"] = self.redial_floor_hours
        return floors


def campaign_estimate(scenario: Scenario, numbers: int | None = None) -> CampaignEstimate:
    """The estimate for `scenario`'s campaigns; `numbers`: its first number group's
    count instead of the scenario's."""
    if not scenario.campaigns:
        raise PlanningError("the scenario has no campaigns to estimate")
    groups = list(scenario.numbers)
    if numbers is not None and groups:
        groups[0] = replace(groups[0], count=numbers)
    call = scenario.call
    hold = call.mean_hold_seconds
    p = call.answer_probability
    limits: dict[str, float] = {}
    channels = sum(channels_per_number(g) * g.count for g in groups)
    limits["concurrency"] = channels * 3600.0 / hold
    if all(g.max_calls_per_hour for g in groups):
        limits["hourly_cap"] = float(sum(g.count * (g.max_calls_per_hour or 0) for g in groups))
    if all(g.max_calls_per_day for g in groups):
        limits["daily_cap"] = sum(g.count * (g.max_calls_per_day or 0) for g in groups) / 24.0
    paced = scenario.calls_per_second
    if paced and all((g.account or g.provider) in paced or g.provider in paced for g in groups):
        limits["account_pacing"] = sum(paced.values()) * 3600.0  # every number paced
    attempts = 0.0
    pacing = 0.0
    redial_hours = redial_floor = 0.0
    unanswered = call.no_answer_seconds.expected
    for campaign in scenario.campaigns:
        k = campaign.max_attempts
        per_contact = float(k) if p == 0 else (1.0 - (1.0 - p) ** k) / p
        attempts += campaign.contacts * per_contact
        rates = []
        if campaign.calls_per_hour is not None:
            rates.append(campaign.calls_per_hour)
        if campaign.max_in_flight is not None:
            rates.append(campaign.max_in_flight * 3600.0 / hold)
        pacing += min(rates)
        if p < 1.0:
            gap = campaign.redial_gap_seconds
            redial_hours = max(redial_hours, (k - 1) * (gap + hold) / 3600)
            # a contact that needs every attempt waits k - 1 gaps after unanswered calls;
            # the chance that some contact does weighs it
            some = 1.0 - (1.0 - (1.0 - p) ** (k - 1)) ** campaign.contacts
            redial_floor = max(redial_floor, some * (k - 1) * (gap + unanswered) / 3600)
    limits["campaign_pacing"] = pacing
    return CampaignEstimate(attempts, limits, _open_share(scenario), redial_hours, redial_floor)


def _open_share(scenario: Scenario) -> float:
    """The share of the day the campaigns' countries may be called (the narrowest)."""
    windows = calling_hours_map(scenario.calling_hours)
    share = 1.0
    for campaign in scenario.campaigns:
        window = windows.get(campaign.country)
        if window is None:
            continue
        start = window.start.hour * 60 + window.start.minute
        end = window.end.hour * 60 + window.end.minute
        share = min(share, ((end - start) % (24 * 60)) / (24 * 60))
    return share if share > 0 else math.nan
