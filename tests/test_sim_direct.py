"""The direct path (one stream, nothing else in SimPy's queue) against SimPy's: the same
records, snapshot and summary, over the scenario files and generated scenarios."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

import numsim.sim.run as run
from numsim.sim import (
    Arrivals,
    CallModel,
    Distribution,
    NumberGroup,
    Scenario,
    simulate,
)

DATA = Path(__file__).parent.parent / "data" / "scenarios"


def _loss(scenario):
    """The scenario as a run the direct path takes: no waiting, one constant stream."""
    template = scenario.numbers[0].templates[0]
    arrivals = scenario.arrivals or (
        Arrivals(template=template, calls_per_hour=300.0, country="IN"),
    )
    first = arrivals[0]
    rate = first.calls_per_hour or 300.0
    return scenario.replace(
        arrivals=(dataclasses.replace(first, calls_per_hour=rate, profile=()),),
        campaigns=(),
        replays=(),
        hours=scenario.hours or 4.0,
        warmup_hours=0.0,
        max_wait_seconds=0.0,
        calls_per_second={},
        call=dataclasses.replace(scenario.call, callback_probability=0.0),
    )


def _generated():
    base = Scenario(
        name="generated",
        numbers=(NumberGroup(count=8),),
        arrivals=(Arrivals(calls_per_hour=400.0, population=300),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=120.0)),
        hours=3.0,
    )
    yield "plain", base
    yield (
        "plivo-caps",
        base.replace(
            numbers=(NumberGroup(provider="plivo", channels=3, count=4, max_calls_per_hour=30),)
        ),
    )
    yield (
        "daily-cap-warmup",
        base.replace(
            numbers=(NumberGroup(count=6, max_calls_per_day=60),), hours=30.0, warmup_hours=2.0
        ),
    )
    yield (
        "lost-callbacks-answers",
        base.replace(
            call=CallModel(
                answer_probability=0.4,
                ring_seconds=Distribution("constant", mean=15.0),
                talk_seconds=Distribution("lognormal", mean=150.0, sigma=0.8),
                lost_callback_probability=0.05,
            ),
            lease_ttl_seconds=900.0,
        ),
    )
    yield (
        "destination-limit-sticky",
        base.replace(
            destination_limit={"max_calls": 1, "per_seconds": 3600},
            strategy="sticky",
            arrivals=(Arrivals(calls_per_hour=400.0, population=200),),
        ),
    )
    yield (
        "calling-hours-india",
        base.replace(
            numbers=(NumberGroup(provider="exotel", channels=2, count=5, country="IN"),),
            arrivals=(Arrivals(calls_per_hour=500.0, country="IN"),),
            calling_hours="default",
            start="2026-01-05T07:00",
            timezone="Asia/Kolkata",
        ),
    )
    yield "not-compliant", base.replace(numbers=(NumberGroup(count=3, stir_shaken_attested=False),))
    yield (
        "random-strategy-connected",
        base.replace(
            strategy="random", call=CallModel(load_counts="connected", answer_probability=0.5)
        ),
    )


SCENARIOS = [(f"file-{p.stem}", _loss(Scenario.from_toml(p))) for p in sorted(DATA.glob("*.toml"))]
SCENARIOS += list(_generated())


@pytest.mark.parametrize(("name", "scenario"), SCENARIOS, ids=[n for n, _ in SCENARIOS])
@pytest.mark.parametrize("seed", [1, 7])
def test_the_direct_path_matches_simpys(name, scenario, seed, monkeypatch):
    assert run.alone(scenario)
    direct = simulate(scenario, seed=seed)
    monkeypatch.setattr(run, "alone", lambda scenario: False)
    general = simulate(scenario, seed=seed)
    assert direct.horizon == general.horizon
    pd.testing.assert_frame_equal(direct.calls, general.calls)
    pd.testing.assert_frame_equal(direct.numbers, general.numbers)
    pd.testing.assert_frame_equal(direct.timeline, general.timeline)
    assert direct.snapshot == general.snapshot
    ours, theirs = direct.summary(), general.summary()
    ours.pop("wall_seconds"), theirs.pop("wall_seconds")
    assert ours == theirs
    assert ours["attempts"] > 0


def test_only_a_lone_stream_takes_the_direct_path():
    _, base = next(_generated())
    assert run.alone(base)
    assert not run.alone(base.replace(max_wait_seconds=10.0))
    assert not run.alone(base.replace(calls_per_second={"twilio": 1.0}))
    assert not run.alone(base.replace(call=CallModel(callback_probability=0.1)))
    assert not run.alone(base.replace(arrivals=(Arrivals(profile=(300.0,) * 24),)))
    two = (Arrivals(calls_per_hour=100.0), Arrivals(calls_per_hour=200.0))
    assert not run.alone(base.replace(arrivals=two))
