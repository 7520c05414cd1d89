"""The simulator against queueing theory, with replication confidence intervals.

Runs are seeded, so each check is deterministic; the intervals are 99% ones, so a
correct simulator passes at almost every seed, and a biased one fails.
"""

import pytest

from numsim.planning import erlang_b, erlang_c, offered_traffic, wait_exceeds
from numsim.sim import (
    Arrivals,
    CallModel,
    Distribution,
    NumberGroup,
    Scenario,
    replicate,
    simulate,
)

HOLD = 180.0
REPLICATIONS = 10


def loss_scenario(group, calls_per_hour, talk, hours=60.0):
    return Scenario(
        name="loss",
        numbers=(group,),
        arrivals=(Arrivals(calls_per_hour=calls_per_hour, population=5000),),
        call=CallModel(talk_seconds=talk),
        hours=hours,
        warmup_hours=1.0,
    )


def covers(runs, figure, expected):
    mean, low, high = runs.interval(figure, confidence=0.99)
    assert low <= expected <= high, f"{figure}: {expected:.5f} outside [{low:.5f}, {high:.5f}]"
    return mean


@pytest.mark.parametrize(
    ("group", "talk"),
    [
        (NumberGroup(provider="twilio", count=20), Distribution("exponential", mean=HOLD)),
        (
            NumberGroup(provider="plivo", count=4, channels=5, country="IN"),
            Distribution("exponential", mean=HOLD),
        ),
        (NumberGroup(provider="twilio", count=20), Distribution("lognormal", mean=HOLD, sigma=1.0)),
        (
            NumberGroup(provider="exotel", count=5, channels=4, country="IN"),
            Distribution("lognormal", mean=HOLD, sigma=0.6),
        ),
    ],
    ids=["twilio-exponential", "plivo-exponential", "twilio-lognormal", "exotel-lognormal"],
)
def test_loss_system_blocking_matches_erlang_b(group, talk):
    calls_per_hour = 300.0  # 15 erlangs offered to 20 channels
    runs = replicate(loss_scenario(group, calls_per_hour, talk), REPLICATIONS, seed=11)
    traffic = offered_traffic(calls_per_hour, HOLD)
    expected = erlang_b(traffic, 20)
    covers(runs, "blocked_fraction", expected)
    # Carried load: utilization is (1 - B) A / c.
    covers(runs, "utilization", (1 - expected) * traffic / 20)


def test_waiting_system_matches_erlang_c():
    scenario = Scenario(
        name="delay",
        numbers=(NumberGroup(count=12),),
        arrivals=(Arrivals(calls_per_hour=200.0, population=5000),),  # 10 erlangs
        call=CallModel(talk_seconds=Distribution("exponential", mean=HOLD)),
        max_wait_seconds=1e7,  # patient callers: M/M/12
        service_level_seconds=30.0,  # served within 30 s: 1 - P(W > 30 s)
        hours=100.0,
        warmup_hours=2.0,
    )
    runs = replicate(scenario, REPLICATIONS, seed=5)
    covers(runs, "wait_probability", erlang_c(10.0, 12))
    covers(runs, "service_level", 1 - wait_exceeds(10.0, 12, 30, HOLD))
    assert runs.values("blocked_fraction") == [0.0] * REPLICATIONS
    # The table puts the Erlang C figures beside the simulated ones.
    table = runs.summary()
    assert table.loc["wait_probability", "erlang"] == pytest.approx(erlang_c(10.0, 12))
    assert table.loc["service_level", "erlang"] == pytest.approx(
        1 - wait_exceeds(10.0, 12, 30, HOLD)
    )


def test_no_rolling_hour_carries_more_than_numbers_times_cap():
    numbers, cap = 6, 20
    scenario = Scenario(
        name="capped",
        numbers=(
            NumberGroup(
                provider="plivo", count=numbers, channels=10, country="IN", max_calls_per_hour=cap
            ),
        ),
        arrivals=(Arrivals(calls_per_hour=400.0, country="GB"),),  # 3x what the caps allow
        call=CallModel(talk_seconds=Distribution("exponential", mean=60.0)),
        hours=6.0,
    )
    result = simulate(scenario, seed=2)
    busiest = result.busiest_rolling_hour()
    assert max(busiest.values()) == cap  # the caps bind, exactly
    starts = (result.calls["start"].dropna() + scenario.start_epoch).sort_values().to_numpy()
    import numpy as np

    counting = np.arange(1, len(starts) + 1) - np.searchsorted(starts + 3600, starts, "right")
    assert counting.max() <= numbers * cap
    assert result.summary()["refusals"]["hourly_cap"] > 0
    assert (result.numbers["hourly_cap_refusals"] > 0).all()
