"""Peaks, not day averages: a profile is sized interval by interval."""

import json
from pathlib import Path

import matplotlib
import pytest

from numsim.planning import ServiceLevel, size_pool
from numsim.planning.intervals import size_intervals
from numsim.sim import Arrivals, CallModel, Distribution, NumberGroup, Scenario, simulate
from numsim.sim.run import with_numbers

matplotlib.use("Agg")
TARGET = ServiceLevel(0.9, within_seconds=30)


def peak_day(**changes):
    """12 hours at 100 calls an hour with one hour at 600 (Twilio, 180 s, 30 s wait)."""
    profile = (("09:00", "13:00", 100.0), ("13:00", "14:00", 600.0), ("14:00", "21:00", 100.0))
    return Scenario(
        name="peak",
        numbers=(NumberGroup(provider="twilio", count=1),),
        arrivals=(Arrivals(profile=profile, country="US"),),
        call=CallModel(answer_probability=1.0, talk_seconds=Distribution("exponential", mean=180)),
        hours=12.0,
        max_wait_seconds=30,
        **changes,
    )


def test_interval_sizing_table_and_chart():
    hourly = size_intervals(peak_day(), TARGET)
    assert len(hourly.table) == 12
    assert hourly.label() == "13:00-14:00" and hourly.peak_numbers == 29
    assert set(hourly.table["numbers"]) == {7, 29}
    quarters = size_intervals(peak_day(), TARGET, minutes=15)
    assert len(quarters.table) == 48 and quarters.peak_numbers == 29
    # A span ending mid-interval: the interval's mean rate.
    half = peak_day(start="2026-01-05T12:30")
    assert size_intervals(half, TARGET).table["calls_per_hour"].iloc[0] == pytest.approx(350)
    ax = hourly.plot(numbers=29)
    assert len(ax.patches) == 12
    with pytest.raises(ValueError, match="one of"):
        size_intervals(peak_day(), TARGET, minutes=20)


def test_profile_answer_meets_the_target_in_its_peak_hour():
    sizing = size_pool(peak_day(), target=TARGET, workers=1, progress=False)
    assert sizing.numbers >= max(sizing.floors.values())  # a floor is a floor
    assert sizing.floors["carried_load"] == 27
    assert sizing.day_average_numbers is not None and sizing.day_average_numbers < 27
    assert "13:00-14:00" in sizing.sized_for
    assert sizing.intervals is not None and sizing.intervals.peak_numbers == sizing.numbers
    # The day as it happens, with the answer: the peak hour's callers are served in time.
    served = attempts = 0
    for seed in range(6):
        calls = simulate(with_numbers(peak_day(), sizing.numbers), seed=seed).calls
        peak = calls[(calls["clock"].dt.hour == 13) & (calls["direction"] == "outbound")]
        served += int((peak["start"].notna() & (peak["wait"] <= 30 + 1e-9)).sum())
        attempts += len(peak)
    assert served / attempts >= 0.9
    # The day's average answer misses it.
    short = 0
    for seed in range(6):
        calls = simulate(with_numbers(peak_day(), sizing.day_average_numbers), seed=seed).calls
        peak = calls[(calls["clock"].dt.hour == 13) & (calls["direction"] == "outbound")]
        short += int((peak["start"].notna() & (peak["wait"] <= 30 + 1e-9)).sum())
    assert short / attempts < 0.85


def test_day_average_on_request_and_cli(capsys):
    average = size_pool(peak_day(), target=TARGET, workers=1, progress=False, interval_minutes=None)
    assert average.intervals is None and average.numbers < 27
    from numsim.cli import main

    path = Path(__file__).parent.parent / "data" / "scenarios" / "peak-hour.toml"  # peak_day()
    assert main(["size", str(path), "--workers", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["numbers"] == 29 and data["day_average_numbers"] < 27
    assert len(data["intervals"]) == 12 and data["intervals"][4]["numbers"] == 29
    assert main(["size", str(path), "--workers", "1", "--interval", "15"]) == 0
    out = capsys.readouterr().out
    assert "sized for:   the busiest 15 minutes, 13:00-13:15" in out and "13:45-14:00" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval", "15"], "--interval sizes a rate profile, and this load has a constant"),
        (["--day-average"], "--day-average sizes a rate profile"),
        (["--calls-per-hour", "300", "--interval", "30"], "drop --interval, or use a scenario"),
    ],
)
def test_interval_flags_without_a_profile_are_refused(capsys, argv, message):
    """Not ignored: the answer would be the constant rate's, as if the flag meant nothing."""
    from numsim.cli import main

    scenario = Path(__file__).parent.parent / "data" / "scenarios" / "twilio-600-per-hour.toml"
    assert main(["size", str(scenario), *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err
    assert "data/scenarios/peak-hour.toml" in err


def test_interval_and_day_average_together_are_refused(capsys):
    from numsim.cli import main

    scenario = Path(__file__).parent.parent / "data" / "scenarios" / "peak-hour.toml"
    assert main(["size", str(scenario), "--interval", "15", "--day-average"]) == 1
    assert "--day-average sizes the whole run" in capsys.readouterr().err
