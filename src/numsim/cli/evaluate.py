"""`numsim evaluate`: what a scenario gets with N numbers, for a few N side by side."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..extras import needs_extra
from ..validation import whole
from .numbers import format_table
from .simulate import add_scenario_flags, apply_scenario_flags, clean_json


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="what a pool of N numbers gets (needs numsim[sim])",
        description="For each pool size given, the service level with its interval, the "
        "mean wait (ASA), the share who give up, occupancy, refusals by reason (shares of "
        "attempts), calls per number per hour against the cap and the monthly cost; the "
        "M/M/c+D figures beside them where that formula is exact. Runs in steady state "
        "(a warm-up left out) like numsim size. For a campaign scenario: the hours until its "
        "contacts are done, with their interval, beside the closed form's. Flags override the "
        "scenario file.",
    )
    parser.add_argument("scenario", nargs="?", help="scenario TOML file")
    parser.add_argument(
        "--numbers",
        dest="sizes",
        required=True,
        type=_sizes,
        metavar="N[,N2,...]",
        help="pool sizes of the scenario's first number group, comma-separated",
    )
    add_scenario_flags(parser)
    parser.add_argument("--replications", type=int, default=10, help="runs per size (10)")
    parser.add_argument(
        "--price-per-month", type=float, help="monthly price of one number (default: list price)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, help="local processes (default: one per core)")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print one JSON object")
    form.add_argument("--csv", action="store_true", help="print the table as CSV")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with needs_extra("sim", "numsim evaluate"):
        from ..planning import evaluate, evaluate_campaign
        from ..planning.evaluation import is_campaign
        from ..sim import Scenario
        from ..sim.scenario import MAX_POOL

    for n in args.sizes:
        whole("--numbers", n, minimum=1, maximum=MAX_POOL)
    scenario = Scenario.from_toml(args.scenario) if args.scenario else None
    scenario = apply_scenario_flags(scenario, args, name="numsim evaluate")
    prices = None
    if args.price_per_month is not None and scenario.numbers:
        prices = {scenario.numbers[0].provider: args.price_per_month}
    quiet = args.json or args.csv
    campaign = is_campaign(scenario)
    evaluation = (evaluate_campaign if campaign else evaluate)(
        scenario,
        args.sizes,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        progress=not quiet,
        prices=prices,
    )
    if args.json:
        print(json.dumps(clean_json(evaluation.to_dict())))
    elif args.csv:
        print(evaluation.table.to_csv(), end="")
    elif campaign:
        print(_campaign_report(evaluation))
    else:
        print(_report(evaluation))
    return 0


def _campaign_report(evaluation: Any) -> str:
    """A contact list has no service level to speak of: what a planner compares is when
    it is done, so each size gets its completion time with its interval, beside the
    closed form's hours and the limit that dominates."""
    at_least = evaluation.table["finished"] < 1.0
    rows = [
        [
            str(n),
            (">=" if at_least[n] else "") + f"{row['hours']:.2f}",
            f"{row['hours_low']:.2f}-{row['hours_high']:.2f}",
            f"{row['finished']:.0%}",
            f"{row['estimate_hours']:.2f}",
            row["binding_constraint"].replace("_", " "),
            "-" if row["cost_per_month"] is None else f"{row['cost_per_month']:,.2f}",
        ]
        for n, row in evaluation.table.iterrows()
    ]
    headers = [
        "numbers",
        "done in h",
        f"{evaluation.confidence:.0%} CI",
        "finished",
        "estimate h",
        "limited by",
    ]
    note = ""
    if at_least.any():
        note = (
            f"\n>=: some runs did not finish within the scenario's {evaluation.end_hours:g} h; "
            "each counts as lasting that long, so the hours are at least these"
        )
    return (
        f"{evaluation.scenario}: {evaluation.provider} numbers, campaigns: hours until every "
        f"contact is answered or out of attempts; {evaluation.replications} runs a size "
        "(numsim size SCENARIO --finish-by "
        "HOURS: the fewest numbers for a deadline)\n"
        + format_table([*headers, "cost/month"], rows)
        + note
    )


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--numbers takes whole numbers separated by commas, got {text!r}"
        ) from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"--numbers must be >= 1, got {text!r}")
    return sizes


def _report(evaluation: Any) -> str:
    table = evaluation.table
    ci = f"{evaluation.confidence:.0%} CI"
    formula = "formula_service_level" in table
    refusals = [c for c in table.columns if c.startswith("refused_")]
    headers = ["numbers", "served in time", ci, "ASA s", "gave up", "occupancy"]
    headers += [c.removeprefix("refused_") for c in refusals]
    headers += ["calls/number/h", "cost/month"]
    if formula:
        headers += ["M/M/c+D", "M/M/c+D ASA"]
    rows = []
    for n, row in table.iterrows():
        cap = row["cap_per_hour"]
        per_hour = f"{row['calls_per_number_hour']:.1f}" + ("" if math.isnan(cap) else f"/{cap:g}")
        line = [
            str(n),
            f"{row['service_level']:.4f}",
            f"{row['service_level_low']:.4f}-{row['service_level_high']:.4f}",
            f"{row['wait_mean']:.1f}",
            f"{row['abandoned']:.2%}",
            f"{row['occupancy']:.1%}",
            *(f"{row[c]:.2%}" for c in refusals),
            per_hour,
            "-" if row["cost_per_month"] is None else f"{row['cost_per_month']:,.2f}",
        ]
        if formula:
            line += [f"{row['formula_service_level']:.4f}", f"{row['formula_wait_mean']:.1f}"]
        rows.append(line)
    settings = (
        f"{evaluation.scenario}: {evaluation.provider} numbers, served within "
        f"{evaluation.service_level_seconds:g} s; {evaluation.replications} runs a size, "
        f"first {evaluation.warmup_hours:.2f} h of each left out (warm-up)"
    )
    exact = (
        "M/M/c+D is exact here"
        if evaluation.formula_blind_spot is None
        else f"no exact formula: {evaluation.formula_blind_spot}"
    )
    return f"{settings}; {exact}\n" + format_table(headers, rows)
