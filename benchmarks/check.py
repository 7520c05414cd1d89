"""Compare a report with the accepted baseline; re-run a failing benchmark once."""

from __future__ import annotations

from typing import Any


def check(
    report: dict[str, Any],
    baseline: dict[str, Any],
    groups: list[str],
    rounds: int,
    scale: float = 1.0,
) -> int:
    """Return 0 if every benchmark of `groups` is within tolerance of its baseline, else 1."""
    from .__main__ import run_groups

    failures = []
    for name, accepted in baseline["benchmarks"].items():
        if accepted["group"] not in groups:
            continue
        limit = accepted["ratio"] * (1 + accepted["tolerance"])
        result = report["benchmarks"].get(name)
        if result is None:
            failures.append(f"{name}: missing from the report")
            continue
        if result["ratio"] > limit:
            print(f"{name}: ratio {result['ratio']:.3f} over {limit:.3f}; running it again")
            rerun = run_groups([accepted["group"]], rounds, only={name}, scale=scale)
            if name in rerun:
                report["benchmarks"][name] = result = rerun[name]
        if result["ratio"] > limit:
            failures.append(
                f"{name}: ratio {result['ratio']:.3f} is worse than the accepted "
                f"{accepted['ratio']:.3f} by more than {accepted['tolerance']:.0%} "
                f"(limit {limit:.3f})"
            )
    for failure in failures:
        print(f"REGRESSION {failure}")
    if not failures:
        print("benchmarks within tolerance of benchmarks/baseline.json")
    return 1 if failures else 0
