"""What a pool must achieve: the targets size_pool() sizes against.

Each target names the simulated figure it reads, which way is better, the figure
Erlang B or C predicts for a number of channels (the analytic answer beside the
simulated one), and the share of the load that must get through (the carried-load
floor: fewer channels cannot carry it whatever the randomness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import PlanningError
from ..formulas.erlang import Impatient, erlang_b, mean_wait, wait_exceeds
from ..validation import finite, share

if TYPE_CHECKING:
    from ..formulas.analytic import OfferedLoad
    from ..sim.scenario import Scenario


class Target:
    """A goal for one summary figure of a simulated run."""

    figure: ClassVar[str]  # the summary figure read
    higher_is_better: ClassVar[bool]

    @property
    def goal(self) -> float:
        raise NotImplementedError

    def met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value >= self.goal if self.higher_is_better else value <= self.goal

    def prepare(self, scenario: Scenario) -> Scenario:
        """The scenario as the target reads it (e.g. its service-level threshold)."""
        return scenario

    def erlang(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        """The figure the formulas predict on `channels` (NaN where they say nothing)."""
        return math.nan

    def estimate(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        """The formulas' closest figure, where callers give up after the max wait
        (M/M/c+D): where the search starts. Defaults to erlang()."""
        return self.erlang(load, channels, scenario)

    def served_share(self) -> float:
        """The least share of attempts the pool must carry."""
        return 0.0

    def tolerance(self) -> float:
        """How close to the goal counts as meeting it when runs cannot tell: a tenth of
        the share of failures the target allows (at most half a percentage point: at
        99.9%, 0.0001, not five times the failures allowed), 2% of a time."""
        if not self.figure.endswith(("_level", "_fraction")):
            return 0.02 * self.goal
        return min(0.005, 0.1 * self._allowed())

    def tolerance_basis(self) -> str:
        """Where tolerance() comes from, in words."""
        if not self.figure.endswith(("_level", "_fraction")):
            return "2% of the goal"
        if 0.1 * self._allowed() >= 0.005:
            return "half a percentage point"
        return f"a tenth of the {self._allowed():.4g} the target allows"

    def _allowed(self) -> float:
        """The share of failures the target allows."""
        return 1.0 - self.goal if self.higher_is_better else self.goal

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class MaxBlocking(Target):
    """At most `share` of attempts refused by the pool (refusals by the rules, such as
    calling hours, left out: more numbers would not remove them)."""

    share: float
    figure: ClassVar[str] = "pool_blocked_fraction"
    higher_is_better: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _set(self, "share", share("share", self.share, strict=True, error=PlanningError))

    @property
    def goal(self) -> float:
        return self.share

    def erlang(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        return erlang_b(load.erlangs, channels)

    def estimate(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        model = Impatient(load.erlangs, channels, load.hold_seconds, scenario.max_wait_seconds)
        return model.gave_up

    def served_share(self) -> float:
        return 1.0 - self.share

    def describe(self) -> str:
        return f"at most {self.share:.2%} of attempts blocked"


@dataclass(frozen=True)
class ServiceLevel(Target):
    """At least `share` of attempts get a number within `within_seconds` (default: the
    scenario's max wait; with no waiting, at most 1 - share are blocked)."""

    share: float
    within_seconds: float | None = None
    figure: ClassVar[str] = "pool_service_level"
    higher_is_better: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _set(self, "share", share("share", self.share, strict=True, error=PlanningError))
        if self.within_seconds is not None:
            _set(
                self,
                "within_seconds",
                finite("within_seconds", self.within_seconds, error=PlanningError),
            )

    @property
    def goal(self) -> float:
        return self.share

    def prepare(self, scenario: Scenario) -> Scenario:
        seconds = self.within_seconds
        return scenario if seconds is None else scenario.replace(service_level_seconds=seconds)

    def erlang(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        """Erlang B with no waiting; Erlang C (callers who never give up) otherwise."""
        if scenario.max_wait_seconds == 0:
            return 1.0 - erlang_b(load.erlangs, channels)
        seconds = self._seconds(scenario)
        return 1.0 - wait_exceeds(load.erlangs, channels, seconds, load.hold_seconds)

    def estimate(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        model = Impatient(load.erlangs, channels, load.hold_seconds, scenario.max_wait_seconds)
        return model.served_within(self._seconds(scenario))

    def _seconds(self, scenario: Scenario) -> float:
        if self.within_seconds is not None:
            return self.within_seconds
        return scenario.max_wait_seconds

    def served_share(self) -> float:
        return self.share

    def describe(self) -> str:
        within = "" if not self.within_seconds else f" within {self.within_seconds:g} s"
        return f"at least {self.share:.2%} of attempts served{within}"


@dataclass(frozen=True)
class MaxMeanWait(Target):
    """The mean wait for a number, over all attempts, at most `seconds`."""

    seconds: float
    figure: ClassVar[str] = "wait_mean"
    higher_is_better: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _set(self, "seconds", finite("seconds", self.seconds, inclusive=False, error=PlanningError))

    @property
    def goal(self) -> float:
        return self.seconds

    def erlang(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        return mean_wait(load.erlangs, channels, load.hold_seconds)

    def estimate(self, load: OfferedLoad, channels: int, scenario: Scenario) -> float:
        model = Impatient(load.erlangs, channels, load.hold_seconds, scenario.max_wait_seconds)
        return model.mean_wait

    def describe(self) -> str:
        return f"mean wait at most {self.seconds:g} s"


@dataclass(frozen=True)
class FinishBy(Target):
    """Every campaign done (answered or out of attempts) within `hours` of the start."""

    hours: float
    figure: ClassVar[str] = "campaign_completion_hours"
    higher_is_better: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _set(self, "hours", finite("hours", self.hours, inclusive=False, error=PlanningError))

    @property
    def goal(self) -> float:
        return self.hours

    def prepare(self, scenario: Scenario) -> Scenario:
        if not scenario.campaigns:
            raise PlanningError("a FinishBy target needs a scenario with campaigns")
        return scenario

    def describe(self) -> str:
        return f"campaigns finished within {self.hours:g} h"


def checked_target(target: object) -> Target:
    """`target`, if it is a Target; else PlanningError saying what one looks like."""
    if not isinstance(target, Target):
        raise PlanningError(
            f"target must be a Target such as ServiceLevel(0.9, within_seconds=30) or "
            f"FinishBy(hours=8), got {target!r}"
        )
    return target


def _set(target: Target, name: str, value: float) -> None:
    object.__setattr__(target, name, value)
