"""Answers a planner can trust: steady state, a tolerance that respects the target."""

import json

import pytest

from numsim.formulas.erlang import Impatient
from numsim.planning import MaxBlocking, MaxMeanWait, ServiceLevel, size_pool
from numsim.sim import Arrivals, CallModel, Distribution, NumberGroup, Scenario

# Twilio questions and their exact M/M/c+D answers (calls an hour, mean hold, max wait,
# target, numbers).
EXACT_ROWS = [
    (3962, 600, 10, 0.95, 635),
    (4938, 600, 10, 0.999, 877),
    (316, 600, 60, 0.80, 44),
    (986, 600, 0, 0.80, 136),
    (1500, 240, 20, 0.85, 87),
]


def twilio_load(calls_per_hour, hold, wait, hours=8.0):
    return Scenario(
        name="load",
        numbers=(NumberGroup(provider="twilio", count=1),),
        arrivals=(Arrivals(calls_per_hour=calls_per_hour, country="US"),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=hold)),
        hours=hours,
        max_wait_seconds=wait,
    )


def exact_numbers(calls_per_hour, hold, wait, share):
    erlangs = calls_per_hour * hold / 3600.0
    n = 1
    while Impatient(erlangs, n, hold, wait).served_within(wait) < share:
        n += 1
    return n


@pytest.mark.parametrize(("per_hour", "hold", "wait", "share", "answer"), EXACT_ROWS)
def test_cli_answer_equals_the_exact_formula(capsys, per_hour, hold, wait, share, answer):
    from numsim.cli import main

    assert exact_numbers(per_hour, hold, wait, share) == answer  # the table is right
    flags = ["--calls-per-hour", str(per_hour), "--mean-duration", str(hold)]
    flags += ["--max-wait", str(wait), "--service-level", str(share), "--workers", "1"]
    assert main(["size", *flags, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["numbers"] == answer
    assert data["warmup_hours"] == pytest.approx((6 * hold + 3 * wait) / 3600)
    assert data["tolerance"] == pytest.approx(min(0.005, 0.1 * (1 - share)))


def test_tolerance_is_a_share_of_what_the_target_allows():
    assert ServiceLevel(0.999).tolerance() == pytest.approx(0.0001)
    assert "0.001 the target allows" in ServiceLevel(0.999).tolerance_basis()
    assert ServiceLevel(0.9).tolerance() == pytest.approx(0.005)  # never looser than 0.5 pt
    assert MaxBlocking(0.01).tolerance() == pytest.approx(0.001)
    assert MaxMeanWait(10).tolerance() == pytest.approx(0.2)
    assert MaxMeanWait(10).tolerance_basis() == "2% of the goal"


def test_simulated_search_runs_in_steady_state():
    """Without the formula, the search still simulates a pool that has forgotten it
    started empty: the counted hours and their clock times are the question's."""
    scenario = twilio_load(316, 600, 60)
    target = ServiceLevel(0.8, within_seconds=60)
    sizing = size_pool(scenario, target=target, workers=1, progress=False, formula_first=False)
    warmup = (6 * 600 + 3 * 60) / 3600
    assert sizing.warmup_hours == pytest.approx(warmup)
    assert sizing.to_dict()["warmup_hours"] == pytest.approx(warmup)
    assert sizing.numbers in (43, 44)  # 43 is 0.79993 exactly: no run can tell
    # The counted hours are the question's eight, not eight less the warm-up.
    attempts = sizing.table.loc[sizing.numbers, "attempts"]
    assert attempts == pytest.approx(316 * 8, rel=0.1)
    # The steady-state figure at the answer agrees with the exact one.
    exact = Impatient(316 * 600 / 3600, sizing.numbers, 600, 60).served_within(60)
    assert sizing.low - sizing.tolerance <= exact <= sizing.high + sizing.tolerance
    idle = size_pool(
        scenario, target=target, workers=1, progress=False, formula_first=False, steady_state=False
    )
    assert idle.warmup_hours == 0


def test_a_scenario_with_its_own_warmup_keeps_it():
    scenario = twilio_load(300, 60, 20).replace(warmup_hours=0.5)
    sizing = size_pool(scenario, target=ServiceLevel(0.9), workers=1, progress=False)
    assert sizing.warmup_hours == 0.5


def test_one_service_level_figure_in_python_text_and_json(capsys):
    from numsim.cli import main

    scenario = twilio_load(600, 180, 30, hours=4)
    target = ServiceLevel(0.9, within_seconds=30)
    sizing = size_pool(scenario, target=target, workers=1, progress=False, formula_first=False)
    data = sizing.to_dict()
    assert sizing.service_level == (sizing.achieved, sizing.low, sizing.high)
    assert (data["service_level"], data["service_level_low"], data["service_level_high"]) == (
        data["achieved"],
        data["achieved_low"],
        data["achieved_high"],
    )
    flags = ["--calls-per-hour", "600", "--mean-duration", "180", "--max-wait", "30"]
    assert main(["size", *flags, "--workers", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main(["size", *flags, "--workers", "1"]) == 0
    assert f"achieved:    {data['service_level']:.4f}" in capsys.readouterr().out


def test_cli_size_spare_groups_and_twilio_channels(capsys, tmp_path):
    from numsim.cli import main

    flags = ["--calls-per-hour", "600", "--mean-duration", "180", "--max-wait", "30"]
    assert main(["size", *flags, "--workers", "1", "--spare", "10%", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spare"] == 3 and data["numbers_with_spare"] == data["numbers"] + 3 == 32
    assert data["cost_per_month_with_spare"] == pytest.approx(32 * 1.15)
    assert main(["size", *flags, "--workers", "1", "--spare", "2", "--channels", "3"]) == 0
    captured = capsys.readouterr()
    assert "with spare:  29 + 2 = 31 numbers" in captured.out
    assert "counts 3 channels as 1" in captured.err
    assert main(["size", *flags, "--spare", "1.5"]) == 1
    assert "--spare takes" in capsys.readouterr().err
    assert main(["size", *flags, "--workers", "1", "--spare", "1000000"]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("--spare 1,000,000: 29 + 1,000,000 numbers is more than a pool holds (100,000)")
    )
    path = tmp_path / "two.toml"
    path.write_text(
        'name = "two groups"\nhours = 4\nmax_wait_seconds = 30\n'
        '[[numbers]]\nprovider = "twilio"\ncount = 10\n'
        '[[numbers]]\nprovider = "plivo"\ncount = 5\nchannels = 2\n'
        '[[arrivals]]\ncalls_per_hour = 600\ncountry = "US"\n'
        '[call]\nanswer_probability = 1.0\ntalk_seconds = { kind = "exponential", mean = 180 }\n'
    )
    assert main(["size", str(path), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "sized group: the first of 2 number groups (twilio)" in out and "5 plivo" in out


def test_sizing_plot_whole_sizes_and_labelled_curves():
    import matplotlib

    matplotlib.use("Agg")
    sizing = size_pool(
        twilio_load(600, 180, 30, hours=4), target=ServiceLevel(0.9), workers=1, progress=False
    )
    ax = sizing.plot()
    assert all(float(t).is_integer() for t in ax.get_xticks())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "M/M/c+D (callers give up)" in labels
    assert "Erlang (never give up; 0 when overloaded)" in labels
    # A curve, not the two sizes a confirmed formula answer simulates.
    assert len(sizing.estimate_curve) >= 10 and sizing.numbers in sizing.estimate_curve.index
    assert sizing.estimate_curve[sizing.numbers] >= 0.9 > sizing.estimate_curve[sizing.numbers - 1]
