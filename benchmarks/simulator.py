"""Simulator benchmark: CPU per attempt against the leanest SimPy loss model.

The baseline is the M/M/50/50 loss model (45 erlangs) written as lean as SimPy
allows: a busy counter and timeout callbacks, no Resource, no process per call,
no allocator. Ours simulates the same load through the production allocator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import simpy
from simpy.events import Timeout

from numsim.sim import Arrivals, CallModel, Distribution, NumberGroup, Scenario, simulate

from .harness import Case, cpu_timed

CHANNELS, ERLANGS, HOLD = 50, 45.0, 180.0


def bare_loss_model(arrivals: int) -> None:
    """The leanest SimPy M/M/c/c: what a simulator without an allocator costs."""
    env = simpy.Environment()
    rng = random.Random(1)
    rate = ERLANGS / HOLD
    busy = [0]
    count = [0]

    def end(_: object) -> None:
        busy[0] -= 1

    def arrive(_: object) -> None:
        count[0] += 1
        if count[0] < arrivals:
            Timeout(env, rng.expovariate(rate)).callbacks.append(arrive)
        if busy[0] < CHANNELS:
            busy[0] += 1
            Timeout(env, rng.expovariate(1 / HOLD)).callbacks.append(end)

    Timeout(env, rng.expovariate(rate)).callbacks.append(arrive)
    env.run()


def numsim_loss_model(arrivals: int, population: int = 1000) -> None:
    """The same load through numsim: 50 Twilio numbers, the real allocator."""
    calls_per_hour = ERLANGS / HOLD * 3600
    scenario = Scenario(
        name="benchmark",
        numbers=(NumberGroup(count=CHANNELS),),
        arrivals=(Arrivals(calls_per_hour=calls_per_hour, population=population),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=HOLD)),
        hours=arrivals / calls_per_hour,
    )
    simulate(scenario, seed=1)


def numsim_default_population(arrivals: int) -> None:
    """The same with the default population: 10,000 destinations."""
    numsim_loss_model(arrivals, population=10_000)


def cases() -> Iterator[Case]:
    yield Case(
        "simulator_vs_bare_simpy",
        "CPU per simulated attempt: numsim (allocator included) vs a bare SimPy "
        "M/M/50/50 loss model; <= 2.0 is issue 22's goal",
        cpu_timed(numsim_loss_model),
        cpu_timed(bare_loss_model),
        ops=100_000,
        target=2.0,
    )
    yield Case(
        "simulator_population_10000_vs_1000",
        "CPU per simulated attempt of the same run with the default population (10,000 "
        "destinations) vs the benchmark's 1,000",
        cpu_timed(numsim_default_population),
        cpu_timed(numsim_loss_model),
        ops=100_000,
        target=1.1,
    )
