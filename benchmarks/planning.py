"""Sizing benchmarks: questions from a small office to a 60,000-calls-an-hour platform.

Each question is sized in this process and timed in CPU seconds, against a fixed
reference in the same run: one simulated 8-hour day of the standard question's answer
(29 Twilio numbers, 600 calls an hour). The report keeps each question's CPU seconds,
its goal, the answer and the exact M/M/c+D answer where one exists.

size_pool_parallel_vs_serial times the simulated search (formula_first=False) in
worker processes against one process, in wall time (processes run).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from numsim.planning import ServiceLevel, Target, size_pool
from numsim.sim import Arrivals, CallModel, Distribution, NumberGroup, Scenario, simulate
from numsim.sim.run import with_numbers

from .harness import Case, cpu_timed

STANDARD = Scenario(
    name="standard question",
    numbers=(NumberGroup(provider="twilio", count=1),),
    arrivals=(Arrivals(calls_per_hour=600.0),),
    call=CallModel(talk_seconds=Distribution("exponential", mean=180.0)),
    max_wait_seconds=30.0,
    hours=8.0,
)
TARGET = ServiceLevel(0.9, within_seconds=30.0)


@dataclass(frozen=True)
class Question:
    name: str
    scenario: Scenario
    target: Target
    goal_cpu_seconds: float
    exact_numbers: int | None  # the M/M/c+D answer, where it is exact


def _question(calls_per_hour: float, within: float) -> Scenario:
    return STANDARD.replace(
        name=f"{calls_per_hour:g} calls an hour",
        arrivals=(Arrivals(calls_per_hour=calls_per_hour),),
        max_wait_seconds=within,
    )


QUESTIONS = (
    Question("size_standard_question", STANDARD, TARGET, 1.0, 29),
    Question("size_6000_an_hour", _question(6000, 30), TARGET, 5.0, 271),
    Question(
        "size_36000_an_hour",
        _question(36000, 10),
        ServiceLevel(0.95, within_seconds=10.0),
        20.0,
        1711,
    ),
    Question("size_60000_an_hour", _question(60000, 30), TARGET, 30.0, 2701),
    Question(
        "size_capped_question",
        STANDARD.replace(
            name="capped question",
            numbers=(NumberGroup(provider="plivo", count=1, channels=5, max_calls_per_hour=30),),
            arrivals=(Arrivals(calls_per_hour=2000.0),),
            call=CallModel(talk_seconds=Distribution("exponential", mean=90.0)),
            max_wait_seconds=10.0,
        ),
        ServiceLevel(0.95, within_seconds=10.0),
        10.0,
        None,
    ),
)


def reference_day(n: int) -> None:
    """The yardstick: n simulated 8-hour days of the standard question's answer."""
    for seed in range(n):
        simulate(with_numbers(STANDARD, 29), seed=seed)


def _sizer(question: Question, info: dict[str, Any]) -> Any:
    def size(n: int) -> None:
        for _ in range(n):
            started = time.process_time()
            sizing = size_pool(question.scenario, target=question.target, workers=1, progress=False)
            info["cpu_seconds"] = round(time.process_time() - started, 2)
            info["numbers"] = sizing.numbers
            info["found_by"] = sizing.found_by
            info["attempts_simulated"] = sizing.attempts_simulated

    return size


class _Sizer:
    """Times whole sizings with `workers` processes and notes what they found."""

    def __init__(self, workers: int, info: dict[str, Any], label: str) -> None:
        self.workers = workers
        self.info = info
        self.label = label
        self.walls: list[float] = []

    def __call__(self, n: int) -> float:
        total = 0.0
        for _ in range(n):
            started = time.perf_counter()
            sizing = size_pool(
                STANDARD,
                target=TARGET,
                workers=self.workers,
                progress=False,
                formula_first=False,
            )
            wall = time.perf_counter() - started
            total += wall
            self.walls.append(wall)
            self.info[f"{self.label}_wall_seconds"] = round(statistics.median(self.walls), 3)
            self.info["numbers"] = sizing.numbers
            self.info["attempts_simulated"] = sizing.attempts_simulated
            self.info["sizes_tried"] = sizing.sizes_tried
        return total


def cases() -> Iterator[Case]:
    for question in QUESTIONS:
        info: dict[str, Any] = {
            "goal_cpu_seconds": question.goal_cpu_seconds,
            "exact_numbers": question.exact_numbers,
        }
        yield Case(
            question.name,
            f"CPU seconds to size {question.scenario.name} ({question.target.describe()}) "
            "over one simulated day of the standard question's answer",
            cpu_timed(_sizer(question, info)),
            cpu_timed(reference_day),
            ops=1,
            rounds=1,
            info=info,
        )
    workers = max(os.cpu_count() or 1, 2)
    info = {"workers": workers, "goal_wall_seconds": 5.0}
    yield Case(
        "size_pool_parallel_vs_serial",
        f"wall time of the simulated search for the standard question (600 calls/h, 180 s, "
        f"90% within 30 s, 8 h) on {workers} worker processes vs in one process; below 1: "
        "they pay off",
        _Sizer(workers, info, "parallel"),
        _Sizer(1, info, "serial"),
        ops=1,
        rounds=3,
        info=info,
    )


def main() -> None:
    """Print each question's CPU seconds, answer and exact answer (no baseline)."""
    for question in QUESTIONS:
        info: dict[str, Any] = {}
        _sizer(question, info)(1)
        goal, exact = question.goal_cpu_seconds, question.exact_numbers
        print(f"{question.name}: {info} (exact {exact}, goal {goal} CPU s)")


if __name__ == "__main__":
    main()
