"""evaluate(): what a pool of N numbers gets, against the formulas and the simulator."""

import csv
import io
import json
import math

import matplotlib
import pytest

from numsim.formulas.analytic import offered_load
from numsim.planning import evaluate
from numsim.planning.steady import steady_state
from numsim.sim import Arrivals, CallModel, Distribution, NumberGroup, Scenario, replicate
from numsim.sim.run import with_numbers

matplotlib.use("Agg")


def waiting_load(group=None, calls_per_hour=316.0, hold=600.0, wait=60.0):
    return Scenario(
        name="load",
        numbers=(group or NumberGroup(provider="twilio", count=1),),
        arrivals=(Arrivals(calls_per_hour=calls_per_hour, country="US"),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=hold)),
        hours=8.0,
        max_wait_seconds=wait,
    )


def test_evaluate_agrees_with_the_formula_where_it_is_exact():
    evaluation = evaluate(waiting_load(), [40, 44, 48], workers=1, progress=False)
    assert evaluation.formula_blind_spot is None
    assert evaluation.warmup_hours == pytest.approx((6 * 600 + 3 * 60) / 3600)
    table = evaluation.table
    assert list(table.index) == [40, 44, 48]
    for n, row in table.iterrows():
        exact = row["formula_service_level"]
        assert row["service_level_low"] - 0.005 <= exact <= row["service_level_high"] + 0.005, n
        assert row["wait_mean"] == pytest.approx(row["formula_wait_mean"], rel=0.08)
        assert row["abandoned"] == pytest.approx(row["formula_abandoned"], abs=0.015)
        assert row["occupancy"] == pytest.approx(row["formula_occupancy"], abs=0.01)
        assert row["refused_busy"] == pytest.approx(row["abandoned"], abs=1e-3)
        assert row["cost_per_month"] == pytest.approx(1.15 * n)
    # More numbers: a better service level, a shorter wait.
    assert table["service_level"].is_monotonic_increasing
    assert table["wait_mean"].is_monotonic_decreasing


def test_evaluate_figures_are_the_simulators():
    """With caps (no exact formula), each row is the simulator's own runs of that size."""
    group = NumberGroup(provider="plivo", count=1, channels=2, max_calls_per_hour=20)
    scenario = waiting_load(group, calls_per_hour=400, hold=120, wait=20)
    evaluation = evaluate(scenario, [12, 16], replications=4, seed=7, workers=1, progress=False)
    assert evaluation.formula_blind_spot == "caps"
    assert "formula_service_level" not in evaluation.table
    steady = steady_state(scenario, offered_load(scenario))
    for n, row in evaluation.table.iterrows():
        runs = replicate(with_numbers(steady, n), 4, seed=7, workers=1)
        assert row["wait_mean"] == pytest.approx(runs.interval("wait_mean")[0])
        assert row["occupancy"] == pytest.approx(runs.interval("utilization")[0])
        placed = sum(s["served"] for s in runs.summaries) / (4 * n * 8.0)
        assert row["calls_per_number_hour"] == pytest.approx(placed)
        assert row["calls_per_number_hour"] <= row["cap_per_hour"] == 20
        assert row["channels_per_number"] == 2
    assert evaluation.table.loc[12, "refused_hourly_cap"] > 0


def test_evaluate_plot_and_bad_input():
    evaluation = evaluate(waiting_load(), [43, 44], replications=2, workers=1, progress=False)
    ax = evaluation.plot(target=0.8)
    assert all(float(t).is_integer() for t in ax.get_xticks())
    assert "M/M/c+D (exact here)" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="numbers must be whole numbers >= 1"):
        evaluate(waiting_load(), [0], progress=False)
    with pytest.raises(ValueError, match="replications"):
        evaluate(waiting_load(), [3], replications=1, progress=False)


def test_cli_evaluate_table_json_csv(capsys):
    from numsim.cli import main

    flags = ["--calls-per-hour", "316", "--mean-duration", "600", "--max-wait", "60"]
    flags += ["--numbers", "42,44", "--replications", "3", "--workers", "1"]
    assert main(["evaluate", *flags]) == 0
    out = capsys.readouterr().out
    assert "M/M/c+D is exact here" in out and "ASA s" in out and "\n44 " in out
    assert main(["evaluate", *flags, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["numbers"] for row in data["rows"]] == [42, 44]
    assert data["rows"][1]["cap_per_hour"] is None  # no cap: null, not NaN
    assert 0.75 < data["rows"][1]["service_level"] < 0.9
    assert main(["evaluate", *flags, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["numbers"]) for r in rows] == [42, 44]
    assert math.isclose(float(rows[1]["service_level"]), data["rows"][1]["service_level"])


@pytest.mark.parametrize("value", ["x", "0", "3,,4"])
def test_cli_evaluate_bad_numbers(capsys, value):
    from numsim.cli import main

    assert main(["evaluate", "--numbers", value]) == 1
    err = capsys.readouterr().err
    assert "--numbers" in err and "Traceback" not in err
