"""size_pool(): the fewest numbers that meet a target, from the formula where it is
exact, settled by simulation where it is not.

Where M/M/c+D is exact for the question (see exact.py), its answer stands once a
short simulation of that size and the one below agrees with the formula: no search.
Elsewhere the formulas bracket the answer: Erlang B or C in channels, converted to
numbers, and the floors no randomness can beat (the carried load, the hourly and
daily caps). The search then simulates whole pool sizes, starting from the analytic
answer, with common random numbers (every size runs the same seeds) and more
replications wherever a size's confidence interval straddles the target; what the
formulas cannot see (caps, calling hours, redials) is in the simulation.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..allocator.refusal import BUSY, REASONS, SHORTAGE_REASONS
from ..errors import PlanningError
from ..formulas.analytic import (
    OfferedLoad,
    channels_per_number,
    expected_attempts,
    offered_load,
    pool_channels,
)
from ..sim.parallel import Summary, executor_for, progress_bar, run_all
from ..sim.run import (
    controlled_interval,
    figure_value,
    interval,
    summarize,
    t_quantile,
    with_numbers,
)
from ..sim.scenario import Scenario
from ..validation import finite, whole
from .campaign import POOL_LIMITS, campaign_estimate
from .cost import cost_per_month
from .exact import formula_blind_spot
from .intervals import IntervalSizing, at_rates, busiest, has_profile, size_intervals
from .steady import steady_state as _steady
from .steady import warmup_hours as _warmup_hours
from .targets import FinishBy, Target, checked_target

# The refusal reasons more numbers remove, and the constraint each one names.
# The refusals a bigger pool removes, by the name of the limit each binds.
POOL_REASONS = {r: "concurrency" if r == BUSY else r for r in REASONS if r in SHORTAGE_REASONS}
# Confirming a formula's answer: runs per size, attempts each run counts, and the
# confidence of the intervals the formula must fall in (a few short runs of a skewed
# figure: a disagreement must be clear before it overrules an exact formula).
CONFIRM_RUNS, CONFIRM_ATTEMPTS, CONFIRM_CONFIDENCE = 4, 3000, 0.99
# Runs per size searched, to start with and at most. A campaign's runs are long and its
# completion a step function of the pool (a rolling cap's last window is taken or not):
# its probes start with 3 runs and stop at half its most, the rest confirms the answer
# and the size below it.
SEARCH_RUNS, CAMPAIGN_RUNS = (5, 50), (3, 12)
# A campaign run stops at this many times its deadline, counted as lasting that long:
# a pool far too small is known short without dialling its whole list.
CAMPAIGN_HORIZON = 3.0


@dataclass
class Sizing:
    """The answer of size_pool(), with its evidence."""

    numbers: int  # the fewest numbers of the sized group that meet the target
    target: Target
    achieved: float  # the target's figure at the answer (mean over replications)
    low: float  # its confidence interval
    high: float
    decided_by: str  # formula (M/M/c+D, confirmed), interval, tolerance or max_replications
    tolerance: float  # how close to the goal counted as meeting it
    erlang_numbers: int | None  # the analytic answer (None where the formulas say nothing)
    estimate_numbers: int | None  # with callers who give up (M/M/c+D): where the search began
    floors: dict[str, int]  # numbers below which no run can meet the target, by cause
    binding_constraint: str  # concurrency, hourly_cap, daily_cap, ...
    table: pd.DataFrame  # one row per size tried
    attempts_simulated: int
    wall_seconds: float
    provider: str
    cost_per_month: float | None  # None: no price known for the provider
    erlang_curve: pd.Series = field(repr=False)  # Erlang B / C's figure by pool size
    answer_summaries: list[Summary] = field(repr=False, default_factory=list)
    found_by: str = "simulation"  # formula: M/M/c+D is exact here; simulation: a search
    confidence: float = 0.95  # of the intervals low-high (higher when confirming a formula)
    formula_blind_spot: str | None = None  # why the formula is not exact (None: it is)
    warmup_hours: float = 0.0  # left out of each run's figures (steady state)
    tolerance_basis: str = ""  # where `tolerance` comes from, in words
    sized_for: str = "the whole run"  # or a profile's busiest interval
    day_average_numbers: int | None = None  # a profile's answer over the whole run
    intervals: IntervalSizing | None = field(repr=False, default=None)  # per interval
    campaign: dict[str, Any] | None = None  # a deadline's closed form and dialler settings
    estimate_curve: pd.Series | None = field(repr=False, default=None)  # M/M/c+D's

    @property
    def settled(self) -> bool:
        """Whether the answer's interval cleared the target or fits its tolerance."""
        return self.decided_by != "max_replications"

    @property
    def sizes_tried(self) -> list[int]:
        return [int(n) for n in self.table.index]

    @property
    def service_level(self) -> tuple[float, float, float]:
        """(mean, low, high) of the pool's service level at the answer: the headline
        `achieved` figure when that is the target's (with its control variate), one
        figure in Python, text and JSON."""
        if self.target.figure == "pool_service_level":
            return self.achieved, self.low, self.high
        return self.at_answer("pool_service_level", self.confidence)

    def at_answer(self, figure: str, confidence: float = 0.95) -> tuple[float, float, float]:
        """(mean, low, high) of any summary figure at the answer."""
        values = [figure_value(s, figure) for s in self.answer_summaries]
        return interval(values, confidence, proportion=figure.endswith(("_level", "_fraction")))

    def to_dict(self) -> dict[str, Any]:
        """The answer and its evidence as plain JSON values."""
        level, level_low, level_high = self.service_level
        if self.campaign is not None:  # a campaign's service level means nothing
            level = level_low = level_high = math.nan
        return {
            "numbers": self.numbers,
            "provider": self.provider,
            "target": self.target.describe(),
            "figure": self.target.figure,
            "achieved": self.achieved,
            "achieved_low": self.low,
            "achieved_high": self.high,
            "decided_by": self.decided_by,
            "confidence": self.confidence,
            "found_by": self.found_by,
            "formula_blind_spot": self.formula_blind_spot,
            "tolerance": self.tolerance,
            "tolerance_basis": self.tolerance_basis,
            "warmup_hours": self.warmup_hours,
            "sized_for": self.sized_for,
            "day_average_numbers": self.day_average_numbers,
            "campaign": self.campaign,
            "intervals": None if self.intervals is None else self.intervals.records(),
            "service_level": level,
            "service_level_low": level_low,
            "service_level_high": level_high,
            "erlang_numbers": self.erlang_numbers,
            "estimate_numbers": self.estimate_numbers,
            "floors": self.floors,
            "binding_constraint": self.binding_constraint,
            "sizes_tried": self.sizes_tried,
            "attempts_simulated": self.attempts_simulated,
            "wall_seconds": self.wall_seconds,
            "cost_per_month": self.cost_per_month,
        }

    def plot(self, ax: Any = None) -> Any:
        """The target's figure against pool size: simulated with its band, the target
        line, the M/M/c+D curve the search starts from, and Erlang's (callers who never
        give up: an overloaded pool's Erlang C reads 0, which is not a service level)."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        table = self.table
        sizes = table.index.to_numpy()
        ax.fill_between(sizes, table["low"], table["high"], alpha=0.25, label="simulated 95% CI")
        ax.plot(sizes, table["mean"], "o-", label="simulated")
        from matplotlib.ticker import MaxNLocator

        curves = (
            (self.estimate_curve, "-.", "M/M/c+D (callers give up)"),
            (self.erlang_curve, "--", "Erlang (never give up; 0 when overloaded)"),
        )
        for curve, style, label in curves:
            if curve is not None and curve.notna().any():
                ax.plot(curve.index, curve, style, label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axhline(self.target.goal, color="black", linestyle=":", label="target")
        ax.axvline(self.numbers, color="tab:green", alpha=0.5, label=f"answer: {self.numbers}")
        ax.set_xlabel("numbers in the pool")
        ax.set_ylabel(self.target.figure)
        ax.legend(loc="best", fontsize="small")
        return ax

    def _repr_html_(self) -> str:
        cost = "" if self.cost_per_month is None else f", ${self.cost_per_month:,.2f} a month"
        return (
            f"<b>{self.numbers} {self.provider} numbers</b>{cost}: {self.target.describe()}; "
            f"achieved {self.achieved:.4g} [{self.low:.4g}, {self.high:.4g}], "
            f"Erlang {self.erlang_numbers}, binding: {self.binding_constraint}"
            + str(self.table.to_html(float_format=lambda v: f"{v:.4g}"))
        )


def size_pool(
    scenario: Scenario,
    *,
    target: Target,
    replications: int | None = None,
    max_replications: int | None = None,
    confidence: float = 0.95,
    tolerance: float | None = None,
    seed: int = 0,
    max_numbers: int = 10_000,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool = True,
    prices: Mapping[str, float] | None = None,
    formula_first: bool = True,
    steady_state: bool = True,
    interval_minutes: int | None = 60,
) -> Sizing:
    """The fewest numbers in `scenario`'s first number group that meet `target`.

    With a rate profile and `interval_minutes` (60, 30 or 15), in every interval: the
    busiest interval's rate held steady is sized (a pool entering its peak from a
    lighter load does no worse), the day's average answer beside it
    (`day_average_numbers`) and each interval's formula answer in `intervals`;
    `interval_minutes` None sizes the whole run's average only.

    `replications` runs per size to start with (default 5; 3 for a deadline), more (up
    to `max_replications`, default 50; 12 for a deadline, whose probes stop at half of
    it and the answer and the size below it are confirmed with up to all of it) while
    the interval straddles the target, until its half-width is at most `tolerance`
    (default: Target.tolerance(), a tenth of the failures the target allows): a size
    that close is as good as on target, and then its mean decides. With
    `steady_state`, runs of open arrivals at a constant rate and no warm-up of their own
    start earlier by a warm-up of six holding times and three patiences, left out of
    the figures: a pool that starts empty flatters long holds. Runs go to `executor` (any
    concurrent.futures.Executor) or a pool of `workers` processes (default one per
    core; 1: this process); the same seed gives the same answer whatever runs it.

    Where M/M/c+D is exact (`formula_blind_spot` is None), the formula's answer is
    simulated only to confirm it (that size and the one below, in short runs); if the
    runs disagree with the formula, the search runs as elsewhere (`formula_first`
    False: always the search)."""
    options = dict(
        target=checked_target(target),
        replications=replications,
        max_replications=max_replications,
        confidence=confidence,
        tolerance=tolerance,
        seed=seed,
        max_numbers=max_numbers,
        executor=executor,
        workers=workers,
        progress=progress,
        prices=prices,
        formula_first=formula_first,
        steady_state=steady_state,
    )
    if interval_minutes is None or not has_profile(scenario) or isinstance(target, FinishBy):
        return _size_pool(scenario, **options)  # type: ignore[arg-type]
    intervals = size_intervals(scenario, target, minutes=interval_minutes, max_numbers=max_numbers)
    start, rates = busiest(scenario, interval_minutes)
    peak = _size_pool(at_rates(scenario, rates), **options)  # type: ignore[arg-type]
    day = _size_pool(scenario, **options)  # type: ignore[arg-type]
    return dataclasses.replace(
        peak,
        intervals=intervals,
        sized_for=f"the busiest {interval_minutes} minutes, {intervals.label(start)} "
        f"at {sum(rates):g} calls an hour held steady",
        day_average_numbers=day.numbers,
        attempts_simulated=peak.attempts_simulated + day.attempts_simulated,
    )


def _size_pool(
    scenario: Scenario,
    *,
    target: Target,
    replications: int | None,
    max_replications: int | None,
    confidence: float,
    tolerance: float | None,
    seed: int,
    max_numbers: int,
    executor: Executor | None,
    workers: int | None,
    progress: bool,
    prices: Mapping[str, float] | None,
    formula_first: bool,
    steady_state: bool,
) -> Sizing:
    """size_pool() over the whole run: its figure as one average."""
    deadline = isinstance(target, FinishBy)
    first, most = CAMPAIGN_RUNS if deadline else SEARCH_RUNS
    replications = whole("replications", replications or first, minimum=2, error=PlanningError)
    max_replications = whole(
        "max_replications", max_replications or most, minimum=replications, error=PlanningError
    )
    max_numbers = whole("max_numbers", max_numbers, minimum=1, error=PlanningError)
    if tolerance is not None:
        tolerance = finite("tolerance", tolerance, error=PlanningError)
    if not scenario.numbers:
        raise PlanningError("size_pool sizes a number group: the scenario has none (a registry?)")
    started = time.perf_counter()
    scenario = target.prepare(scenario)
    load = offered_load(scenario)
    if isinstance(target, FinishBy):
        scenario = _within_horizon(scenario, target)
        _check_campaign_feasible(scenario, target, max_numbers)
    elif load is None:
        if scenario.campaigns:
            raise PlanningError(
                f"{target.describe()}: the scenario's load is campaigns, sized against a "
                "deadline: FinishBy(hours) (numsim size --finish-by HOURS)"
            )
        raise PlanningError(f"{target.describe()}: the scenario needs open arrivals to size for")
    else:
        if not math.isfinite(load.erlangs):
            raise PlanningError(
                f"the load is {load.calls_per_hour:g} calls an hour held {load.hold_seconds:g} s "
                "each: too large to size (is a mean duration too large?)"
            )
        _check_pacing(scenario, load)
        if steady_state:
            scenario = _steady(scenario, load)
    floors = _floors(scenario, target, load, max_numbers)
    floor = max(floors.values(), default=1)
    proven = floor if deadline else _proven(floors, scenario)
    if proven > max_numbers:
        name = max(floors, key=lambda key: floors[key])
        raise PlanningError(
            f"binding constraint {name}: at least {floors[name]:,} numbers are needed, over "
            f"max_numbers = {max_numbers:,}"
        )
    erlang_numbers = _analytic_numbers(scenario, target, load, floor, max_numbers)
    guess = _analytic_numbers(scenario, target, load, floor, max_numbers, estimate=True)
    blind_spot = "a campaign deadline" if load is None else formula_blind_spot(scenario)
    tolerance_given, tolerance = tolerance, target.tolerance() if tolerance is None else tolerance
    with (
        executor_for(executor, workers) as runner,
        progress_bar(progress, f"sizing: {target.describe()}") as bar,
    ):

        def search_of(
            variant: Scenario, first: int, most: int, controlled: bool, level: float, slack: float
        ) -> _Search:
            return _Search(
                variant,
                target,
                lambda tasks: run_all(tasks, summarize, executor=runner, bar=bar),
                seed=seed,
                replications=first,
                max_replications=most,
                confidence=level,
                tolerance=slack,
                controlled=controlled,
            )

        found_by, answer, simulated = "simulation", None, 0
        if formula_first and blind_spot is None and guess is not None and load is not None:
            short = _confirming(scenario, load)
            search = search_of(
                short,
                CONFIRM_RUNS,
                CONFIRM_RUNS,
                False,
                max(confidence, CONFIRM_CONFIDENCE),
                max(tolerance, _confirm_slack(target)),
            )
            if _confirmed(search, guess, load):
                found_by, answer = "formula", guess
            simulated = search.attempts
        if answer is None:
            probes = max(replications, max_replications // 2) if deadline else max_replications
            search = search_of(scenario, replications, probes, True, confidence, tolerance)
            search.attempts += simulated
            if deadline:
                answer = _settled_fewest(search, proven, guess, max_numbers, max_replications)
            else:
                answer = search.fewest(proven, guess, max_numbers)
    point = search.points[answer]
    mean, low, high = search.estimate(answer)
    group = scenario.numbers[0]
    return Sizing(
        numbers=answer,
        target=target,
        achieved=mean,
        low=low,
        high=high,
        decided_by="formula" if found_by == "formula" else point.decided_by or "max_replications",
        tolerance=tolerance,
        erlang_numbers=erlang_numbers,
        estimate_numbers=guess,
        floors=floors,
        binding_constraint=_binding(search, answer, scenario, target, floors, erlang_numbers),
        table=search.table(scenario, target, load, prices),
        attempts_simulated=search.attempts,
        wall_seconds=time.perf_counter() - started,
        provider=group.provider,
        cost_per_month=cost_per_month(group.provider, answer, prices),
        erlang_curve=_erlang_curve(scenario, target, load, search.points),
        estimate_curve=_erlang_curve(scenario, target, load, search.points, target.estimate),
        answer_summaries=point.summaries,
        found_by=found_by,
        confidence=search.confidence,
        formula_blind_spot=blind_spot,
        warmup_hours=scenario.warmup_hours,
        campaign=_campaign_evidence(scenario, answer) if isinstance(target, FinishBy) else None,
        tolerance_basis=target.tolerance_basis() if tolerance_given is None else "given",
    )


def _confirming(scenario: Scenario, load: OfferedLoad) -> Scenario:
    """`scenario` in short runs: a warm-up (a pool starts empty), then about
    CONFIRM_ATTEMPTS attempts counted, over three holding times at least (the whole
    scenario if that is shorter)."""
    warmup = max(_warmup_hours(scenario, load), scenario.warmup_hours)
    hours = warmup + max(CONFIRM_ATTEMPTS / load.calls_per_hour, 3 * load.hold_seconds / 3600.0)
    if scenario.hours is not None and hours >= scenario.hours:
        return scenario
    return scenario.replace(hours=hours, warmup_hours=warmup)


def _within_horizon(scenario: Scenario, target: FinishBy) -> Scenario:
    """`scenario`'s runs stopped at CAMPAIGN_HORIZON times the deadline (sooner if the
    scenario says so)."""
    horizon = CAMPAIGN_HORIZON * target.hours
    if scenario.hours is not None and scenario.hours <= horizon:
        return scenario
    return scenario.replace(hours=horizon)


def _campaign_evidence(scenario: Scenario, answer: int) -> dict[str, Any]:
    """The closed form at the answer (its estimate's hours, the limit that dominates,
    each limit's attempts an hour; the floor's hours, by limit) and the dialler
    settings that move a campaign's completion."""
    estimate = campaign_estimate(scenario, answer)
    return {
        "estimate_hours": estimate.hours,
        "floor_hours": estimate.floor_hours,
        "floors_hours": estimate.floors(),
        "binding_constraint": estimate.binding_constraint,
        "limits": dict(estimate.limits),
        "redial_hours": estimate.redial_hours,
        "open_share": estimate.open_share,
        "attempts": estimate.attempts,
        "dialler": [
            {
                "contacts": c.contacts,
                "max_attempts": c.max_attempts,
                "redial_gap_seconds": c.redial_gap_seconds,
                "max_in_flight": c.max_in_flight,
                "calls_per_hour": c.calls_per_hour,
                "max_wait_seconds": c.max_wait_seconds,
                "retry_blocked_seconds": c.retry_blocked_seconds,
            }
            for c in scenario.campaigns
        ],
    }


def _settled_fewest(search: _Search, floor: int, guess: int | None, most: int, runs: int) -> int:
    """A campaign's fewest numbers, bracketed by the closed form (from its estimate,
    `guess`, never below its floor); the answer and the size below it confirmed with
    twice the runs (up to `runs`), and searched again if one turns (a completion time
    is not monotone in the pool size: one lucky size must not mislead the bisection)."""
    confirmed: set[int] = set()
    while True:
        answer = search.fewest(floor, guess, most, halving=True)
        sizes = [n for n in (answer - 1, answer) if n >= floor and n not in confirmed]
        if not sizes:
            return answer
        turned = False
        for numbers in sizes:
            confirmed.add(numbers)
            turned |= search.confirm(numbers, runs)
        if not turned:
            return answer


def _confirm_slack(target: Target) -> float:
    """How far short runs may stray from an exact formula before they overrule it: half
    a percentage point of a share (a few thousand attempts at 99.9% often see no
    failure at all), 2% of a time."""
    return 0.005 if target.figure.endswith(("_level", "_fraction")) else 0.02 * target.goal


def _confirmed(search: _Search, answer: int, load: OfferedLoad) -> bool:
    """Whether runs of the formula's answer and of the size below agree with the
    formula: its figure within each size's interval, widened by the tolerance."""
    target, scenario = search.target, search.scenario
    for numbers in (answer, answer - 1) if answer > 1 else (answer,):
        search.met(numbers)
        mean, low, high = search._bounds(numbers)
        expected = _erlang_at(scenario, target, load, numbers, target.estimate)
        search.points[numbers].met = target.met(expected)  # the formula decides
        if math.isnan(mean):  # no run made an attempt: nothing disagrees
            continue
        if not low - search.tolerance <= expected <= high + search.tolerance:
            return False
    return True


@dataclass
class _Point:
    summaries: list[Summary] = field(default_factory=list)
    met: bool = False
    decided_by: str | None = None  # interval, tolerance or max_replications


class _Search:
    """Simulated pool sizes, remembered; a size is met or not once its interval clears
    the target (or, at max replications, by its mean)."""

    def __init__(
        self,
        scenario: Scenario,
        target: Target,
        run: Callable[[list[tuple[Scenario, int]]], list[Summary]],
        *,
        seed: int,
        replications: int,
        max_replications: int,
        confidence: float,
        tolerance: float,
        controlled: bool = True,
    ) -> None:
        """`controlled`: with the count of attempts as a control variate where its mean
        is known (not from a few runs: its coefficient would be unreliable)."""
        self.scenario = scenario
        self.tolerance = tolerance
        self.target = target
        self.run = run
        self.seed = seed
        self.first = replications
        self.most = max_replications
        self.confidence = confidence
        self.points: dict[int, _Point] = {}
        self.attempts = 0
        # A campaign that never finished counts as lasting the whole horizon.
        self._unfinished = scenario.duration_seconds / 3600.0
        self._expected_attempts = expected_attempts(scenario) if controlled else None

    def values(self, numbers: int) -> list[float]:
        values = [figure_value(s, self.target.figure) for s in self.points[numbers].summaries]
        if not isinstance(self.target, FinishBy):
            return values  # a run with no attempts has no figure: left out
        return [self._unfinished if math.isnan(v) else v for v in values]

    def estimate(self, numbers: int) -> tuple[float, float, float]:
        """(mean, low, high) of the target's figure; with the count of attempts as a
        control variate when its mean is known (open arrivals at constant rates)."""
        proportion = self.target.figure.endswith(("_level", "_fraction"))
        values = self.values(numbers)
        if self._expected_attempts is None:
            return interval(values, self.confidence, proportion=proportion)
        attempts = [float(s["attempts"]) for s in self.points[numbers].summaries]
        return controlled_interval(
            values, attempts, self._expected_attempts, self.confidence, proportion=proportion
        )

    def met(self, numbers: int) -> bool:
        """Whether `numbers` meets the target, simulating until that is decided."""
        point = self.points.setdefault(numbers, _Point())
        while point.decided_by is None:
            have = len(point.summaries)
            if have >= self.most:
                point.decided_by = "max_replications"
                break
            want = self.first if have == 0 else self._needed(numbers, have)
            variant = with_numbers(self.scenario, numbers)
            tasks = [(variant, self.seed + index) for index in range(have, want)]
            new = self.run(tasks)
            point.summaries.extend(new)
            self.attempts += sum(int(s["attempts"]) for s in new)
            point.decided_by = self._decided(numbers)
        mean, _, _ = self.estimate(numbers)
        point.met = self.target.met(mean)
        return point.met

    def confirm(self, numbers: int, most: int) -> bool:
        """`numbers` decided again with twice its runs (at most `most`): whether the
        decision turned."""
        point = self.points[numbers]
        have = len(point.summaries)
        want = min(2 * have, most)
        if want > have:
            variant = with_numbers(self.scenario, numbers)
            new = self.run([(variant, self.seed + index) for index in range(have, want)])
            point.summaries.extend(new)
            self.attempts += sum(int(s["attempts"]) for s in new)
        was = point.met
        point.decided_by = self._decided(numbers) or "max_replications"
        mean, _, _ = self.estimate(numbers)
        point.met = self.target.met(mean)
        return point.met != was

    def _bounds(self, numbers: int) -> tuple[float, float, float]:
        mean, low, high = self.estimate(numbers)
        if math.isnan(low):  # identical runs: the mean is the figure
            low = high = mean
        return mean, low, high

    def _decided(self, numbers: int) -> str | None:
        """`interval` when the interval clears the target, `tolerance` when it straddles
        it but is no wider than the tolerance either side (as good as on target)."""
        _, low, high = self._bounds(numbers)
        target = self.target
        worst, best = (low, high) if target.higher_is_better else (high, low)
        if target.met(worst) or not target.met(best):
            return "interval"
        if (high - low) / 2 <= self.tolerance:
            return "tolerance"
        return None

    def _needed(self, numbers: int, have: int) -> int:
        """Replications for the interval to clear the target or fit the tolerance, from
        the spread so far: a half-width is t(runs) s / sqrt(runs), and both the t
        quantile and the root change with the runs; at most 4x as many."""
        mean, low, high = self._bounds(numbers)
        margin = max(abs(mean - self.target.goal), self.tolerance)
        half = (high - low) / 2
        most = min(4 * have, self.most)
        wanted = have + 2
        while wanted < most and half * self._width(wanted) > margin * self._width(have):
            wanted += 1
        return min(wanted, most)

    def _width(self, runs: int) -> float:
        """A half-width's factor for `runs` runs, per unit of spread (estimate()'s
        interval: with the control variate, one degree of freedom fewer)."""
        controlled = self._expected_attempts is not None and runs >= 4
        df = runs - 2 if controlled else runs - 1
        inflation = math.sqrt((runs - 1) / (runs - 2)) if controlled else 1.0
        return t_quantile(self.confidence, df) * inflation / math.sqrt(runs)

    def fewest(self, floor: int, guess: int | None, most: int, *, halving: bool = False) -> int:
        """The fewest numbers met: gallop from the guess, then bisect. `halving`: below
        a guess met, and the size under it met too, halve the way down to the floor
        rather than gallop (a campaign's estimate may sit far above its answer)."""
        known_unmet = floor - 1  # below a floor no run meets the target
        start = min(max(guess or floor, floor), most)
        if self.met(start):
            met, step = start, 1
            while met - step > known_unmet:
                if not self.met(met - step):
                    known_unmet = met - step
                    break
                met = met - step
                step = max((met - known_unmet) // 2, 1) if halving else step * 2
        else:
            known_unmet, step = start, 1
            while True:
                if known_unmet >= most:
                    raise PlanningError(
                        f"no pool of up to {most} numbers meets the target "
                        f"({self.target.describe()})"
                    )
                candidate = min(known_unmet + step, most)
                if self.met(candidate):
                    met = candidate
                    break
                known_unmet, step = candidate, step * 2
        while met - known_unmet > 1:
            middle = (met + known_unmet) // 2
            if self.met(middle):
                met = middle
            else:
                known_unmet = middle
        return met

    def table(
        self,
        scenario: Scenario,
        target: Target,
        load: OfferedLoad | None,
        prices: Mapping[str, float] | None,
    ) -> pd.DataFrame:
        rows = {}
        for numbers in sorted(self.points):
            point = self.points[numbers]
            mean, low, high = self.estimate(numbers)
            summaries = point.summaries
            row: dict[str, Any] = {
                "mean": mean,
                "low": low,
                "high": high,
                "met": point.met,
                "decided_by": point.decided_by,
                "replications": len(summaries),
                "erlang": _erlang_at(scenario, target, load, numbers),
                "estimate": _erlang_at(scenario, target, load, numbers, target.estimate),
                "attempts": sum(int(s["attempts"]) for s in summaries) / len(summaries),
            }
            for reason in POOL_REASONS:
                row[f"refused_{reason}"] = _mean_refusals(summaries, reason)
            row["refused_by_rules"] = sum(s["refused_by_rules"] for s in summaries) / len(summaries)
            row["cost_per_month"] = cost_per_month(scenario.numbers[0].provider, numbers, prices)
            rows[numbers] = row
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "numbers"
        frame.attrs["figure"] = target.figure
        return frame


def _proven(floors: dict[str, int], scenario: Scenario) -> int:
    """The floors the search may skip below: only for a constant rate (a profile's busiest
    hour bounds nothing about a whole run's share), and a cap's floor only when the run
    lasts its whole window (fewer calls arrive in a shorter run)."""
    if expected_attempts(scenario) is None:
        return 1
    hours = scenario.duration_seconds / 3600.0
    windows = {"carried_load": 0.0, "hourly_cap": 1.0, "daily_cap": 24.0}
    return max((f for name, f in floors.items() if hours >= windows[name]), default=1)


def _floors(
    scenario: Scenario, target: Target, load: OfferedLoad | None, most: int
) -> dict[str, int]:
    """Numbers of the sized group below which the target cannot be met on average."""
    floors: dict[str, int] = {}
    if isinstance(target, FinishBy):
        return _campaign_floors(scenario, target, most)
    if load is None:
        return floors
    group = scenario.numbers[0]
    share = target.served_share()
    others = scenario.numbers[1:]
    other_channels = pool_channels(scenario) - channels_per_number(group) * group.count
    floors["carried_load"] = _at_least(
        load.erlangs * share - other_channels, channels_per_number(group)
    )
    if group.max_calls_per_hour:
        other = _capacity(others, "max_calls_per_hour")
        floors["hourly_cap"] = _at_least(
            load.calls_per_hour * share - other, group.max_calls_per_hour
        )
    if group.max_calls_per_day:
        other = _capacity(others, "max_calls_per_day")
        floors["daily_cap"] = _at_least(load.calls_per_day * share - other, group.max_calls_per_day)
    return floors


def _analytic_numbers(
    scenario: Scenario,
    target: Target,
    load: OfferedLoad | None,
    floor: int,
    most: int,
    *,
    estimate: bool = False,
) -> int | None:
    """The formulas' answer: the fewest numbers whose Erlang figure meets the target
    (`estimate`: with callers who give up, M/M/c+D; for a deadline, the closed-form
    campaign time); None where they say nothing."""
    if not isinstance(target, FinishBy) and load is None:
        return None
    figure = target.estimate if estimate else target.erlang

    def met(numbers: int) -> bool:
        if isinstance(target, FinishBy):
            return campaign_estimate(scenario, numbers).hours <= target.hours
        return target.met(_erlang_at(scenario, target, load, numbers, figure))

    low, high = 0, max(floor, 1)
    while not met(high):
        if high >= most:
            return None
        low, high = high, min(high * 2, most)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if met(middle) else (middle, high)
    return high


def _erlang_at(
    scenario: Scenario,
    target: Target,
    load: OfferedLoad | None,
    numbers: int,
    figure: Callable[[OfferedLoad, int, Scenario], float] | None = None,
) -> float:
    """The target's analytic figure with `numbers` numbers in the sized group."""
    if load is None:
        return math.nan
    group = scenario.numbers[0]
    channels = pool_channels(scenario) + channels_per_number(group) * (numbers - group.count)
    return (figure or target.erlang)(load, channels, scenario)


def _erlang_curve(
    scenario: Scenario,
    target: Target,
    load: OfferedLoad | None,
    points: Mapping[int, Any],
    figure: Callable[[OfferedLoad, int, Scenario], float] | None = None,
) -> pd.Series:
    """A formula's figure over the sizes tried and five either side (a curve, not two
    points)."""
    sizes = range(max(min(points) - 5, 1), max(points) + 6)
    curve = [_erlang_at(scenario, target, load, n, figure) for n in sizes]
    return pd.Series(curve, index=pd.Index(sizes, name="numbers"), dtype=float)


def _binding(
    search: _Search,
    answer: int,
    scenario: Scenario,
    target: Target,
    floors: dict[str, int],
    erlang_numbers: int | None,
) -> str:
    """What one number fewer runs out of: the pool refusal that grows most from the
    answer to one size below it; else the formulas' reason."""
    below = search.points.get(answer - 1)
    if below is not None and below.summaries:
        at = search.points[answer].summaries
        growth = {
            name: _mean_refusals(below.summaries, reason) - _mean_refusals(at, reason)
            for reason, name in POOL_REASONS.items()
        }
        name = max(growth, key=lambda key: growth[key])
        if growth[name] > 0:
            return name
    if isinstance(target, FinishBy):
        estimate = campaign_estimate(scenario, max(answer - 1, 1))
        pool_limits = {k: v for k, v in estimate.limits.items() if k in POOL_LIMITS}
        return min(pool_limits, key=lambda key: pool_limits[key])
    named = {
        "concurrency": max(floors.get("carried_load", 1), erlang_numbers or 1),
        "hourly_cap": floors.get("hourly_cap", 0),
        "daily_cap": floors.get("daily_cap", 0),
    }
    return max(named, key=lambda key: named[key])


def _check_pacing(scenario: Scenario, load: OfferedLoad) -> None:
    """Account pacing queues the excess: below the load, the queue never drains."""
    if not scenario.calls_per_second:
        return
    per_hour = sum(scenario.calls_per_second.values()) * 3600.0
    if per_hour < load.calls_per_hour:
        raise PlanningError(
            f"binding constraint account_pacing: the accounts place {per_hour:g} calls an hour "
            f"at most, the load offers {load.calls_per_hour:g}; no pool size helps"
        )


def _campaign_floors(scenario: Scenario, target: FinishBy, most: int) -> dict[str, int]:
    """Per limit more numbers lift, the fewest numbers whose floor (CampaignEstimate.
    floors) meets the deadline (most + 1: none up to `most` does)."""
    floors = {}
    for name in POOL_LIMITS:
        if name not in campaign_estimate(scenario, most).limits:
            continue

        def meets(numbers: int, name: str = name) -> bool:
            return campaign_estimate(scenario, numbers).floors()[name] <= target.hours

        floors[name] = _fewest(meets, most)
    return floors


def _fewest(meets: Callable[[int], bool], most: int) -> int:
    """The fewest numbers from 1 to `most` that `meets` (monotone), else most + 1."""
    if not meets(most):
        return most + 1
    low, high = 0, most
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if meets(middle) else (middle, high)
    return high


def _check_campaign_feasible(scenario: Scenario, target: FinishBy, most: int) -> None:
    """A limit more numbers do not lift whose floor misses the deadline: no pool helps."""
    estimate = campaign_estimate(scenario, most)
    floors = {k: v for k, v in estimate.floors().items() if k not in POOL_LIMITS}
    name = max(floors, key=lambda key: floors[key])
    if floors[name] > target.hours:
        raise PlanningError(
            f"binding constraint {name}: even {most} numbers need at least "
            f"{floors[name]:.1f} h, more than the {target.hours:g} h deadline"
        )


def _mean_refusals(summaries: list[Summary], reason: str) -> float:
    total: float = sum(s["refusals"].get(reason, 0) for s in summaries)
    return total / max(len(summaries), 1)


def _capacity(groups: Any, cap: str) -> float:
    """What other groups can place within the cap's window (unbounded if one is uncapped)."""
    if not groups:
        return 0.0
    if not all(getattr(g, cap) for g in groups):
        return math.inf
    return float(sum(g.count * getattr(g, cap) for g in groups))


def _at_least(need: float, per_number: float) -> int:
    return max(1, math.ceil(need / per_number - 1e-9)) if need > 0 else 1
