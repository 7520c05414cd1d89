"""Erlang formulas against exact reference values (research/capacity.md, §7)."""

import math

import pytest

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
