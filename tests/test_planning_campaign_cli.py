"""Campaigns sized from the command line, explained beside their closed form."""

import json

import pytest

CAMPAIGN = """
name = "600 contacts"
start = "2026-01-05T09:00"
timezone = "Asia/Kolkata"
[[numbers]]
provider = "plivo"
country = "IN"
count = 10
channels = 4
max_calls_per_hour = 40
[[campaigns]]
contacts = 600
country = "IN"
max_in_flight = 400
max_attempts = 3
redial_gap_seconds = 600
[call]
answer_probability = 0.35
ring_seconds = { kind = "constant", mean = 20 }
talk_seconds = { kind = "lognormal", mean = 150, sigma = 0.8 }
no_answer_seconds = { kind = "constant", mean = 30 }
"""


@pytest.fixture
def campaign(tmp_path):
    path = tmp_path / "campaign.toml"
    path.write_text(CAMPAIGN)
    return str(path)


def test_cli_sizes_a_campaign_by_its_deadline(capsys, campaign):
    from numsim.cli import main

    assert main(["size", campaign, "--finish-by", "8", "--workers", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["figure"] == "campaign_completion_hours"
    assert data["erlang_numbers"] == 4  # 1,243.5 attempts / 8 h / 40 an hour
    assert data["numbers"] >= data["erlang_numbers"]
    assert data["achieved"] <= 8
    assert data["service_level"] is None  # a service level means nothing for a campaign
    evidence = data["campaign"]
    assert evidence["binding_constraint"] == "hourly_cap"
    assert evidence["dialler"][0]["redial_gap_seconds"] == 600
    # The answer and the size below were confirmed with more runs than the start.
    assert data["numbers"] - 1 in data["sizes_tried"]
    assert main(["size", campaign, "--finish-by", "8", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "closed form: 4 numbers" in out and "limited by hourly cap" in out
    assert "600 s apart" in out and "service" not in out


def test_cli_campaign_without_a_deadline_says_how(capsys, campaign):
    from numsim.cli import main

    assert main(["size", campaign, "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "--finish-by HOURS" in err and "Traceback" not in err
    assert main(["size", campaign, "--finish-by", "8", "--service-level", "0.9"]) == 1
    assert "drop --service-level" in capsys.readouterr().err
