"""simulate(): run a scenario once, or replicated with confidence intervals."""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import simpy

from .engine import Engine
from .load import CampaignDialer, LogReplay, OpenArrivals
from .result import SimulationResult
from .scenario import Scenario

Progress = Callable[[float], object]  # called with the share of simulated time done


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    replications: int | None = None,
    progress: Progress | None = None,
) -> SimulationResult | Replications:
    """Run `scenario`. With `replications=R`, R independent runs (seeds seed, seed+1, ...)
    whose summary figures come with confidence intervals."""
    if replications is None:
        return _run(scenario, seed, progress)
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 2:
        raise ValueError(f"replications must be a whole number >= 2, got {replications!r}")
    base = random.randrange(2**31) if seed is None else seed
    runs = []
    for index in range(replications):
        done = None if progress is None else _scaled(progress, index, replications)
        runs.append(_run(scenario, base + index, done))
    return Replications(runs)


def _run(scenario: Scenario, seed: int | None, progress: Progress | None) -> SimulationResult:
    started = time.perf_counter()
    engine = Engine(scenario, seed)
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


def _scaled(progress: Progress, index: int, total: int) -> Progress:
    return lambda share: progress((index + share) / total)


class Replications:
    """Independent runs of one scenario; summary figures with confidence intervals."""

    FIGURES = (
        "attempts",
        "served",
        "blocked_fraction",
        "service_level",
        "wait_probability",
        "wait_mean",
        "wait_p50",
        "wait_p95",
        "wait_p99",
        "utilization",
    )

    def __init__(self, results: list[SimulationResult]) -> None:
        self.results = results

    def __len__(self) -> int:
        return len(self.results)

    def values(self, figure: str) -> list[float]:
        return [float(r.summary()[figure]) for r in self.results]

    def interval(self, figure: str, confidence: float = 0.95) -> tuple[float, float, float]:
        """(mean, low, high) of `figure` across runs: Student t interval."""
        values = [v for v in self.values(figure) if not math.isnan(v)]
        if len(values) < 2:
            return (values[0] if values else math.nan, math.nan, math.nan)
        mean = statistics.fmean(values)
        half = (
            t_quantile(confidence, len(values) - 1)
            * statistics.stdev(values)
            / math.sqrt(len(values))
        )
        return mean, mean - half, mean + half

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        rows = {}
        for figure in self.FIGURES:
            mean, low, high = self.interval(figure, confidence)
            rows[figure] = {"mean": mean, "ci_low": low, "ci_high": high}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.attrs["confidence"] = confidence
        frame.attrs["replications"] = len(self.results)
        return frame

    def _repr_html_(self) -> str:
        return (
            f"<b>{len(self.results)} replications</b>, 95% confidence intervals"
            + self.summary().to_html(float_format=lambda v: f"{v:.4g}")
        )


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
) -> pd.DataFrame:
    """Simulate `scenario` changed to each of `values`: by default, the first number
    group's count ("how many numbers?"). One row per value: each figure's mean and
    confidence interval over `replications` runs (the same seeds for every value)."""
    change = change or _with_numbers
    rows = {}
    for value in values:
        runs = simulate(change(scenario, value), seed=seed, replications=replications)
        row: dict[str, float] = {}
        for figure in figures:
            mean, low, high = runs.interval(figure, confidence)  # type: ignore[union-attr]
            row[figure] = mean
            row[f"{figure}_low"] = low
            row[f"{figure}_high"] = high
        rows[value] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "value"
    return frame


def _with_numbers(scenario: Scenario, count: int) -> Scenario:
    first, *rest = scenario.numbers
    return scenario.replace(numbers=(dataclasses.replace(first, count=count), *rest))
