"""evaluate(): what a scenario gets with N numbers, for a few N side by side.

Planners compare options, not only minima: for each pool size, the service level with
its interval, the mean wait (ASA), the share who give up, occupancy, refusals by
reason, calls per number per hour against the cap, and the monthly cost; beside them
the M/M/c+D figures where that formula is exact. For a campaign (a contact list, no open
arrivals): the hours until it is done, from evaluate_campaign().
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..allocator.refusal import BUSY, DAILY_CAP, HOURLY_CAP, REASONS
from ..errors import PlanningError
from ..formulas.analytic import channels_per_number, expected_attempts, offered_load, pool_channels
from ..formulas.erlang import Impatient
from ..sim.parallel import Summary, executor_for, progress_bar, run_all
from ..sim.run import controlled_interval, figure_value, interval, summarize, with_numbers
from ..sim.scenario import Scenario
from .completion import campaign_completion
from .cost import cost_per_month
from .exact import formula_blind_spot
from .steady import steady_state

POOL_REASONS = (BUSY, HOURLY_CAP, DAILY_CAP)  # refusals more numbers remove
# Figures averaged over runs (with a plain interval), by the summary name they read.
MEANS = {
    "wait_mean": "wait_mean",
    "abandoned": "pool_blocked_fraction",
    "occupancy": "utilization",
}


@dataclass
class Evaluation:
    """evaluate()'s answer: one row per pool size in `table`."""

    scenario: str
    provider: str
    table: pd.DataFrame
    service_level_seconds: float
    replications: int
    confidence: float
    warmup_hours: float
    formula_blind_spot: str | None  # None: the formula_* columns are exact

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: the settings and one record per pool size."""
        return {
            "scenario": self.scenario,
            "provider": self.provider,
            "service_level_seconds": self.service_level_seconds,
            "replications": self.replications,
            "confidence": self.confidence,
            "warmup_hours": self.warmup_hours,
            "formula_blind_spot": self.formula_blind_spot,
            "rows": _records(self.table),
        }

    def plot(self, ax: Any = None, target: float | None = None) -> Any:
        """Service level against pool size, its band, the formula's where exact, and
        `target` as a line."""
        formula = "formula_service_level" in self.table
        return _plot_by_size(
            ax,
            self.table,
            "service_level",
            self.confidence,
            ("formula_service_level", "M/M/c+D (exact here)") if formula else None,
            (target, "target"),
            f"served within {self.service_level_seconds:g} s",
        )


def evaluate(
    scenario: Scenario,
    numbers: Sequence[int],
    *,
    replications: int = 10,
    confidence: float = 0.95,
    seed: int = 0,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool = True,
    prices: Mapping[str, float] | None = None,
    steady_state_runs: bool = True,
) -> Evaluation:
    """The figures of `scenario` with each of `numbers` numbers in its first group,
    `replications` runs each with the same seeds (common random numbers: differences
    between sizes are the sizes'), in steady state as size_pool() runs them. A
    campaign (no open arrivals) has no service level: evaluate_campaign() gives the
    hours until it is done."""
    sizes = _checked(scenario, numbers, replications)
    load = offered_load(scenario)
    if is_campaign(scenario):
        raise PlanningError(
            "a campaign has no service level to evaluate: evaluate_campaign(scenario, "
            "numbers) gives the hours until its contacts are done"
        )
    if steady_state_runs and load is not None:
        scenario = steady_state(scenario, load)
    blind_spot = "no open arrivals" if load is None else formula_blind_spot(scenario)
    expected = expected_attempts(scenario)
    variants = [with_numbers(scenario, n) for n in sizes]
    tasks = [(v, seed + i) for v in variants for i in range(replications)]
    with (
        executor_for(executor, workers) as runner,
        progress_bar(progress, "evaluating", total=len(tasks)) as bar,
    ):
        summaries = run_all(tasks, summarize, executor=runner, bar=bar)
    seconds = scenario.service_level_seconds
    if seconds is None:
        seconds = scenario.max_wait_seconds
    rows = {}
    for index, n in enumerate(sizes):
        runs = summaries[index * replications : (index + 1) * replications]
        row = _row(scenario, n, runs, expected, confidence, prices)
        if blind_spot is None and load is not None:
            channels = pool_channels(variants[index])
            model = Impatient(load.erlangs, channels, load.hold_seconds, scenario.max_wait_seconds)
            row["formula_service_level"] = model.served_within(seconds)
            row["formula_wait_mean"] = model.mean_wait
            row["formula_abandoned"] = model.gave_up
            row["formula_occupancy"] = load.erlangs * (1 - model.gave_up) / channels
        rows[n] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "numbers"
    return Evaluation(
        scenario=scenario.name,
        provider=scenario.numbers[0].provider,
        table=table,
        service_level_seconds=seconds,
        replications=replications,
        confidence=confidence,
        warmup_hours=scenario.warmup_hours,
        formula_blind_spot=blind_spot,
    )


@dataclass
class CampaignEvaluation:
    """evaluate()'s answer for a campaign: one row per pool size in `table`, the hours
    until the contacts are done (a campaign has no service level to speak of)."""

    scenario: str
    provider: str
    table: pd.DataFrame  # hours, hours_low, hours_high, finished, estimate_hours, ...
    replications: int
    confidence: float
    end_hours: float  # when a run stops: an unfinished one counts as lasting this long

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: the settings and one record per pool size."""
        return {
            "scenario": self.scenario,
            "provider": self.provider,
            "replications": self.replications,
            "confidence": self.confidence,
            "end_hours": self.end_hours,
            "rows": _records(self.table),
        }

    def plot(self, ax: Any = None, deadline: float | None = None) -> Any:
        """Hours until done against pool size, its band, the closed-form estimate, and
        `deadline` (hours) as a line."""
        return _plot_by_size(
            ax,
            self.table,
            "hours",
            self.confidence,
            ("estimate_hours", "closed-form estimate"),
            (deadline, "deadline"),
            "hours until every contact is done",
        )


def is_campaign(scenario: Scenario) -> bool:
    """A contact list and no open arrivals: judged by when it is done."""
    return bool(scenario.campaigns) and offered_load(scenario) is None


def evaluate_campaign(
    scenario: Scenario,
    numbers: Sequence[int],
    *,
    replications: int = 10,
    confidence: float = 0.95,
    seed: int = 0,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool = True,
    prices: Mapping[str, float] | None = None,
) -> CampaignEvaluation:
    """campaign_completion() for each of `numbers` numbers in the first group, with the
    same seeds (differences between sizes are the sizes'), and the monthly cost."""
    checked = _checked(scenario, numbers, replications)
    provider = scenario.numbers[0].provider
    rows = {}
    for n in checked:
        done = campaign_completion(
            with_numbers(scenario, n),
            replications=replications,
            seed=seed,
            confidence=confidence,
            executor=executor,
            workers=workers,
            progress=progress,
        )
        rows[n] = {
            "hours": done.hours,
            "hours_low": done.low,
            "hours_high": done.high,
            "finished": done.finished,
            "estimate_hours": done.estimate.hours,
            "binding_constraint": done.binding_constraint,
            "cost_per_month": cost_per_month(provider, n, prices),
        }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("numbers")
    end = scenario.duration_seconds / 3600.0
    return CampaignEvaluation(scenario.name, provider, table, replications, confidence, end)


def _plot_by_size(
    ax: Any,
    table: pd.DataFrame,
    figure: str,
    confidence: float,
    beside: tuple[str, str] | None,
    level: tuple[float | None, str],
    ylabel: str,
) -> Any:
    """`figure` against pool size with its band (`figure`_low/_high), the column
    `beside` names (dashed, with its label) and a `level` line, if any."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    from matplotlib.ticker import MaxNLocator

    sizes = table.index.to_numpy()
    band = f"simulated {confidence:.0%} CI"
    ax.fill_between(sizes, table[f"{figure}_low"], table[f"{figure}_high"], alpha=0.25, label=band)
    ax.plot(sizes, table[figure], "o-", label="simulated")
    if beside is not None:
        ax.plot(sizes, table[beside[0]], "--", label=beside[1])
    value, label = level
    if value is not None:
        ax.axhline(value, color="black", linestyle=":", label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("numbers in the pool")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize="small")
    return ax


def _row(
    scenario: Scenario,
    numbers: int,
    runs: list[Summary],
    expected: float | None,
    confidence: float,
    prices: Mapping[str, float] | None,
) -> dict[str, Any]:
    """One pool size's figures; the service level as size_pool() reads it (with the
    count of attempts as a control variate where its mean is known)."""
    levels = [figure_value(s, "pool_service_level") for s in runs]
    if expected is None:
        level = interval(levels, confidence, proportion=True)
    else:
        attempts = [float(s["attempts"]) for s in runs]
        level = controlled_interval(levels, attempts, expected, confidence, proportion=True)
    row: dict[str, Any] = dict(
        zip(("service_level", "service_level_low", "service_level_high"), level, strict=True)
    )
    for name, figure in MEANS.items():
        row[name] = _mean([figure_value(s, figure) for s in runs])
    counted = sum(int(s["attempts"]) for s in runs)
    for reason in REASONS:
        refused = sum(figure_value(s, f"refused_{reason}") for s in runs)
        if reason in POOL_REASONS or refused:  # a rule's column only where it refused
            row[f"refused_{reason}"] = refused / counted if counted else math.nan
    row["calls_per_number_hour"] = _mean([_per_number_hour(s, scenario) for s in runs])
    group = scenario.numbers[0]
    row["cap_per_hour"] = group.max_calls_per_hour or math.nan
    row["channels_per_number"] = channels_per_number(group)
    row["cost_per_month"] = cost_per_month(group.provider, numbers, prices)
    return row


def _per_number_hour(summary: Summary, scenario: Scenario) -> float:
    """Calls placed per number per counted hour (after the warm-up)."""
    hours = float(summary["simulated_hours"]) - scenario.warmup_hours
    numbers = int(summary["numbers"])
    if not numbers or hours <= 0:
        return math.nan
    return float(summary["served"]) / (numbers * hours)


def _mean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _checked(scenario: Scenario, numbers: Sequence[int], replications: int) -> list[int]:
    """The pool sizes to evaluate, sorted, once each; ValueError naming a bad argument."""
    sizes = list(numbers) if not isinstance(numbers, int | str) else [numbers]
    if not sizes or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes
    ):
        raise PlanningError(f"numbers must be whole numbers >= 1, got {numbers!r}")
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 2:
        raise PlanningError(f"replications must be a whole number >= 2, got {replications!r}")
    if not scenario.numbers:
        raise PlanningError("evaluate varies a number group: the scenario has none (a registry?)")
    return sorted(set(sizes))


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per pool size, in plain JSON values."""
    rows = table.reset_index().to_dict(orient="records")
    return [{str(k): _plain(v) for k, v in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    """A JSON value: NaN and None as None, numpy scalars as Python ones."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
