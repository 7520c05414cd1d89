"""Run the benchmarks, write a JSON report, and check it against the accepted baseline.

python -m benchmarks                      # run all, write benchmarks/report.json
python -m benchmarks --check              # ... and fail on a regression
python -m benchmarks --only allocator     # one group
python -m benchmarks plot report.json out.png
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from .harness import machine, run_cases

HERE = Path(__file__).parent
GROUPS = ("allocator", "simulator", "planning", "redis_backend", "registry", "service", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    plot = sub.add_parser("plot", help="plot a report's ratios")
    plot.add_argument("report")
    plot.add_argument("output")
    parser.add_argument("--only", action="append", choices=GROUPS, help="run only these groups")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--report", default=str(HERE / "report.json"))
    parser.add_argument("--baseline", default=str(HERE / "baseline.json"))
    parser.add_argument("--check", action="store_true", help="fail on a regression")
    args = parser.parse_args(argv)
    if args.command == "plot":
        from .plot import plot_report

        plot_report(args.report, args.output)
        return 0
    groups = args.only or list(GROUPS)
    results = run_groups(groups, args.rounds)
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "benchmarks": results,
    }
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"report written to {args.report}")
    if not args.check:
        return 0
    from .check import check

    return check(report, json.loads(Path(args.baseline).read_text()), groups, args.rounds)


def run_groups(
    groups: list[str], rounds: int, only: set[str] | None = None, scale: float = 1.0
) -> dict:
    """Run the cases of `groups` (only those named in `only`, if given)."""
    results = {}
    for group in groups:
        module = importlib.import_module(f".{group}", __package__)
        cases = (c for c in module.cases() if only is None or c.name in only)
        results.update(run_cases(cases, rounds, print, scale))
    return results


if __name__ == "__main__":
    sys.exit(main())
