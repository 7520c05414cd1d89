"""`numsim size`: the fewest numbers that meet a service level, with the evidence."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from ..errors import PlanningError
from ..extras import needs_extra
from ..validation import share
from .numbers import format_table
from .simulate import (
    add_scenario_flags,
    apply_scenario_flags,
    clean_json,
    warn_twilio_scenario,
)

# With no waiting, the grade of service Erlang B tables use; with waiting, a common
# call-centre goal.
DEFAULT_LEVEL_LOSS, DEFAULT_LEVEL_WAITING = 0.99, 0.90


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "size",
        help="how many numbers a load needs (needs numsim[sim])",
        description="The fewest numbers of the scenario's first number group such that at "
        "least --service-level of attempts get a number within --max-wait seconds (with "
        "--max-wait 0: at most 1 - L are blocked). Flags override the scenario file.",
    )
    parser.add_argument("scenario", nargs="?", help="scenario TOML file")
    add_scenario_flags(parser)
    parser.add_argument(
        "--service-level",
        type=float,
        help=f"share of attempts served in time (default {DEFAULT_LEVEL_LOSS} with no "
        f"waiting, {DEFAULT_LEVEL_WAITING} with waiting)",
    )
    parser.add_argument(
        "--finish-by",
        type=float,
        metavar="HOURS",
        help="size a campaign scenario: every campaign done within HOURS of the start",
    )
    parser.add_argument(
        "--price-per-month", type=float, help="monthly price of one number (default: list price)"
    )
    parser.add_argument(
        "--interval",
        type=int,
        choices=(15, 30, 60),
        help="with a rate profile: minutes per interval, each sized and the busiest met "
        "(default 60)",
    )
    parser.add_argument(
        "--day-average",
        action="store_true",
        help="with a rate profile: size the whole run's average instead of every interval",
    )
    parser.add_argument(
        "--spare",
        type=_spare,
        metavar="P% | N",
        help="a margin added after sizing, shown apart: a share of the answer (10%%, "
        "rounded up) or whole numbers (2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local processes (default: one per core)")
    where.add_argument("--dask-scheduler", metavar="ADDR", help="run on a dask.distributed cluster")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with needs_extra("sim", "numsim size"):
        from ..planning import size_pool
        from ..sim import Scenario
        from ..sim.scenario import MAX_POOL

    scenario = Scenario.from_toml(args.scenario) if args.scenario else None
    scenario = apply_scenario_flags(scenario, args, name="numsim size")
    warn_twilio_scenario(scenario)
    _check_interval_flags(scenario, args)
    target = _target(scenario, args)
    prices = None
    if args.price_per_month is not None and scenario.numbers:
        prices = {scenario.numbers[0].provider: args.price_per_month}
    with _executor(args.dask_scheduler) as executor:
        sizing = size_pool(
            scenario,
            target=target,
            seed=args.seed,
            executor=executor,
            workers=args.workers,
            progress=not args.json,
            prices=prices,
            interval_minutes=None if args.day_average else args.interval or 60,
        )
    spare = _spare_numbers(args.spare, sizing.numbers)
    if spare is not None and sizing.numbers + spare > MAX_POOL:
        raise PlanningError(
            f"--spare {_spare_text(args.spare)}: {sizing.numbers:,} + {spare:,} numbers is more "
            f"than a pool holds ({MAX_POOL:,})"
        )
    if args.json:
        answer = sizing.to_dict()
        answer["number_groups"] = len(scenario.numbers)
        answer["sized_group"] = 0  # the first; the others stay as the scenario has them
        if spare is not None:
            answer["spare"] = spare
            answer["numbers_with_spare"] = sizing.numbers + spare
            answer["cost_per_month_with_spare"] = _cost(scenario, sizing.numbers + spare, prices)
        print(json.dumps(clean_json(answer)))
        return 0
    notes = _groups_note(scenario)
    if spare is not None:
        cost = _cost(scenario, sizing.numbers + spare, prices)
        money = "" if cost is None else f", ${cost:,.2f} a month"
        notes.append(
            f"with spare:  {sizing.numbers} + {spare} = {sizing.numbers + spare} numbers{money} "
            f"(--spare {_spare_text(args.spare)}, not simulated)"
        )
    if sizing.campaign is not None:
        report = _campaign_report(scenario.name, sizing)
    else:
        report = _report(scenario.name, sizing)
    headline, rest = report.split("\n", 1)
    print("\n".join([headline, *notes, rest]))  # the notes under the answer they qualify
    if sizing.intervals is not None:
        print()
        print(_intervals(sizing))
    return 0


def _spare(text: str) -> tuple[float, bool]:
    """--spare: (value, is a percentage)."""
    percent = text.strip().endswith("%")
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--spare takes a share like 10% or whole numbers like 2, got {text!r}"
        ) from None
    if not value >= 0 or value == float("inf") or (not percent and not value.is_integer()):
        raise argparse.ArgumentTypeError(
            f"--spare takes a share like 10% or whole numbers like 2, got {text!r}"
        )
    return value, percent


def _spare_text(spare: tuple[float, bool]) -> str:
    """--spare as typed, without exponents: 10%, 2, 1,000,000."""
    value, percent = spare
    text = f"{value:,.0f}" if value.is_integer() else f"{value:g}"
    return text + ("%" if percent else "")


def _spare_numbers(spare: tuple[float, bool] | None, numbers: int) -> int | None:
    if spare is None:
        return None
    value, percent = spare
    return math.ceil(numbers * value / 100 - 1e-9) if percent else int(value)


def _cost(scenario: Any, numbers: int, prices: Any) -> float | None:
    from ..planning import cost_per_month

    return cost_per_month(scenario.numbers[0].provider, numbers, prices)


def _groups_note(scenario: Any) -> list[str]:
    """Which group was sized, when there are several."""
    groups = scenario.numbers
    if len(groups) < 2:
        return []
    others = ", ".join(f"{g.count} {g.provider}" for g in groups[1:])
    return [
        f"sized group: the first of {len(groups)} number groups ({groups[0].provider}); "
        f"the others stay as the scenario has them ({others})"
    ]


def _check_interval_flags(scenario: Any, args: argparse.Namespace) -> None:
    """--interval and --day-average say how to size a rate profile: without one they
    would change nothing, so they are refused rather than ignored."""
    from ..planning.intervals import has_profile

    flag = "--interval" if args.interval is not None else "--day-average"
    if args.interval is not None and args.day_average:
        raise ValueError("--day-average sizes the whole run, not its intervals: drop --interval")
    if (args.interval is not None or args.day_average) and not has_profile(scenario):
        raise ValueError(
            f"{flag} sizes a rate profile, and this load has a constant rate (or none): "
            f"drop {flag}, or use a scenario whose arrivals have a profile, such as "
            "data/scenarios/peak-hour.toml"
        )


def _target(scenario: Any, args: argparse.Namespace) -> Any:
    """The target the flags ask for: a campaign's deadline, or a service level."""
    from ..formulas.analytic import offered_load
    from ..planning import FinishBy, ServiceLevel

    if args.finish_by is not None:
        if args.service_level is not None:
            raise ValueError("--finish-by sizes a campaign's deadline: drop --service-level")
        if not scenario.campaigns:
            raise ValueError(
                "--finish-by sizes a campaign scenario (one with [[campaigns]]), and this one "
                "has none: drop --finish-by, and size it with --service-level"
            )
        return FinishBy(args.finish_by)
    if scenario.campaigns and offered_load(scenario) is None:
        raise ValueError(
            "this scenario's load is campaigns (contact lists): size it against a deadline "
            "with --finish-by HOURS"
        )
    level = args.service_level
    if level is None:
        level = DEFAULT_LEVEL_LOSS if scenario.max_wait_seconds == 0 else DEFAULT_LEVEL_WAITING
    share("--service-level", level, strict=True)
    within = scenario.max_wait_seconds  # a file's own service-level threshold, if it has one
    if args.max_wait is None and scenario.service_level_seconds is not None:
        within = min(scenario.service_level_seconds, scenario.max_wait_seconds)
    return ServiceLevel(level, within_seconds=within)


def _campaign_report(name: str, sizing: Any) -> str:
    """A campaign's answer: simulated completion beside the closed form, its dominant
    limit, and the dialler settings that move it (no service level: it means nothing
    for a contact list)."""
    cost = "" if sizing.cost_per_month is None else f", ${sizing.cost_per_month:,.2f} a month"
    evidence = sizing.campaign
    limits = ", ".join(
        f"{k.replace('_', ' ')} {v:,.0f}/h"
        for k, v in sorted(evidence["limits"].items(), key=lambda kv: kv[1])
    )
    lines = [
        f"{name}: {sizing.numbers} {sizing.provider} numbers{cost}",
        f"target:      {sizing.target.describe()}",
        f"simulated:   done in {sizing.achieved:.2f} h, {sizing.confidence:.0%} CI "
        f"{sizing.low:.2f}-{sizing.high:.2f} h ({len(sizing.answer_summaries)} runs"
        + ("; not settled: the mean decides)" if not sizing.settled else ")"),
        f"closed form: {_dash(sizing.erlang_numbers)} numbers, an estimate (attempts over "
        f"the tightest limit); at {sizing.numbers}, {evidence['estimate_hours']:.2f} h, "
        f"limited by {evidence['binding_constraint'].replace('_', ' ')}",
        f"floor:       {_dash(max(sizing.floors.values(), default=None))} numbers at least "
        f"({_floors(sizing.floors)}); at {sizing.numbers}, {evidence['floor_hours']:.2f} h "
        "at least"
        + (
            " (a rolling cap's window may start full: a run can beat the estimate by up to "
            "a window, never the floor)"
            if {"hourly_cap", "daily_cap"} & set(evidence["limits"])
            else ""
        ),
        f"limits:      attempts an hour each allows at the answer: {limits}; "
        f"{evidence['attempts']:,.0f} attempts expected, calling hours open "
        f"{evidence['open_share']:.0%} of the day, redial gaps alone "
        f"{evidence['redial_hours']:.2f} h",
        f"binding:     {sizing.binding_constraint}",
    ]
    for index, dialler in enumerate(evidence["dialler"], 1):
        pacing = [f"{dialler['max_in_flight']} in flight"] if dialler["max_in_flight"] else []
        if dialler["calls_per_hour"]:
            pacing.append(f"{dialler['calls_per_hour']:g} calls/h")
        lines.append(
            f"dialler {index}:   {dialler['contacts']:,} contacts, up to "
            f"{dialler['max_attempts']} attempts {dialler['redial_gap_seconds']:g} s apart, "
            f"{' and '.join(pacing)}; a contact waits {dialler['max_wait_seconds']:g} s for a "
            f"number, then {dialler['retry_blocked_seconds']:g} s before a retry"
        )
    lines += [
        "             (the redial gap, attempts and pacing move the completion time as much "
        "as the pool: try them with numsim simulate)",
        f"simulated:   {sizing.attempts_simulated:,} attempts in {sizing.wall_seconds:.1f} s",
        "",
    ]
    table = sizing.table
    rows = [
        [
            str(n),
            f"{row['mean']:.2f}",
            f"{row['low']:.2f}-{row['high']:.2f}",
            str(int(row["replications"])),
            "yes" if row["met"] else "no",
            _money(row["cost_per_month"]),
        ]
        for n, row in table.iterrows()
    ]
    ci = f"{sizing.confidence:.0%} CI"
    return "\n".join(lines) + format_table(
        ["numbers", "hours", ci, "runs", "met", "cost/month"], rows
    )


def _report(name: str, sizing: Any) -> str:
    cost = "" if sizing.cost_per_month is None else f", ${sizing.cost_per_month:,.2f} a month"
    settled = {
        "formula": " (the M/M/c+D answer; short runs of it and one fewer agree)",
        "interval": "",
        "tolerance": " (interval within the tolerance: as good as on target)",
        "max_replications": " (not settled: more replications needed)",
    }[sizing.decided_by]
    floors = _floors(sizing.floors)
    lines = [
        f"{name}: {sizing.numbers} {sizing.provider} numbers{cost}",
        f"target:      {sizing.target.describe()} ({sizing.target.figure})",
        f"achieved:    {sizing.achieved:.4f}, {sizing.confidence:.0%} CI "
        f"{sizing.low:.4f}-{sizing.high:.4f}{settled}",
        f"Erlang:      {_dash(sizing.erlang_numbers)} numbers (Erlang B with no waiting, "
        "Erlang C with callers who never give up)",
        f"estimate:    {_dash(sizing.estimate_numbers)} numbers (callers give up after the "
        "max wait: M/M/c+D)",
        f"found by:    {_found_by(sizing)}",
        f"sized for:   {sizing.sized_for}" + _day_average(sizing.day_average_numbers),
        f"steady:      {_steady(sizing.warmup_hours)}",
        f"tolerance:   ±{sizing.tolerance:.4g} ({sizing.tolerance_basis}): an interval that "
        "straddles the target and is no wider counts as on target, its mean decides",
        f"floors:      {floors}",
        f"binding:     {sizing.binding_constraint}",
        f"simulated:   {sizing.attempts_simulated:,} attempts in {sizing.wall_seconds:.1f} s",
        "",
    ]
    table = sizing.table
    rows = [
        [
            str(n),
            f"{row['mean']:.4f}",
            f"{row['low']:.4f}-{row['high']:.4f}",
            f"{row['erlang']:.4f}",
            f"{row['estimate']:.4f}",
            str(int(row["replications"])),
            "yes" if row["met"] else "no",
            _money(row["cost_per_month"]),
        ]
        for n, row in table.iterrows()
    ]
    ci = f"{sizing.confidence:.0%} CI"
    headers = ["numbers", "simulated", ci, "Erlang", "M/M/c+D", "runs", "met", "cost/month"]
    return "\n".join(lines) + format_table(headers, rows)


@contextmanager
def _executor(address: str | None) -> Iterator[Executor | None]:
    """A dask.distributed cluster's executor when asked; else None (local processes)."""
    if address is None:
        yield None
        return
    with needs_extra("dask", "--dask-scheduler"):
        from distributed import Client
    with Client(address) as client:
        yield client.get_executor()


def _found_by(sizing: Any) -> str:
    if sizing.found_by == "formula":
        return "the formula (M/M/c+D is exact here), confirmed by simulation"
    if sizing.formula_blind_spot is None:
        return "simulated search (short runs disagreed with the formula)"
    return f"simulated search (the formula cannot see {sizing.formula_blind_spot})"


def _day_average(numbers: int | None) -> str:
    if numbers is None:
        return ""
    return f"; the day's average alone: {numbers} numbers (misses the peak)"


def _intervals(sizing: Any) -> str:
    """Each interval's rate and the numbers it needs, a bar of them against the answer."""
    intervals = sizing.intervals
    rows = []
    for start, row in intervals.table.iterrows():
        needed = int(row["numbers"])
        bar = "#" * round(30 * needed / max(sizing.numbers, 1))
        rows.append(
            [
                intervals.label(start),
                f"{row['calls_per_hour']:g}",
                f"{row['erlangs']:.1f}",
                str(needed),
                bar,
            ]
        )
    headers = ["interval", "calls/h", "erlangs", "numbers (M/M/c+D)", f"(answer: {sizing.numbers})"]
    return format_table(headers, rows)


def _steady(warmup_hours: float) -> str:
    if warmup_hours <= 0:
        return "no warm-up: runs start with an idle pool"
    return f"each run's first {warmup_hours:.2f} h left out (warm-up: steady state)"


def _floors(floors: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in floors.items()) or "-"


def _dash(value: object) -> str:
    return "-" if value is None or value != value else str(value)


def _money(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:,.2f}"
