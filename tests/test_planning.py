"""Capacity planning: size_pool() against the formulas and against independent runs."""

import dataclasses
import json
import math

import matplotlib
import pandas as pd
import pytest

from numsim.formulas.erlang import Impatient, mean_wait, wait_exceeds
from numsim.planning import (
    FinishBy,
    MaxBlocking,
    MaxMeanWait,
    PlanningError,
    ServiceLevel,
    campaign_completion,
    campaign_estimate,
    cost_per_month,
    erlang_b,
    offered_traffic,
    servers_for_blocking,
    servers_for_wait,
    size_pool,
)
from numsim.planning.exact import formula_blind_spot
from numsim.sim import (
    Arrivals,
    CallModel,
    Campaign,
    Distribution,
    NumberGroup,
    Scenario,
    replicate,
)

matplotlib.use("Agg")
HOLD = 60.0


def open_load(group, calls_per_hour=300.0, hours=10.0, **changes):
    return Scenario(
        name="load",
        numbers=(group,),
        arrivals=(Arrivals(calls_per_hour=calls_per_hour, country="US"),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=HOLD)),
        hours=hours,
        **changes,
    )


def fast(scenario, target, **options):
    return size_pool(scenario, target=target, workers=1, progress=False, **options)


# -- the module ---------------------------------------------------------------------------


def test_planning_names_and_a_light_import():
    import subprocess
    import sys

    import numsim.planning

    names = {"size_pool", "Sizing", "PlanningError", "ServiceLevel", "campaign_completion"}
    assert names <= set(numsim.planning.__all__)
    for name in numsim.planning.__all__:
        assert getattr(numsim.planning, name) is not None
    # The formulas, targets and costs need only the core; sizing imports the simulator.
    code = (
        "import sys, numsim.planning as p; p.erlang_b(1, 2); p.MaxBlocking(0.01); "
        "print(sorted({'pandas', 'numpy', 'simpy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the formulas ---------------------------------------------------------------------------


def test_impatient_callers_reduce_to_erlang_b_and_c():
    # Patience 0 is Erlang B; endless patience is Erlang C (reference values).
    assert Impatient(10, 12, 180, 0).gave_up == pytest.approx(erlang_b(10, 12), rel=1e-12)
    patient = Impatient(10, 12, 180, 1e6)
    assert 1 - patient.served_within(0) == pytest.approx(0.44938822429827087, rel=1e-12)
    assert 1 - patient.served_within(30) == pytest.approx(0.32200073331286799, rel=1e-12)
    assert patient.mean_wait == pytest.approx(mean_wait(10, 12, 180), rel=1e-12)
    # Overloaded with long patience: what the pool carries leaves, nothing overflows.
    assert Impatient(30, 10, 180, 1e7).gave_up == pytest.approx(2 / 3)
    # Giving up helps those who stay: between Erlang C and no waiting at all.
    middle = Impatient(30, 33, 180, 30).served_within(30)
    assert 1 - wait_exceeds(30, 33, 30, 180) < middle < 1
    with pytest.raises(ValueError, match="patience_seconds"):
        Impatient(1, 1, 180, -1)


def test_impatient_callers_match_simulation():
    scenario = open_load(NumberGroup(count=6), max_wait_seconds=20.0, warmup_hours=1.0)
    runs = replicate(scenario, 6, seed=3, workers=1)
    model = Impatient(offered_traffic(300, HOLD), 6, HOLD, 20.0)
    _, low, high = runs.interval("service_level", 0.99)
    assert low <= model.served_within(20) <= high
    assert runs.summary().loc["service_level", "erlang"] == pytest.approx(model.served_within(20))


def test_control_variate_narrows_the_interval_around_the_same_truth():
    import random
    import statistics

    from numsim.sim.run import controlled_interval, interval

    rng = random.Random(4)
    counts = [rng.gauss(100, 10) for _ in range(20)]  # known mean 100
    levels = [0.9 - 0.004 * (c - 100) + rng.gauss(0, 0.005) for c in counts]
    plain = interval(levels, proportion=True)
    mean, low, high = controlled_interval(levels, counts, 100.0, proportion=True)
    assert abs(mean - 0.9) < abs(statistics.fmean(levels) - 0.9) + 0.002
    assert high - low < (plain[2] - plain[1]) / 3
    assert low <= 0.9 <= high
    # Controls that do not vary: the plain interval.
    assert controlled_interval(levels, [5.0] * 20, 5.0) == interval(levels)


def test_cost_table_defaults_and_overrides():
    assert cost_per_month("twilio", 10) == 11.5
    assert cost_per_month("plivo", 10, {"plivo": 0.8}) == 8.0
    assert cost_per_month("exotel", 10) is None  # sold in plans: no list price
    assert cost_per_month("exotel", 4, {"exotel": 2.5}) == 10.0
    with pytest.raises(ValueError, match="price of a twilio number"):
        cost_per_month("twilio", 1, {"twilio": -1})


def test_campaign_estimate_names_the_tightest_limit():
    scenario = Scenario(
        numbers=(NumberGroup(provider="plivo", count=4, channels=5, max_calls_per_hour=30),),
        campaigns=(Campaign(contacts=1000, country="US", max_in_flight=100, max_attempts=2),),
        call=CallModel(answer_probability=0.5, talk_seconds=Distribution("constant", mean=60)),
    )
    estimate = campaign_estimate(scenario)
    assert estimate.attempts == pytest.approx(1000 * 1.5)  # 1 + 0.5 attempts per contact
    assert estimate.limits["hourly_cap"] == 120 and estimate.binding_constraint == "hourly_cap"
    assert estimate.hours == pytest.approx(1500 / 120)
    # Caps lifted: the redials' one-hour gap takes longer than dialling at the pacing.
    assert campaign_estimate(scenario, numbers=400).binding_constraint == "redial_gap"
    no_gap = dataclasses.replace(scenario.campaigns[0], redial_gap_seconds=0.0)
    scenario = scenario.replace(campaigns=(no_gap,))
    assert campaign_estimate(scenario, numbers=400).binding_constraint == "campaign_pacing"


# -- sizing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "per_number"),
    [
        (NumberGroup(provider="twilio", count=1), 1),
        (NumberGroup(provider="plivo", count=1, channels=3), 3),
    ],
    ids=["twilio", "plivo-3-channels"],
)
def test_loss_target_matches_erlang_b(group, per_number):
    sizing = fast(open_load(group), MaxBlocking(0.02))
    channels = servers_for_blocking(offered_traffic(300, HOLD), 0.02)
    assert sizing.erlang_numbers == math.ceil(channels / per_number)
    assert abs(sizing.numbers - sizing.erlang_numbers) <= 1
    assert sizing.binding_constraint == "concurrency"
    assert sizing.achieved <= 0.02 and sizing.numbers in sizing.sizes_tried
    row = sizing.table.loc[sizing.numbers]
    assert row["met"] and row["erlang"] == pytest.approx(
        erlang_b(offered_traffic(300, HOLD), sizing.numbers * per_number)
    )


def test_hourly_cap_binding():
    # 200 calls an hour, 20 a number per rolling hour: the caps, not the channels, bind.
    group = NumberGroup(provider="plivo", count=1, channels=10, country="IN", max_calls_per_hour=20)
    scenario = open_load(group, calls_per_hour=200.0, hours=5.0, warmup_hours=1.0)
    scenario = scenario.replace(arrivals=(Arrivals(calls_per_hour=200.0, country="GB"),))
    target = MaxBlocking(0.05)
    sizing = fast(scenario, target)
    assert sizing.numbers >= sizing.floors["hourly_cap"] == math.ceil(200 * 0.95 / 20)
    assert sizing.binding_constraint == "hourly_cap"
    assert sizing.erlang_numbers < sizing.floors["hourly_cap"]  # Erlang B alone is wrong here
    # Independent runs (other seeds) of the named pool meet the target; one fewer does not.
    for numbers, meets in ((sizing.numbers, True), (sizing.numbers - 1, False)):
        pool = scenario.replace(numbers=(dataclasses.replace(group, count=numbers),))
        mean, _, _ = replicate(pool, 5, seed=1000, workers=1).interval("pool_blocked_fraction")
        assert target.met(mean) is meets, (numbers, mean)


def test_waiting_target_between_carried_load_and_erlang_c():
    scenario = open_load(NumberGroup(count=1), max_wait_seconds=20.0, warmup_hours=1.0)
    target = ServiceLevel(0.85)
    sizing = fast(scenario, target)
    traffic = offered_traffic(300, HOLD)
    erlang_c_numbers = servers_for_wait(traffic, 20.0, 0.15, HOLD)
    assert sizing.erlang_numbers == erlang_c_numbers
    assert sizing.floors["carried_load"] <= sizing.numbers <= erlang_c_numbers
    # Against an independent simulation: the answer is not clearly short of the target,
    # one number fewer is not clearly above it.
    for numbers, side in ((sizing.numbers, "high"), (sizing.numbers - 1, "low")):
        group = NumberGroup(count=numbers)
        runs = replicate(scenario.replace(numbers=(group,)), 10, seed=500, workers=1)
        _, low, high = runs.interval("pool_service_level")
        assert (high >= 0.85) if side == "high" else (low < 0.85)


def test_mean_wait_target():
    scenario = open_load(NumberGroup(count=1), max_wait_seconds=120.0)
    sizing = fast(scenario, MaxMeanWait(5.0))
    assert sizing.achieved <= 5.0
    assert sizing.table.loc[sizing.numbers - 1, "mean"] > 5.0 or sizing.numbers - 1 < min(
        sizing.sizes_tried
    )
    assert mean_wait(offered_traffic(300, HOLD), sizing.erlang_numbers, HOLD) <= 5.0


def test_campaign_deadline():
    scenario = Scenario(
        numbers=(NumberGroup(count=1),),
        campaigns=(Campaign(contacts=200, country="US", max_in_flight=20, max_attempts=1),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=HOLD)),
    )
    sizing = fast(scenario, FinishBy(hours=2.0), replications=3)
    assert sizing.achieved <= 2.0
    below = sizing.numbers - 1  # misses the deadline, or is below the floor no run beats
    assert sizing.table["mean"].get(below, 99) > 2.0 or below < max(sizing.floors.values())
    assert sizing.erlang_numbers is not None and sizing.binding_constraint == "concurrency"
    with pytest.raises(PlanningError, match="campaign_pacing"):
        fast(scenario, FinishBy(hours=0.1))  # 200 calls at 20 in flight take longer


def test_a_campaign_is_refused_only_by_its_floor_not_by_its_estimate():
    """Calling hours stretch the estimate over the day (open 12 h of 24: 0.5 h of
    dialling reads 1 h), but a campaign that starts as they open dials straight
    through: only a limit's floor past the deadline proves that no pool helps."""
    scenario = Scenario(
        start="2026-01-05T09:00",
        timezone="Asia/Kolkata",
        calling_hours="default",
        numbers=(NumberGroup(provider="plivo", country="IN", count=1, channels=5),),
        campaigns=(Campaign(contacts=300, country="IN", max_in_flight=10, max_attempts=1),),
        call=CallModel(talk_seconds=Distribution("constant", mean=60.0)),
    )
    estimate = campaign_estimate(scenario, numbers=100)
    assert estimate.binding_constraint == "campaign_pacing" and estimate.hours == 1.0
    assert estimate.floor_hours == 0.5  # 300 calls of 60 s, 10 at a time
    sizing = fast(scenario, FinishBy(hours=0.8))
    assert sizing.achieved <= 0.8 and sizing.numbers == sizing.floors["concurrency"] == 2
    with pytest.raises(PlanningError, match="campaign_pacing: even 10000 numbers need at least"):
        fast(scenario, FinishBy(hours=0.4))


def test_a_campaign_search_halves_its_way_down_from_a_far_estimate():
    """A daily cap spread over the day puts a one-day campaign's estimate at twice its
    answer: below the estimate and the size under it, the search halves toward the
    floor instead of galloping one, two, four... numbers at a time."""
    from numsim.planning.sizing import _Search

    scenario = Scenario(
        numbers=(NumberGroup(count=1),),
        campaigns=(Campaign(contacts=10, country="US", max_in_flight=2),),
    )

    def run(tasks):  # completion by pool size alone: 21 numbers or more finish in 8 h
        return [
            {"campaign_completion_hours": 8.0 if v.numbers[0].count >= 21 else 25.0, "attempts": 1}
            for v, _ in tasks
        ]

    def search():
        options = dict(seed=0, replications=3, max_replications=6, confidence=0.95)
        return _Search(scenario, FinishBy(24.0), run, tolerance=0.5, **options)

    halving, galloping = search(), search()
    assert halving.fewest(11, 42, 1000, halving=True) == 21 == galloping.fewest(11, 42, 1000)
    assert sorted(halving.points) == [18, 20, 21, 22, 26, 41, 42]
    assert len(galloping.points) == 10


def test_campaign_completion_with_interval_and_estimate():
    scenario = Scenario(
        numbers=(NumberGroup(count=5),),
        campaigns=(Campaign(contacts=200, country="US", max_in_flight=20, max_attempts=1),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=HOLD)),
    )
    done = campaign_completion(scenario, replications=3, workers=1, progress=False)
    assert done.finished == 1.0 and done.low <= done.hours <= done.high
    # 5 numbers carry 300 calls an hour; the dialler's 20 in flight would allow 1,200.
    assert done.binding_constraint == "concurrency"
    assert done.estimate.hours == pytest.approx(200 / 300)
    assert abs(done.hours - done.estimate.hours) < 0.2 * done.estimate.hours


def test_sizing_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    scenario = open_load(NumberGroup(count=1), hours=4.0)
    with (
        distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = size_pool(
            scenario, target=MaxBlocking(0.05), executor=client.get_executor(), progress=False
        )
    pd.testing.assert_frame_equal(on_dask.table, fast(scenario, MaxBlocking(0.05)).table)


def test_parallel_and_serial_sizing_give_identical_tables():
    scenario = open_load(NumberGroup(count=1), hours=4.0)
    serial = fast(scenario, MaxBlocking(0.05))
    parallel = size_pool(scenario, target=MaxBlocking(0.05), workers=2, progress=False)
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    assert serial.numbers == parallel.numbers
    assert serial.attempts_simulated == parallel.attempts_simulated > 0


def test_sizing_evidence_and_plot():
    sizing = fast(open_load(NumberGroup(count=1), hours=4.0), MaxBlocking(0.05))
    data = sizing.to_dict()
    json.dumps(data)
    assert data["numbers"] == sizing.numbers and data["cost_per_month"] == round(
        1.15 * sizing.numbers, 2
    )
    assert 0 <= data["service_level_low"] <= data["service_level"] <= data["service_level_high"]
    assert isinstance(sizing.plot(), matplotlib.axes.Axes)
    assert "binding" in sizing._repr_html_()


def test_sizing_refuses_what_no_pool_can_meet():
    scenario = open_load(NumberGroup(count=1), calls_per_second={"twilio": 0.05})
    with pytest.raises(PlanningError, match="account_pacing"):
        fast(scenario, MaxBlocking(0.05))  # 180 calls an hour paced, 300 offered
    with pytest.raises(ValueError, match="campaigns"):
        fast(open_load(NumberGroup(count=1)), FinishBy(hours=1))
    with pytest.raises(ValueError, match="replications"):
        fast(open_load(NumberGroup(count=1)), MaxBlocking(0.05), replications=1)
    with pytest.raises(ValueError, match="share"):
        MaxBlocking(1.5)


# -- command line ---------------------------------------------------------------------------


def test_cli_size_json(capsys):
    from numsim.cli import main

    flags = ["--calls-per-hour", "300", "--mean-duration", "60", "--hours", "4", "--workers", "1"]
    assert main(["size", *flags, "--max-wait", "20", "--service-level", "0.9", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    keys = {
        "numbers",
        "service_level",
        "service_level_low",
        "service_level_high",
        "erlang_numbers",
        "binding_constraint",
        "sizes_tried",
        "attempts_simulated",
        "cost_per_month",
    }
    assert keys <= set(data)
    assert data["service_level"] >= 0.9 - 0.02 and data["numbers"] in data["sizes_tried"]
    assert main(["size", *flags, "--price-per-month", "2"]) == 0
    out = capsys.readouterr().out
    assert "twilio numbers" in out and "binding:" in out and "Erlang" in out


def test_cli_size_bad_input(capsys):
    from numsim.cli import main

    assert main(["size", "--service-level", "1.5"]) == 1
    assert main(["size", "--workers", "2", "--dask-scheduler", "tcp://x:1"]) == 1
    err = capsys.readouterr().err
    assert "service-level" in err and "not allowed with" in err and "Traceback" not in err


def _load(profile=None, hours=8.0, cap_hour=None, cap_day=None):
    arrivals = Arrivals(profile=profile) if profile else Arrivals(calls_per_hour=100.0)
    return Scenario(
        name="floors",
        numbers=(
            NumberGroup(
                provider="plivo", count=5, max_calls_per_hour=cap_hour, max_calls_per_day=cap_day
            ),
        ),
        arrivals=(arrivals,),
        hours=hours,
    )


def test_only_floors_a_run_can_prove_let_the_search_skip_sizes():
    from numsim.planning.sizing import _proven

    floors = {"carried_load": 2, "hourly_cap": 18, "daily_cap": 3}
    assert _proven(floors, _load(hours=8)) == 18
    assert _proven(floors, _load(hours=0.5)) == 2  # half an hour: fewer calls than a cap's hour
    assert _proven(floors, _load(profile=[100.0] * 24)) == 1  # a profile proves nothing


def test_a_profile_counts_only_the_hours_a_run_covers_toward_the_daily_cap():
    from numsim.formulas.analytic import offered_load

    constant = offered_load(_load(hours=8))
    profile = offered_load(_load(profile=[100.0] * 24, hours=8))
    assert profile.calls_per_day == pytest.approx(constant.calls_per_day)


def test_replications_past_the_attempts_bound_are_refused_before_running():
    with pytest.raises(ValueError, match="replications would make up to"):
        replicate(_load(hours=0.2), 10**12, workers=1)


# -- the formula first, where it is exact ---------------------------------------------------


def _question(group, calls_per_hour, hold, max_wait):
    return Scenario(
        name="question",
        numbers=(group,),
        arrivals=(Arrivals(calls_per_hour=calls_per_hour),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=hold)),
        hours=8.0,
        max_wait_seconds=max_wait,
    )


@pytest.mark.parametrize(
    ("scenario", "target"),
    [
        (_question(NumberGroup(count=1), 300, 180, 20), ServiceLevel(0.85)),
        (_question(NumberGroup(count=1), 600, 60, 0), MaxBlocking(0.02)),
        (
            _question(NumberGroup(provider="plivo", channels=3, count=1), 900, 120, 10),
            ServiceLevel(0.9),
        ),
        (_question(NumberGroup(count=1), 300, 180, 120), MaxMeanWait(5.0)),
        (_question(NumberGroup(count=1), 1200, 90, 30), ServiceLevel(0.95, within_seconds=10)),
    ],
    ids=["waiting", "loss", "plivo-channels", "mean-wait", "within-less-than-max-wait"],
)
def test_formula_first_answers_equal_the_simulated_search(scenario, target):
    formula = fast(scenario, target)
    search = fast(scenario, target, formula_first=False)
    assert formula.found_by == "formula" and formula.decided_by == "formula"
    assert formula.formula_blind_spot is None
    assert formula.numbers == formula.estimate_numbers == search.numbers
    assert search.found_by == "simulation" and search.decided_by != "formula"
    # Only the answer and one fewer are simulated, in fewer attempts than the search.
    assert set(formula.sizes_tried) <= {formula.numbers, formula.numbers - 1}
    assert formula.attempts_simulated < search.attempts_simulated
    assert formula.table.loc[formula.numbers, "met"]
    assert formula.to_dict()["found_by"] == "formula"


@pytest.mark.parametrize(
    ("change", "blind_spot"),
    [
        ({"numbers": (NumberGroup(count=1, max_calls_per_hour=40),)}, "caps"),
        ({"arrivals": (Arrivals(profile=(300.0,) * 24),)}, "a rate profile"),
        ({"calls_per_second": {"twilio": 1.0}}, "account pacing"),
        ({"calling_hours": "default"}, "calling hours"),
        ({"call": CallModel(answer_probability=0.7)}, "non-exponential holding times"),
        (
            {"numbers": (NumberGroup(count=1, stir_shaken_attested=False),)},
            "numbers that may not call the destinations",
        ),
    ],
)
def test_where_the_formula_is_blind_the_search_answers(change, blind_spot):
    scenario = _question(NumberGroup(count=1), 300, 180, 20).replace(hours=3.0, **change)
    assert formula_blind_spot(scenario) == blind_spot
    if blind_spot == "caps":
        sizing = fast(scenario, ServiceLevel(0.8))
        assert sizing.found_by == "simulation" and sizing.formula_blind_spot == "caps"


def test_runs_that_disagree_with_the_formula_hand_over_to_the_search(monkeypatch):
    scenario = _question(NumberGroup(count=1), 300, 180, 20)
    real = Impatient.served_within
    monkeypatch.setattr(Impatient, "served_within", lambda self, s: real(self, s) ** 3)
    sizing = fast(scenario, ServiceLevel(0.85))
    assert sizing.found_by == "simulation" and sizing.formula_blind_spot is None
    assert sizing.decided_by in ("interval", "tolerance")
    assert sizing.numbers == 15  # the search's answer, not the skewed formula's


def test_every_planning_refusal_is_a_numsim_error_naming_what_is_wrong():
    """The README promises one clause, `except numsim.NumsimError`, for every error
    numsim raises on purpose; planning raised plain ValueErrors (and an AttributeError
    for a bare number as the target)."""
    import numsim
    from numsim.planning import evaluate, evaluate_campaign, size_intervals

    twilio = NumberGroup(count=3, provider="twilio")
    open_ = open_load(twilio)
    campaign = Scenario(
        name="list",
        numbers=(twilio,),
        campaigns=(Campaign(contacts=50, country="US", max_in_flight=3),),
        call=CallModel(talk_seconds=Distribution("exponential", mean=HOLD)),
    )
    cases = {
        "a campaign has no service level": lambda: evaluate(campaign, [3]),
        "the scenario's load is campaigns": lambda: fast(campaign, ServiceLevel(0.9)),
        "numbers must be whole numbers": lambda: evaluate(open_, [0]),
        "a FinishBy target needs a scenario with campaigns": lambda: fast(open_, FinishBy(5)),
        "share must be": lambda: ServiceLevel(1.5),
        "share must be strictly between 0 and 1, got -1": lambda: MaxBlocking(-1),
        "hours must be": lambda: FinishBy(hours=0),
        "target must be a Target such as ServiceLevel": lambda: fast(open_, 0.9),
        "target must be a Target such": lambda: size_intervals(open_, 0.9),
        "max_numbers must be a whole number >= 1": lambda: size_intervals(
            open_, ServiceLevel(0.9), max_numbers=0
        ),
        "no campaigns": lambda: evaluate_campaign(open_, [3], replications=2),
    }
    for words, call in cases.items():
        with pytest.raises(PlanningError, match=words) as raised:
            call()
        assert isinstance(raised.value, numsim.NumsimError) and isinstance(raised.value, ValueError)
