"""The benchmark check catches a slowed allocator (CI runs the real check on main)."""

import time

from benchmarks.__main__ import run_groups
from benchmarks.check import check

from numsim import MemoryBackend

BASELINE = {
    "benchmarks": {
        "allocator_vs_limits": {"group": "allocator", "ratio": 0.95, "tolerance": 0.35},
    }
}


def test_check_fails_on_a_deliberately_slowed_allocator(monkeypatch, capsys):
    original = MemoryBackend.grant  # what Allocator.acquire calls

    def slowed(self, *args, **kwargs):  # ~20 µs more per acquire: a 6x regression
        until = time.perf_counter() + 20e-6
        while time.perf_counter() < until:
            pass
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MemoryBackend, "grant", slowed)
    only = {"allocator_vs_limits"}
    report = {"benchmarks": run_groups(["allocator"], 3, only=only, scale=0.05)}
    assert check(report, BASELINE, ["allocator"], 3, scale=0.05) == 1
    out = capsys.readouterr().out
    assert "running it again" in out  # a failing benchmark gets a second chance
    assert "REGRESSION allocator_vs_limits: ratio" in out
    assert "worse than the accepted 0.950 by more than 35%" in out


def test_check_reports_a_missing_benchmark(capsys):
    assert check({"benchmarks": {}}, BASELINE, ["allocator"], 1) == 1
    assert "allocator_vs_limits: missing from the report" in capsys.readouterr().out


def test_check_ignores_groups_not_run():
    assert check({"benchmarks": {}}, BASELINE, ["simulator"], 1) == 0
