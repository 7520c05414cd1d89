"""Campaigns sized from the command line, explained beside their closed form: an
estimate, and a floor no run beats."""

import json

import pytest

from numsim.planning import campaign_estimate
from numsim.sim import Scenario, replicate, simulate

CAMPAIGN = """
name = "600 contacts"
start = "2026-01-05T09:00"
timezone = "Asia/Kolkata"
[[numbers]]
provider = "plivo"
country = "IN"
count = 10
channels = {channels}
{cap}
[[campaigns]]
contacts = 600
country = "IN"
max_in_flight = 400
max_attempts = 3
redial_gap_seconds = 600
[call]
answer_probability = 0.35
ring_seconds = {{ kind = "constant", mean = 20 }}
talk_seconds = {{ kind = "lognormal", mean = 150, sigma = 0.8 }}
no_answer_seconds = {{ kind = "constant", mean = 30 }}
"""
CAPPED = CAMPAIGN.format(channels=4, cap="max_calls_per_hour = 40")
UNCAPPED = CAMPAIGN.format(channels=2, cap="")


def _file(tmp_path, text):
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def campaign(tmp_path):
    return _file(tmp_path, CAPPED)


def test_cli_sizes_a_campaign_by_its_deadline(capsys, campaign):
    from numsim.cli import main

    assert main(["size", campaign, "--finish-by", "8", "--workers", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["figure"] == "campaign_completion_hours"
    assert data["erlang_numbers"] == 4  # the estimate: 1,243.5 attempts / 8 h / 40 an hour
    assert data["floors"] == {"concurrency": 1, "hourly_cap": 4}  # / (8 + 1) h: 3.45
    assert data["numbers"] >= max(data["floors"].values())
    assert data["achieved"] <= 8
    assert data["service_level"] is None  # a service level means nothing for a campaign
    evidence = data["campaign"]
    assert evidence["binding_constraint"] == "hourly_cap"
    assert evidence["floor_hours"] == pytest.approx(evidence["estimate_hours"] - 1)
    assert evidence["dialler"][0]["redial_gap_seconds"] == 600
    assert main(["size", campaign, "--finish-by", "8", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "closed form: 4 numbers, an estimate" in out and "limited by hourly cap" in out
    assert "floor:       4 numbers at least" in out and "never the floor" in out
    assert "600 s apart" in out and "service" not in out


def test_a_campaign_answer_is_at_least_its_closed_form_where_that_is_a_floor(capsys, tmp_path):
    """Limited by its channels, a campaign's closed form is a floor (calls cannot hold
    more channel-hours than the pool has): the answer is at least it, and the answer
    and the size below it were confirmed with more runs than the probes."""
    from numsim.cli import main

    path = _file(tmp_path, UNCAPPED)
    assert main(["size", path, "--finish-by", "1", "--workers", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["campaign"]["binding_constraint"] == "concurrency"
    assert data["erlang_numbers"] == data["floors"]["concurrency"] == 14
    assert data["numbers"] >= data["erlang_numbers"]
    assert data["numbers"] - 1 in data["sizes_tried"]


def test_against_a_rolling_cap_a_run_beats_the_estimate_but_never_the_floor(tmp_path):
    """Each number spends its first hour's 40 calls at once: 8 numbers place 1,243.5
    expected attempts in four windows, done in about 3.4 h where attempts over 8 x 40
    an hour say 3.89 h. The floor counts each window starting full: 2.89 h."""
    scenario = Scenario.from_toml(_file(tmp_path, CAPPED.replace("count = 10", "count = 8")))
    estimate = campaign_estimate(scenario)
    assert estimate.hours == pytest.approx(1243.5 / 320)
    assert estimate.floor_hours == pytest.approx(1243.5 / 320 - 1)
    for seed in range(3):
        done = simulate(scenario, seed=seed).summary()["campaign_completion_hours"]
        assert estimate.floor_hours <= done < estimate.hours - 0.25


def test_cli_campaign_without_a_deadline_says_how(capsys, campaign):
    from numsim.cli import main

    assert main(["size", campaign, "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "--finish-by HOURS" in err and "Traceback" not in err
    assert main(["size", campaign, "--finish-by", "8", "--service-level", "0.9"]) == 1
    assert "drop --service-level" in capsys.readouterr().err


def test_evaluate_reports_a_campaigns_completion_per_pool_size(capsys, campaign):
    """Not a service level "within 0 s": the hours until the contacts are done, the
    figures campaign_completion() gives for each size."""
    from numsim.cli import main
    from numsim.planning import campaign_completion
    from numsim.sim.run import with_numbers

    argv = ["evaluate", campaign, "--numbers", "4,10", "--replications", "3", "--workers", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "served within" not in out and "hours until every contact" in out
    assert "--finish-by HOURS" in out  # where to go for the fewest numbers for a deadline
    assert main([*argv, "--json"]) == 0
    rows = {row["numbers"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    scenario = Scenario.from_toml(campaign)
    for n in (4, 10):
        done = campaign_completion(
            with_numbers(scenario, n), replications=3, workers=1, progress=False
        )
        assert rows[n]["hours"] == pytest.approx(done.hours)
        assert (rows[n]["hours_low"], rows[n]["hours_high"]) == pytest.approx((done.low, done.high))
        assert rows[n]["estimate_hours"] == pytest.approx(done.estimate.hours)
    assert rows[4]["hours"] > rows[10]["hours"]  # fewer numbers, later done
    assert "service_level" not in rows[4]


def test_evaluate_campaign_in_python_gives_the_clis_figures(capsys, campaign):
    """numsim.planning.evaluate_campaign(): hours until done per size, as the CLI
    prints them (one definition), its plot, and bad input named; evaluate() on a
    campaign points to it rather than give service levels that mean nothing."""
    import matplotlib

    matplotlib.use("Agg")
    from numsim.cli import main
    from numsim.planning import CampaignEvaluation, evaluate, evaluate_campaign

    scenario = Scenario.from_toml(campaign)
    evaluation = evaluate_campaign(scenario, [10, 4], replications=3, workers=1, progress=False)
    assert isinstance(evaluation, CampaignEvaluation)
    assert list(evaluation.table.index) == [4, 10]
    assert "service_level" not in evaluation.table
    argv = ["evaluate", campaign, "--numbers", "4,10", "--replications", "3", "--workers", "1"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(evaluation.to_dict()))
    ax = evaluation.plot(deadline=8)
    assert ax.get_ylabel() == "hours until every contact is done"
    with pytest.raises(ValueError, match="replications must be a whole number >= 2"):
        evaluate_campaign(scenario, [4], replications=1)
    with pytest.raises(ValueError, match="numbers must be whole numbers >= 1"):
        evaluate_campaign(scenario, [0])
    with pytest.raises(ValueError, match=r"evaluate_campaign\(scenario, numbers\) gives the hours"):
        evaluate(scenario, [4, 10])


def test_a_run_that_did_not_finish_counts_as_lasting_the_whole_run(capsys, tmp_path):
    """Runs that missed the scenario's hours are not left out (which made the figure
    look faster the more runs failed): each counts as lasting the whole run, the figure
    is then a lower bound, and the report says so."""
    from numsim.cli import main
    from numsim.planning import campaign_completion
    from numsim.sim.run import with_numbers

    path = _file(tmp_path, UNCAPPED.replace('name = "600 contacts"', 'name = "short"\nhours = 2'))
    scenario = Scenario.from_toml(path)
    done = campaign_completion(with_numbers(scenario, 2), replications=3, progress=False)
    assert done.finished == 0 and done.at_least
    assert (done.hours, done.low, done.high) == (2.0, 2.0, 2.0)
    runs = replicate(with_numbers(scenario, 2), 3, seed=0, workers=1)  # simulate, sweep()
    assert runs.interval("campaign_completion_hours") == (2.0, 2.0, 2.0)
    assert runs.summary().loc["campaign_finished", "mean"] == 0.0
    enough = campaign_completion(with_numbers(scenario, 10), replications=3, progress=False)
    assert enough.finished == 1 and not enough.at_least and enough.hours < 2
    argv = ["evaluate", path, "--numbers", "2,10", "--replications", "3", "--workers", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert ">=2.00" in out and "nan" not in out
    assert "did not finish within the scenario's 2 h" in out
