"""Erlang formulas against exact reference values (research/capacity.md, §7)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numsim.formulas.erlang import Impatient, log_inverse_erlang_b
from numsim.planning import (
    erlang_b,
    erlang_c,
    mean_wait,
    offered_traffic,
    servers_for_blocking,
    servers_for_wait,
    wait_exceeds,
)


@pytest.mark.parametrize(
    ("traffic", "servers", "expected"),
    [
        (1, 2, 0.2),
        (5, 10, 0.018384570336648133),
        (10, 15, 0.036496945472370793),
        (50, 60, 0.021668473057806245),
        (100, 110, 0.027463448449822917),
        (1000, 1030, 0.0095600404152195316),
        (45, 50, 0.054104472164626170),
    ],
)
def test_erlang_b_reference_values(traffic, servers, expected):
    assert erlang_b(traffic, servers) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("traffic", "servers", "waits", "over_30s"),
    [
        (10, 12, 0.44938822429827087, 0.32200073331286799),
        (10, 14, None, 0.089402315677945116),
        (30, 38, None, 0.029500498723274531),
        (100, 110, 0.23700750028505273, 0.044764934493362943),
        (1000, 1030, 0.24890878584360198, 0.0016771342066209052),
    ],
)
def test_erlang_c_reference_values(traffic, servers, waits, over_30s):
    if waits is not None:
        assert erlang_c(traffic, servers) == pytest.approx(waits, rel=1e-12)
    assert wait_exceeds(traffic, servers, 30, 180) == pytest.approx(over_30s, rel=1e-12)


def test_mean_wait_reference():
    assert mean_wait(10, 12, 180) == pytest.approx(40.445, abs=1e-3)
    assert mean_wait(12, 12, 180) == math.inf


@pytest.mark.parametrize(("traffic", "servers"), [(10, 18), (100, 117), (1000, 1029), (30, 42)])
def test_fewest_servers_for_one_percent_blocking(traffic, servers):
    assert servers_for_blocking(traffic, 0.01) == servers


@pytest.mark.parametrize(("traffic", "servers"), [(10, 17), (30, 41), (100, 115), (1000, 1022)])
def test_fewest_servers_for_wait_target(traffic, servers):
    assert servers_for_wait(traffic, 30, 0.01, 180) == servers


def test_edges():
    assert erlang_b(0, 3) == 0.0
    assert erlang_b(5, 0) == 1.0
    assert erlang_c(0, 3) == 0.0
    assert erlang_c(5, 5) == 1.0
    assert offered_traffic(600, 180) == 30.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang_b(-1, 3), "traffic_erlangs"),
        (lambda: erlang_b(1, 2.5), "servers"),
        (lambda: erlang_c(math.nan, 2), "traffic_erlangs"),
        (lambda: servers_for_blocking(10, 0), "max_blocking"),
        (lambda: wait_exceeds(1, 2, 30, 0), "mean_holding_seconds"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- any scale: the whole range a planner can type ---------------------------------------

_channels = st.integers(min_value=0, max_value=100_000)
_traffic = st.floats(min_value=0, max_value=200_000, allow_nan=False)
_seconds = st.floats(min_value=0, max_value=86_400, allow_nan=False)
_holding = st.floats(min_value=0.01, max_value=86_400, allow_nan=False)


def _is_share(value):
    return not math.isnan(value) and 0.0 <= value <= 1.0


@settings(max_examples=150, deadline=None)
@given(traffic=_traffic, servers=_channels, hold=_holding, seconds=_seconds)
def test_erlang_formulas_never_fail_nor_give_nan(traffic, servers, hold, seconds):
    assert _is_share(erlang_b(traffic, servers))
    assert _is_share(erlang_c(traffic, servers))
    assert _is_share(wait_exceeds(traffic, servers, seconds, hold))
    assert not math.isnan(mean_wait(traffic, servers, hold))


@settings(max_examples=150, deadline=None)
@given(traffic=_traffic, servers=_channels, hold=_holding, patience=_seconds, within=_seconds)
def test_impatient_never_fails_nor_gives_nan(traffic, servers, hold, patience, within):
    model = Impatient(traffic, servers, hold, patience)
    served = model.served_within(within)
    assert _is_share(served)
    assert served <= model.served_within(max(within, patience)) + 1e-12
    assert _is_share(model.gave_up)
    wait = model.mean_wait
    assert not math.isnan(wait) and 0.0 <= wait <= patience * (1 + 1e-9)


@pytest.mark.parametrize(
    ("traffic", "servers", "hold", "patience"),
    [(1, 200, 60, 30), (0.5, 100_000, 180, 30), (1e-9, 50, 180, 30), (150_000, 100_000, 180, 60)],
)
def test_impatient_where_the_recursion_underflows(traffic, servers, hold, patience):
    model = Impatient(traffic, servers, hold, patience)
    many = traffic < servers / 2
    assert model.served_within(patience) == pytest.approx(
        1.0 if many else 100_000 / 150_000, rel=1e-2
    )


@pytest.mark.parametrize(
    ("model", "within", "expected"),
    [  # (served within, gave up, mean wait) from the direct float form, where it computes
        (Impatient(30, 35, 180, 30), 30, (0.9802364183121149, 0.019763581687885057, 2.92196500617)),
        (Impatient(50, 35, 180, 600), 10, (2.904848495530667e-22, 0.3, 591.6)),
        (Impatient(30, 30, 180, 30), 10, (0.6546996407512887, 0.07968469828816416, 8.36689332025)),
        (Impatient(3, 1, 180, 30), 10, (0.20349939878790085, 0.7243342402753279, 23.3553673115)),
    ],
)
def test_impatient_agrees_with_the_direct_form_where_both_compute(model, within, expected):
    served, gave_up, wait = expected
    assert model.served_within(within) == pytest.approx(served, rel=1e-9)
    assert model.gave_up == pytest.approx(gave_up, rel=1e-9)
    assert model.mean_wait == pytest.approx(wait, rel=1e-9)


@pytest.mark.parametrize(
    ("traffic", "servers"), [(30, 200), (1, 5000), (1000, 1500), (5000, 20000), (0.001, 300)]
)
def test_log_inverse_erlang_b_agrees_with_its_recursion_all_the_way(traffic, servers):
    """Far past the load the recursion's 1 + stops counting: the closed form takes over."""
    inverse = 0.0
    for n in range(1, servers + 1):
        step = inverse + math.log(n / traffic)
        inverse = step + math.log1p(math.exp(-step))
    assert log_inverse_erlang_b(traffic, servers) == pytest.approx(inverse, rel=1e-12)


def test_the_formulas_answer_at_the_largest_pools():
    # 10,000 numbers of 100,000 channels: the work grows with the load, not the channels
    assert Impatient(1e6, 100_000 * 10_000, 180, 30).served_within(30) == 1.0
    assert Impatient(1e6, 100_000 * 10_000, 180, 30).mean_wait == 0.0
    assert erlang_b(10, 10**9) == 0.0
