"""Every numeric input goes through numsim.validation: numpy scalars count as the numbers
they are, bools and infinities never do, and each place names its bound the same way."""

import math

import numpy as np
import pytest
from tests.fake_provider import FakeAdapter

import numsim
from numsim.planning import MaxBlocking, MaxMeanWait, ServiceLevel
from numsim.planning.cost import monthly_price
from numsim.planning.sizing import size_pool
from numsim.providers import ProviderAdapter
from numsim.service.protocol import timed_protocol
from numsim.sim import Arrivals, CallModel, NumberGroup, Scenario, ScenarioError
from numsim.sim.distributions import Distribution
from numsim.sim.parallel import executor_for
from numsim.sim.run import sweep


def test_destination_limit_takes_numpy_numbers_and_stores_plain_ones():
    limit = numsim.DestinationLimit(np.int64(3), np.float32(60))
    assert (limit.max_calls, limit.per_seconds) == (3, 60.0)
    assert (type(limit.max_calls), type(limit.per_seconds)) == (int, float)
    for bad in [(True, 60), (3.0, 60), (0, 60), (3, math.inf), (3, 0), (3, False)]:
        with pytest.raises(ValueError, match=r"max_calls|per_seconds"):
            numsim.DestinationLimit(*bad)


def test_a_price_may_be_a_numpy_number_but_not_a_bool():
    assert monthly_price("twilio", {"twilio": np.float32(1.5)}) == 1.5
    with pytest.raises(ValueError, match="monthly price of a twilio number"):
        monthly_price("twilio", {"twilio": True})
    with pytest.raises(ValueError, match="monthly price of a twilio number"):
        monthly_price("twilio", {"twilio": -1})


def test_targets_take_numpy_numbers():
    assert MaxBlocking(np.float64(0.01)).share == 0.01
    assert ServiceLevel(np.float32(0.5), within_seconds=np.int64(20)).within_seconds == 20
    assert MaxMeanWait(np.float32(2.0)).seconds == 2.0
    for bad in [lambda: MaxBlocking(True), lambda: MaxMeanWait(math.inf)]:
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="within_seconds"):
        ServiceLevel(0.5, within_seconds=True)


def test_scenario_numbers_take_numpy_numbers():
    call = CallModel(answer_probability=np.float64(0.5))
    assert call.answer_probability == 0.5
    group = NumberGroup(count=np.int64(3), channels=np.int64(2))
    assert (group.count, group.channels) == (3, 2)
    scenario = Scenario(
        numbers=(group,),
        arrivals=(Arrivals(calls_per_hour=10.0),),
        hours=1.0,
        calls_per_second={"twilio": np.float32(2)},
    )
    assert scenario.calls_per_second["twilio"] == 2.0
    with pytest.raises(ScenarioError, match="calls_per_second"):
        scenario.replace(calls_per_second={"twilio": True})
    with pytest.raises(ScenarioError, match="answer_probability"):
        CallModel(answer_probability=True)
    assert Distribution("constant", mean=np.float32(3)).mean == 3.0
    assert Distribution.parse(np.float64(4), "talk").mean == 4.0
    with pytest.raises(ValueError, match="mean"):
        Distribution("constant", mean=True)


def _pool():
    return Scenario(
        numbers=(NumberGroup(count=2),), arrivals=(Arrivals(calls_per_hour=10.0),), hours=1.0
    )


def test_runner_counts_take_numpy_numbers():
    with executor_for(None, np.int64(1)) as executor:
        assert executor is None
    with pytest.raises(ValueError, match="workers"), executor_for(None, True):
        pass
    with pytest.raises(ValueError, match="replications"):
        sweep(_pool(), [1], replications=np.int64(1))
    with pytest.raises(ValueError, match="replications"):
        sweep(_pool(), [1], replications=True)
    registry_pool = _pool().replace(numbers=(), registry="unused.db")
    with pytest.raises(ValueError, match="sizes a number group"):  # the counts passed
        size_pool(
            registry_pool,
            target=MaxBlocking(0.01),
            replications=np.int64(3),
            max_replications=np.int64(9),
            max_numbers=np.int64(9),
            tolerance=np.float32(0.01),
        )
    with pytest.raises(ValueError, match="tolerance"):
        size_pool(_pool(), target=MaxBlocking(0.01), tolerance=True)


def test_adapter_pacing_and_timeouts_are_finite_positive_numbers():
    adapter = FakeAdapter()
    cls = type(adapter)
    assert ProviderAdapter.__init__  # the checks live in the base class
    made = cls.__new__(cls)
    ProviderAdapter.__init__(made, "AC1", "env:X", cps=np.float32(2), timeout=np.int64(5))
    assert (made.cps, made.timeout) == (2.0, 5.0)
    for options in [{"cps": True}, {"cps": math.inf}, {"timeout": 0}, {"timeout": math.nan}]:
        with pytest.raises(ValueError, match=r"cps|timeout"):
            ProviderAdapter.__init__(made, "AC1", "env:X", **options)
    with pytest.raises(ValueError, match="read timeout"):
        timed_protocol(True)


def test_profile_rates_take_numpy_numbers_and_refuse_infinity():
    arrivals = Arrivals(profile=[np.int64(10)] * 24)
    assert arrivals.profile == (10.0,) * 24
    with pytest.raises(ScenarioError, match="profile rate"):
        Arrivals(profile=[math.inf] * 24)
    with pytest.raises(ScenarioError, match="profile rate"):
        Arrivals(profile=[("09:00", "17:00", math.nan)])
    assert Arrivals(profile=[("09:00", "17:00", np.float32(5))]).profile == (
        ("09:00", "17:00", 5.0),
    )
