"""Run many simulations through any concurrent.futures.Executor, keeping only summaries.

A task is (scenario, seed): its result depends on nothing else, so a table is the
same whichever executor ran it, in whatever order the runs finished. Workers send
back a run's summary (a small dict), never its per-call tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from ..validation import whole
from .scenario import Scenario

Task = tuple[Scenario, int]
Summary = dict[str, Any]
Work = Callable[[Scenario, int], Summary]  # a module-level function: workers unpickle it


def progress_bar(enabled: bool, label: str, total: int | None = None) -> tqdm:
    """A tqdm.auto bar (a widget in Jupyter, a line on a terminal, silent when stderr is
    not a terminal); a disabled one when not `enabled`."""
    return tqdm(total=total, desc=label, unit="run", disable=None if enabled else True)


def run_all(
    tasks: Sequence[Task],
    work: Work,
    *,
    executor: Executor | None = None,
    bar: tqdm | None = None,
) -> list[Summary]:
    """`work`'s summary of each task (sim.run.summarize: one run's), in the tasks' order.
    Without an executor, in this process."""
    if executor is None:
        summaries = []
        for scenario, seed in tasks:
            summaries.append(work(scenario, seed))
            if bar is not None:
                bar.update()
        return summaries
    futures: dict[Future[Summary], int] = {
        executor.submit(work, scenario, seed): index for index, (scenario, seed) in enumerate(tasks)
    }
    results: list[Summary | None] = [None] * len(tasks)
    for future in as_completed(futures):
        results[futures[future]] = future.result()
        if bar is not None:
            bar.update()
    return [summary for summary in results if summary is not None]


@contextmanager
def executor_for(executor: Executor | None, workers: int | None) -> Iterator[Executor | None]:
    """The executor to run on: the caller's, or a process pool of `workers` processes
    (default: one per core) for the duration; None (this process) for one worker."""
    if executor is not None:
        yield executor
        return
    count = whole("workers", workers, minimum=1) if workers is not None else os.cpu_count() or 1
    if count == 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=count) as pool:
        yield pool
