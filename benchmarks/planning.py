"""Sizing benchmark: the standard question, answered in worker processes vs in one.

Twilio numbers, 600 calls an hour, 180 s mean holding, callers wait up to 30 s,
at least 90% served within 30 s, an 8-hour day. The ratio is the parallel wall time
over the serial one (below 1: the processes pay off); the report also keeps each
run's wall time, the answer and the attempts simulated (the same for both: the
seeds decide the runs, not the executor).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

from numsim.planning import ServiceLevel, size_pool
from numsim.sim import Arrivals, CallModel, Distribution, NumberGroup, Scenario

from .harness import Case

STANDARD = Scenario(
    name="standard question",
    numbers=(NumberGroup(provider="twilio", count=1),),
    arrivals=(Arrivals(calls_per_hour=600.0),),
    call=CallModel(talk_seconds=Distribution("exponential", mean=180.0)),
    max_wait_seconds=30.0,
    hours=8.0,
)
TARGET = ServiceLevel(0.9, within_seconds=30.0)


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
            sizing = size_pool(STANDARD, target=TARGET, workers=self.workers, progress=False)
            wall = time.perf_counter() - started
            total += wall
            self.walls.append(wall)
            self.info[f"{self.label}_wall_seconds"] = round(statistics.median(self.walls), 3)
            self.info["numbers"] = sizing.numbers
            self.info["attempts_simulated"] = sizing.attempts_simulated
            self.info["sizes_tried"] = sizing.sizes_tried
        return total


def cases() -> Iterator[Case]:
    workers = max(os.cpu_count() or 1, 2)
    info: dict[str, Any] = {"workers": workers, "goal_wall_seconds": 5.0}
    yield Case(
        "size_pool_parallel_vs_serial",
        f"wall time to size the standard question (600 calls/h, 180 s, 90% within 30 s, "
        f"8 h) on {workers} worker processes vs in one process; below 1: they pay off",
        _Sizer(workers, info, "parallel"),
        _Sizer(1, info, "serial"),
        ops=1,
        rounds=3,
        info=info,
    )
