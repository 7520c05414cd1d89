"""simulate() runs a scenario once; replicate() runs it many times (in parallel) and
gives its figures with confidence intervals; sweep() does that for each of a list of
changes ("how many numbers?")."""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import pandas as pd
import simpy
from tqdm.auto import tqdm

from ..allocator.refusal import REASONS
from ..formulas.analytic import erlang_figures
from ..validation import whole
from .engine import Engine
from .load import CampaignDialer, LogReplay, OpenArrivals
from .parallel import Summary, executor_for, progress_bar, run_all
from .result import SimulationResult
from .scenario import Scenario, ScenarioError

Progress = Callable[[float], object]  # called with the share of simulated time done


def simulate(
    scenario: Scenario, *, seed: int | None = None, progress: Progress | bool | None = None
) -> SimulationResult:
    """Run `scenario` once. `progress`: True for a progress bar, or a callable given
    the share of simulated time done."""
    if progress is True:
        with tqdm(total=100, desc=scenario.name, unit="%", disable=None) as bar:
            return _run(scenario, seed, lambda share: bar.update(round(share * 100) - bar.n))
    return _run(scenario, seed, progress or None)


def summarize(scenario: Scenario, seed: int) -> Summary:
    """One run's summary figures: what a worker process sends back (refusals are not
    itemized by number: no summary figure reads them)."""
    return _run(scenario, seed, None, itemize=False).summary()


def replicate(
    scenario: Scenario,
    replications: int,
    *,
    seed: int | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> Replications:
    """`replications` independent runs (seeds seed, seed+1, ...), in worker processes:
    `executor` (any concurrent.futures.Executor, e.g. a dask Client.get_executor()) or
    a pool of `workers` processes (default one per core; 1: in this process). The
    same seed gives the same figures whatever runs them."""
    replications = whole("replications", replications, minimum=2)
    total = replications * scenario.expected_attempts
    if total > scenario.max_attempts * 10:  # every run was checked alone; bound them all
        raise ScenarioError(
            f"{replications:,} replications would make up to {total:,.0f} attempts in all, "
            f"over 10 x max_attempts = {scenario.max_attempts * 10:,}: fewer replications, "
            "or raise max_attempts if the machine can take it"
        )
    base = random.randrange(2**31) if seed is None else seed
    seeds = [base + index for index in range(replications)]
    tasks = [(scenario, s) for s in seeds]
    with (
        executor_for(executor, workers) as runner,
        progress_bar(progress, scenario.name, len(tasks)) as bar,
    ):
        summaries = run_all(tasks, summarize, executor=runner, bar=bar)
    return Replications(scenario, seeds, summaries)


def _run(
    scenario: Scenario, seed: int | None, progress: Progress | None, *, itemize: bool = True
) -> SimulationResult:
    started = time.perf_counter()
    engine = Engine(scenario, seed, itemize=itemize)
    env = engine.env
    horizon = scenario.duration_seconds
    all_done = env.event()
    unfinished = [len(scenario.campaigns) + len(scenario.replays)]

    def finished() -> None:  # a campaign dialled its last contact, a replay its last call
        unfinished[0] -= 1
        if unfinished[0] == 0:
            all_done.succeed()

    dialers = [CampaignDialer(engine, spec, finished) for spec in scenario.campaigns]
    sources: list[Any] = [OpenArrivals(engine, spec, horizon) for spec in scenario.arrivals]
    sources += dialers
    sources += [LogReplay(engine, spec, finished) for spec in scenario.replays]
    if progress is None and alone(scenario):
        sources[0].run_alone()
        env._now = horizon  # where env.run(until=horizon) leaves the clock
    else:
        for source in sources:
            source.start()
        if scenario.hours is None:  # until the finite loads end
            _advance(env, env.any_of([all_done, env.timeout(horizon)]), horizon, progress)
            horizon = env.now
        else:
            _advance(env, horizon, horizon, progress)
    campaigns = [
        {
            "template": dialer.spec.template,
            "contacts": dialer.remaining + dialer.answered + dialer.exhausted,
            "answered": dialer.answered,
            "exhausted": dialer.exhausted,
            "remaining": dialer.remaining,
            "completed_hours": None
            if dialer.completed_at is None
            else dialer.completed_at / 3600.0,
        }
        for dialer in dialers
    ]
    wall = time.perf_counter() - started
    return SimulationResult(scenario, seed, engine.trace(), horizon, campaigns, wall)


def alone(scenario: Scenario) -> bool:
    """Whether a run's only events are one stream's arrivals: one constant-rate stream,
    no waiting (the allocator's wake-ups are SimPy events), no inbound callbacks, no
    pacing, no campaigns or replays. Calls end by their leases' TTL inside the
    allocator, so SimPy's queue would only ever hold the next arrival."""
    if scenario.campaigns or scenario.replays or len(scenario.arrivals) != 1:
        return False
    if scenario.arrivals[0].calls_per_hour is None or scenario.hours is None:
        return False
    call = scenario.call
    return (
        scenario.max_wait_seconds == 0
        and call.callback_probability == 0
        and not scenario.calls_per_second
    )


def _advance(env: simpy.Environment, until: Any, horizon: float, progress: Progress | None) -> None:
    """Run to `until` (a time or an event), reporting progress in 1% steps if asked."""
    if progress is None:
        env.run(until=until)
        return
    for step in range(1, 101):
        if isinstance(until, simpy.Event):
            if until.triggered:
                break
            pause = env.timeout(max(horizon * step / 100 - env.now, 0.0))
            env.run(until=env.any_of([until, pause]))
        else:
            env.run(until=until * step / 100)
        progress(step / 100)
    progress(1.0)


class Replications:
    """Independent runs of one scenario, kept as their summaries: figures with
    confidence intervals, refusals by reason, and the Erlang figure beside them."""

    FIGURES = (
        "attempts",
        "served",
        "blocked_fraction",
        "pool_blocked_fraction",
        "service_level",
        "pool_service_level",
        "wait_probability",
        "wait_mean",
        "wait_p50",
        "wait_p95",
        "wait_p99",
        "pacing_wait_p95",
        "utilization",
        "refused_by_rules",
    )

    def __init__(self, scenario: Scenario, seeds: list[int], summaries: list[Summary]) -> None:
        self.scenario = scenario
        self.seeds = seeds
        self.summaries = summaries

    def __len__(self) -> int:
        return len(self.summaries)

    def values(self, figure: str) -> list[float]:
        """`figure` in each run: a summary key, `refused_<reason>` (a count), or
        `campaign_finished` (1 if the run's campaigns finished). A run whose campaigns
        had not finished by its end counts as lasting until then in
        `campaign_completion_hours`: with any such run, that figure is a lower bound
        (leaving them out made the slowest pools look fastest)."""
        if figure == CAMPAIGN_FINISHED:
            done = (figure_value(summary, COMPLETION) for summary in self.summaries)
            return [0.0 if math.isnan(hours) else 1.0 for hours in done]
        values = [figure_value(summary, figure) for summary in self.summaries]
        if figure == COMPLETION:
            end = self.scenario.duration_seconds / 3600.0
            return [end if math.isnan(hours) else hours for hours in values]
        return values

    def interval(self, figure: str, confidence: float = 0.95) -> tuple[float, float, float]:
        """(mean, low, high) of `figure` across runs: Student t interval, its low end at
        least 0 (every figure counts or times something)."""
        mean, low, high = interval(
            self.values(figure), confidence, proportion=figure in PROPORTIONS
        )
        return mean, max(low, 0.0), high  # max keeps a NaN (too few runs) as it is

    def figures(self) -> list[str]:
        """The figures of summary(): the standard ones, the refusal reasons the runs saw,
        and the campaigns' completion time when there are campaigns."""
        seen = {reason for summary in self.summaries for reason in summary["refusals"]}
        names = [*self.FIGURES, *(f"refused_{r}" for r in REASONS if r in seen)]
        if self.scenario.campaigns:
            names += [COMPLETION, CAMPAIGN_FINISHED]
        return names

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """One row per figure: mean, confidence interval, and what Erlang B or C predicts
        (NaN where the formulas say nothing, e.g. for campaigns)."""
        erlang = erlang_figures(self.scenario)
        rows = {}
        for figure in self.figures():
            mean, low, high = self.interval(figure, confidence)
            rows[figure] = {
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "erlang": erlang.get(figure, math.nan),
            }
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.attrs["confidence"] = confidence
        frame.attrs["replications"] = len(self)
        return frame

    def _repr_html_(self) -> str:
        return (
            f"<b>{len(self)} replications</b>, 95% confidence intervals"
            + self.summary().to_html(float_format=lambda v: f"{v:.4g}")
        )


# Shares of attempts or of time: their intervals stay inside [0, 1].
COMPLETION, CAMPAIGN_FINISHED = "campaign_completion_hours", "campaign_finished"
PROPORTIONS = frozenset(
    {
        CAMPAIGN_FINISHED,
        "blocked_fraction",
        "pool_blocked_fraction",
        "service_level",
        "pool_service_level",
        "wait_probability",
        "utilization",
    }
)


def figure_value(summary: Summary, figure: str) -> float:
    """A figure of one run's summary as a float (NaN when the run has none, e.g. a
    campaign that did not finish)."""
    if figure.startswith("refused_") and figure != "refused_by_rules":
        return float(summary["refusals"].get(figure.removeprefix("refused_"), 0))
    value = summary.get(figure)
    return math.nan if value is None else float(value)


def interval(
    values: Sequence[float], confidence: float = 0.95, *, proportion: bool = False
) -> tuple[float, float, float]:
    """(mean, low, high): the Student t interval of the mean of `values` (NaNs left
    out), clipped to [0, 1] for a proportion."""
    kept = [v for v in values if not math.isnan(v)]
    if len(kept) < 2:
        return (kept[0] if kept else math.nan, math.nan, math.nan)
    mean = statistics.fmean(kept)
    half = t_quantile(confidence, len(kept) - 1) * statistics.stdev(kept) / math.sqrt(len(kept))
    low, high = mean - half, mean + half
    if proportion:
        low, high = max(low, 0.0), min(high, 1.0)
    return mean, low, high


def controlled_interval(
    values: Sequence[float],
    controls: Sequence[float],
    expected: float,
    confidence: float = 0.95,
    *,
    proportion: bool = False,
) -> tuple[float, float, float]:
    """(mean, low, high) of `values` with `controls` as a control variate: a figure of
    the same runs whose mean is known to be `expected` (the attempts that arrived, say).
    A run with more arrivals than expected has a worse service level; subtracting
    beta x (control - expected) removes that share of the spread (Lavenberg & Welch
    1981). Plain interval() when the controls do not vary or runs are too few."""
    pairs = [(y, x) for y, x in zip(values, controls, strict=True) if not math.isnan(y)]
    if len(pairs) < 4 or len({x for _, x in pairs}) < 2:
        return interval(values, confidence, proportion=proportion)
    ys, xs = [y for y, _ in pairs], [x for _, x in pairs]
    beta = statistics.covariance(ys, xs) / statistics.variance(xs)
    adjusted = [y - beta * (x - expected) for y, x in pairs]
    n = len(adjusted)
    mean = statistics.fmean(adjusted)
    spread = statistics.stdev(adjusted) * math.sqrt((n - 1) / (n - 2))  # beta was estimated
    half = t_quantile(confidence, n - 2) * spread / math.sqrt(n)
    low, high = mean - half, mean + half
    if proportion:
        mean = min(max(mean, 0.0), 1.0)
        low, high = max(low, 0.0), min(high, 1.0)
    return mean, low, high


def t_quantile(confidence: float, df: int) -> float:
    """Two-sided Student t quantile: the t with P(|T| <= t) = confidence, by bisection
    on the exact distribution function (no SciPy needed)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df!r}")
    low, high = 0.0, 1.0
    while _t_two_sided(high, df) < confidence:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        if _t_two_sided(middle, df) < confidence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _t_two_sided(t: float, df: int) -> float:
    """P(|T| <= t) = 1 - I_x(df/2, 1/2) with x = df / (df + t^2)."""
    return 1.0 - _incomplete_beta(df / (df + t * t), df / 2, 0.5)


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """Regularized incomplete beta I_x(a, b), by its continued fraction (Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - _incomplete_beta(1.0 - x, b, a)
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return front * result / a


def sweep(
    scenario: Scenario,
    values: Sequence[Any],
    *,
    change: Callable[[Scenario, Any], Scenario] | None = None,
    replications: int = 5,
    seed: int = 0,
    figures: Sequence[str] = ("blocked_fraction", "wait_p95", "utilization"),
    confidence: float = 0.95,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Simulate `scenario` changed to each of `values`: by default, the first number
    group's count ("how many numbers?"). One row per value: each figure's mean,
    confidence interval and Erlang figure over `replications` runs (the same seeds for
    every value: common random numbers), the mean refusals by reason, and the
    campaigns' completion time. Every run of every value shares one executor."""
    change = change or with_numbers
    replications = whole("replications", replications, minimum=2)
    changed = [change(scenario, value) for value in values]
    seeds = [seed + index for index in range(replications)]
    tasks = [(variant, s) for variant in changed for s in seeds]
    with (
        executor_for(executor, workers) as runner,
        progress_bar(progress, "sweep", len(tasks)) as bar,
    ):
        summaries = run_all(tasks, summarize, executor=runner, bar=bar)
    rows = {}
    for index, (value, variant) in enumerate(zip(values, changed, strict=True)):
        runs = Replications(
            variant, seeds, summaries[index * replications : (index + 1) * replications]
        )
        erlang = erlang_figures(variant)
        row: dict[str, float] = {}
        for figure in figures:
            mean, low, high = runs.interval(figure, confidence)
            row[figure] = mean
            row[f"{figure}_low"] = low
            row[f"{figure}_high"] = high
            row[f"{figure}_erlang"] = erlang.get(figure, math.nan)
        for reason in REASONS:
            row[f"refused_{reason}"] = statistics.fmean(runs.values(f"refused_{reason}"))
        if variant.campaigns:
            mean, low, high = runs.interval("campaign_completion_hours", confidence)
            row["campaign_completion_hours"] = mean
            row["campaign_completion_hours_low"] = low
            row["campaign_completion_hours_high"] = high
        rows[value] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "value"
    return frame


def with_numbers(scenario: Scenario, count: int) -> Scenario:
    """`scenario` with its first number group holding `count` numbers."""
    first, *rest = scenario.numbers
    return scenario.replace(numbers=(dataclasses.replace(first, count=count), *rest))
