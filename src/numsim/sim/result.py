"""What a simulation run produced: tables (pandas), a summary, plots (matplotlib)."""

from __future__ import annotations

import html
import math
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..allocator.refusal import REASONS, RULE_REASONS
from .scenario import Scenario
from .trace import (
    ANSWERED,
    CALLBACK,
    CALLBACK_MISSED,
    CODES,
    LOST_CALLBACK,
    NO_ANSWER,
    OUTCOMES,
    REASON_CODES,
    REFUSED,
    Trace,
)

_REASONS = [reason or None for reason in REASON_CODES]  # code -> reason (0: none)
# Refusals more numbers would not remove (rules for the call): refusal.RULE_REASONS.
_RULE_CODES = [REASON_CODES[reason] for reason in RULE_REASONS]


class SimulationResult:
    """One run. Times are seconds since the simulated start unless a column says else."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int | None,
        trace: Trace,
        horizon: float,
        campaigns: list[dict[str, Any]],
        wall_seconds: float,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.horizon = horizon  # simulated seconds the run covered
        self.wall_seconds = wall_seconds
        self.campaigns = campaigns
        self.snapshot = trace.snapshot
        self._times = trace.table()  # ["arrival"], ["wait"], ...: seconds
        self._ints = {name: self._times[name].astype(np.int64) for name in CODES}
        self._numbers = trace.numbers
        self._templates = trace.templates
        self._destinations = trace.destinations
        self._cap_refusals = trace.cap_refusals
        self._warmup = scenario.warmup_hours * 3600.0

    # -- tables -----------------------------------------------------------------------------

    @cached_property
    def calls(self) -> pd.DataFrame:
        """One row per attempt (and per inbound callback)."""
        times, ints = self._times, self._ints
        arrival, wait, pacing, hold = (times[t] for t in ("arrival", "wait", "pacing", "hold"))
        start = arrival + wait
        granted = ints["number"] >= 0
        outcome_code = ints["outcome"]
        held = granted & (outcome_code != CALLBACK_MISSED)
        inbound = (outcome_code == CALLBACK) | (outcome_code == CALLBACK_MISSED)
        start_epoch = self.scenario.start_epoch
        frame = pd.DataFrame(
            {
                "arrival": arrival,
                "clock": pd.to_datetime(arrival + start_epoch, unit="s", utc=True).tz_convert(
                    self.scenario.timezone
                ),
                "direction": np.where(inbound, "inbound", "outbound"),
                "template": _labels(ints["template"], self._templates),
                "destination": _labels(ints["destination"], self._destinations),
                "number": _labels(ints["number"], [n.e164 for n in self._numbers]),
                "wait": wait,
                "pacing_wait": pacing,
                "start": np.where(held, start, np.nan),
                "end": np.where(
                    granted & (outcome_code != CALLBACK_MISSED), start + pacing + hold, np.nan
                ),
                "outcome": pd.Categorical.from_codes(outcome_code, OUTCOMES),
                "reason": pd.Categorical.from_codes(ints["reason"] - 1, list(REASONS)),
                "attempt": ints["attempt"],
                "lost_callback": (ints["flags"] & LOST_CALLBACK) != 0,
            }
        )
        return frame

    @cached_property
    def numbers(self) -> pd.DataFrame:
        """Per number: calls, busy time, utilization, hourly-cap refusals."""
        code, outcome = self._ints["number"], self._ints["outcome"]
        size = len(self._numbers)

        def per_number(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(code[mask], weights=weights, minlength=size)

        busy = self._busy_intervals()
        seconds = np.bincount(
            busy[:, 2].astype(np.int64), weights=busy[:, 1] - busy[:, 0], minlength=size
        )
        calls = per_number((code >= 0) & (outcome <= NO_ANSWER))
        inbound = per_number(outcome == CALLBACK)
        capacity = np.array([n.capacity for n in self._numbers], dtype=float)
        span = self.horizon - self._warmup
        return pd.DataFrame(
            {
                "number": [n.e164 for n in self._numbers],
                "provider": [n.provider.value for n in self._numbers],
                "capacity": capacity.astype(int),
                "max_calls_per_hour": [n.max_calls_per_hour for n in self._numbers],
                "calls": calls.astype(int),
                "inbound": inbound.astype(int),
                "busy_seconds": seconds,
                "utilization": seconds / (capacity * span) if span > 0 else math.nan,
                "hourly_cap_refusals": self._cap_refusals,
            }
        ).set_index("number")

    @cached_property
    def timeline(self) -> pd.DataFrame:
        """Channels busy over time, per bucket of `timeline_seconds`: mean and max."""
        width = self.scenario.timeline_seconds
        edges = np.arange(0.0, self.horizon + width, width)
        edges[-1] = min(edges[-1], self.horizon) if len(edges) > 1 else self.horizon
        busy = self._busy_intervals(clip_warmup=False)
        times = np.concatenate([busy[:, 0], busy[:, 1]])
        steps = np.concatenate([np.ones(len(busy)), -np.ones(len(busy))])
        order = np.lexsort((steps, times))  # ends before starts at the same instant
        times, level = times[order], np.cumsum(steps[order])
        # Integral of busy(t) at each event time, then at each bucket edge.
        area = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(times))])

        def integral(at: np.ndarray) -> np.ndarray:
            i = np.searchsorted(times, at, side="right") - 1
            before = i < 0
            i = np.clip(i, 0, None)
            value = area[i] + level[i] * (at - times[i]) if len(times) else np.zeros_like(at)
            return np.where(before, 0.0, value)

        if len(times) == 0:
            means = np.zeros(len(edges) - 1)
            peaks = np.zeros(len(edges) - 1)
        else:
            totals = integral(edges)
            means = np.diff(totals) / np.diff(edges)
            at_start = np.searchsorted(times, edges[:-1], side="right") - 1
            peaks = np.where(at_start >= 0, level[np.clip(at_start, 0, None)], 0.0)
            inside = np.searchsorted(times, edges[1:], side="left")
            for k in range(len(edges) - 1):  # busiest moment inside each bucket
                lo = max(at_start[k] + 1, 0)
                if inside[k] > lo:
                    peaks[k] = max(peaks[k], level[lo : inside[k]].max())
        return pd.DataFrame(
            {
                "start": edges[:-1],
                "clock": pd.to_datetime(
                    edges[:-1] + self.scenario.start_epoch, unit="s", utc=True
                ).tz_convert(self.scenario.timezone),
                "busy_mean": means,
                "busy_max": peaks,
                "capacity": sum(n.capacity for n in self._numbers),
            }
        )

    # -- figures ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The run's figures, over attempts arriving after the warm-up (computed once
        per run: replications and sweeps read one figure at a time)."""
        return dict(self._summary)

    @cached_property
    def _summary(self) -> dict[str, Any]:
        times, ints = self._times, self._ints
        arrival, wait, pacing = times["arrival"], times["wait"], times["pacing"]
        outcome = ints["outcome"]
        after = arrival >= self._warmup
        counted = after & (outcome <= REFUSED)
        attempts = int(counted.sum())
        served_mask = counted & (outcome != REFUSED)
        served = int(served_mask.sum())
        waits = wait[counted]
        level_seconds = self.scenario.service_level_seconds
        if level_seconds is None:
            level_seconds = self.scenario.max_wait_seconds
        in_time = int(np.sum(served_mask & (wait <= level_seconds + 1e-9)))
        by_rule = np.isin(ints["reason"], _RULE_CODES)
        by_rules = int(np.sum(counted & (outcome == REFUSED) & by_rule))
        pool_attempts = attempts - by_rules
        reasons: dict[str, int] = {}
        refused = ints["reason"][counted & (outcome == REFUSED)]
        for code, count in zip(*np.unique(refused, return_counts=True), strict=True):
            reasons[_REASONS[code]] = int(count)
        capacity = sum(n.capacity for n in self._numbers)
        busy = self._busy_intervals()
        span = self.horizon - self._warmup
        summary: dict[str, Any] = {
            "attempts": attempts,
            "served": served,
            "refused": attempts - served,
            "blocked_fraction": (attempts - served) / attempts if attempts else math.nan,
            "service_level": in_time / attempts if attempts else math.nan,
            "refused_by_rules": by_rules,
            # Figures over the attempts the rules let through: what the pool's size decides.
            "pool_blocked_fraction": (pool_attempts - served) / pool_attempts
            if pool_attempts
            else math.nan,
            "pool_service_level": in_time / pool_attempts if pool_attempts else math.nan,
            "wait_probability": float(np.mean(waits > 1e-9)) if attempts else math.nan,
            "wait_mean": float(np.mean(waits)) if attempts else math.nan,
            "wait_p50": _percentile(waits, 50),
            "wait_p95": _percentile(waits, 95),
            "wait_p99": _percentile(waits, 99),
            "pacing_wait_p95": _percentile(pacing[served_mask], 95),
            "refusals": reasons,
            "answered": int(np.sum(counted & (outcome == ANSWERED))),
            "lost_callbacks": int(np.sum(counted & ((ints["flags"] & LOST_CALLBACK) != 0))),
            "callbacks": int(np.sum((arrival >= self._warmup) & (outcome == CALLBACK))),
            "callbacks_missed": int(
                np.sum((arrival >= self._warmup) & (outcome == CALLBACK_MISSED))
            ),
            "utilization": float(np.sum(busy[:, 1] - busy[:, 0]) / (capacity * span))
            if span > 0 and capacity
            else math.nan,
            "numbers": len(self._numbers),
            "channels": capacity,
            "simulated_hours": self.horizon / 3600.0,
            "wall_seconds": self.wall_seconds,
        }
        if self.campaigns:
            summary["campaigns"] = self.campaigns
            done = [c["completed_hours"] for c in self.campaigns]
            summary["campaign_completion_hours"] = None if None in done else max(done)
        return summary

    def busiest_rolling_hour(self) -> dict[str, int]:
        """Per number, the most outbound calls it placed in any rolling 3,600 s.

        Counted as the allocator counts: in epoch seconds, a call at t still counts
        at `now` while t + 3600 > now."""
        ints, times = self._ints, self._times
        outbound = (ints["outcome"] <= NO_ANSWER) & (ints["number"] >= 0)
        code = ints["number"][outbound]
        start = self.scenario.start_epoch + (times["arrival"] + times["wait"])[outbound]
        order = np.lexsort((start, code))  # by number, then by time: one sort for all
        code, start = code[order], start[order]
        bounds = np.searchsorted(code, np.arange(len(self._numbers) + 1))
        result = {}
        for index, number in enumerate(self._numbers):
            times = start[bounds[index] : bounds[index + 1]]
            # calls counting at each call's moment: those at or after t - 3600, strictly
            first = np.searchsorted(times + 3600.0, times, side="right")
            counts = np.arange(1, len(times) + 1) - first
            result[number.e164] = int(counts.max()) if len(times) else 0
        return result

    # -- plots --------------------------------------------------------------------------------

    def plot_busy(self, ax: Any = None) -> Any:
        """Busy channels over time (bucket mean and max) against capacity."""
        ax = _axes(ax)
        line = self.timeline
        hours = line["start"] / 3600.0
        ax.step(hours, line["busy_max"], where="post", color="tab:orange", label="max busy")
        ax.step(hours, line["busy_mean"], where="post", color="tab:blue", label="mean busy")
        ax.axhline(line["capacity"].iloc[0], color="black", linestyle="--", label="channels")
        ax.set_xlabel("hours since start")
        ax.set_ylabel("busy channels")
        ax.legend(loc="best", fontsize="small")
        return ax

    def plot_waits(self, ax: Any = None) -> Any:
        """How long attempts waited for a number (complementary CDF)."""
        ax = _axes(ax)
        waits = np.sort(self.calls.loc[self.calls["direction"] == "outbound", "wait"].to_numpy())
        if len(waits):
            share = 1.0 - np.arange(1, len(waits) + 1) / len(waits)
            ax.step(waits, share, where="post")
        ax.set_xlabel("wait for a number (s)")
        ax.set_ylabel("share of attempts waiting longer")
        return ax

    def plot_utilization(self, ax: Any = None) -> Any:
        """Utilization per number."""
        ax = _axes(ax)
        table = self.numbers.sort_values("utilization")
        ax.barh(range(len(table)), table["utilization"])
        if len(table) <= 40:
            ax.set_yticks(range(len(table)), table.index)
        ax.set_xlabel("utilization (share of channel time busy)")
        ax.set_xlim(0, 1)
        return ax

    def _repr_html_(self) -> str:
        summary = self.summary()
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
            f"<td>{html.escape(_fmt(value))}</td></tr>"
            for key, value in summary.items()
        )
        return f"<b>{html.escape(self.scenario.name)}</b> (seed {self.seed})<table>{rows}</table>"

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<SimulationResult {self.scenario.name!r}: {s['attempts']} attempts, "
            f"blocked {s['blocked_fraction']:.4f}, utilization {s['utilization']:.3f}>"
        )

    # -- internals ------------------------------------------------------------------------------

    def _busy_intervals(self, *, clip_warmup: bool = True) -> np.ndarray:
        """(from, to, number) for every held channel, clipped to the counted span."""
        times, ints = self._times, self._ints
        held = ints["number"] >= 0
        held &= ints["outcome"] != CALLBACK_MISSED
        start = (times["arrival"] + times["wait"])[held]
        end = start + (times["pacing"] + times["hold"])[held]
        low = self._warmup if clip_warmup else 0.0
        start = np.clip(start, low, self.horizon)
        end = np.clip(end, low, self.horizon)
        return np.column_stack([start, end, ints["number"][held]])


def _labels(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    categories = list(dict.fromkeys(names))
    position = {name: i for i, name in enumerate(categories)}
    mapped = np.array([position[name] for name in names] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(mapped[codes], categories)


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else math.nan


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
