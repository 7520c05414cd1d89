"""Measuring ratios: each benchmark times our code and a baseline in the same process,
in alternating rounds, so the noise of a shared machine hits both alike."""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Runner = Callable[[int], float]  # run `n` operations, return the seconds they took


@dataclass
class Case:
    """One benchmark: the cost of `subject` per operation over `baseline`'s (lower is better)."""

    name: str
    description: str
    subject: Runner
    baseline: Runner
    ops: int  # operations per timed run
    target: float | None = None  # the bound the issue asks for, if any
    rounds: int | None = None  # fewer rounds than the run's, for slow cases
    close: Callable[[], None] = lambda: None
    info: dict[str, Any] = field(default_factory=dict)


def timed(loop: Callable[[int], None], *, cpu: bool = False) -> Runner:
    """Wrap a loop of n operations into a Runner, timed by the wall clock: where another
    process (a server) does part of the work."""
    clock = time.process_time if cpu else time.perf_counter

    def run(n: int) -> float:
        gc.collect()
        started = clock()
        loop(n)
        return clock() - started

    return run


def cpu_timed(loop: Callable[[int], None]) -> Runner:
    """A Runner timed in this process's CPU seconds: for work done in this process
    alone, where wall time on a shared machine measures the neighbours too."""
    return timed(loop, cpu=True)


def in_processes(count: int, work: Callable[..., None], args: Callable[[int], tuple]) -> Runner:
    """A Runner timing `count` spawned processes that share n operations: process i
    runs `work(*args(i), operations, ready)` and waits on `ready` (a Barrier) once set
    up and once done, so only the work is timed. A process that dies fails the run."""
    context = multiprocessing.get_context("spawn")

    def run(n: int) -> float:
        ready = context.Barrier(count + 1, timeout=120)
        workers = [
            context.Process(target=work, args=(*args(i), n // count, ready)) for i in range(count)
        ]
        for worker in workers:
            worker.start()
        ready.wait()
        started = time.perf_counter()
        ready.wait()
        elapsed = time.perf_counter() - started
        for worker in workers:
            worker.join()
        return elapsed

    return run


def measure(case: Case, rounds: int, scale: float = 1.0) -> dict[str, Any]:
    """Median ratio over `rounds`, alternating which side runs first.

    `scale` shrinks the operations per run (tests use it to stay fast)."""
    ops = max(int(case.ops * scale), 10)
    case.subject(max(ops // 10, 1))  # warm caches and lazy set-up
    case.baseline(max(ops // 10, 1))
    ratios, subject_us, baseline_us = [], [], []
    for index in range(min(rounds, case.rounds or rounds)):
        if index % 2:
            base, subj = case.baseline(ops), case.subject(ops)
        else:
            subj, base = case.subject(ops), case.baseline(ops)
        ratios.append(subj / base)
        subject_us.append(subj / ops * 1e6)
        baseline_us.append(base / ops * 1e6)
    return {
        "description": case.description,
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "rounds": len(ratios),
        "subject_us": statistics.median(subject_us),
        "baseline_us": statistics.median(baseline_us),
        "target": case.target,
        **case.info,
    }


def run_cases(
    cases: Iterator[Case], rounds: int, log: Callable[[str], None], scale: float = 1.0
) -> dict[str, Any]:
    results = {}
    for case in cases:
        try:
            results[case.name] = result = measure(case, rounds, scale)
        finally:
            case.close()
        target = "" if result["target"] is None else f" (target <= {result['target']})"
        log(
            f"{case.name:34s} ratio {result['ratio']:7.3f} "
            f"[{result['ratio_min']:.3f}-{result['ratio_max']:.3f}]{target}  "
            f"{result['subject_us']:.2f} us vs {result['baseline_us']:.2f} us"
        )
    return results


def machine() -> dict[str, Any]:
    versions = {}
    for package in ("numsim", "simpy", "limits", "redis", "pandas", "numpy", "phonenumbers"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
    }
