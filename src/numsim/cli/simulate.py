"""`numsim simulate`: run a scenario file, or a pool and a load given as flags."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from typing import Any

from ..extras import needs_extra
from ..numbers import CAPS, TWILIO_RULE, Provider
from ..validation import finite, whole
from .numbers import format_table
from .output import warn

JSON_FIGURES = (
    "attempts",
    "served",
    "blocked_fraction",
    "pool_blocked_fraction",
    "service_level",
    "pool_service_level",
    "wait_probability",
    "wait_p50",
    "wait_p95",
    "wait_p99",
    "pacing_wait_p95",
    "utilization",
    "refusals",
    "refused_by_rules",
    "campaign_completion_hours",
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="simulate a pool under a load (needs numsim[sim])",
        description="Flags override the scenario file's pool (its first number group), load "
        "(its first arrivals) and rules; without a file they describe the whole scenario.",
    )
    parser.add_argument("scenario", nargs="?", help="scenario TOML file")
    parser.add_argument("--numbers", type=int, help="numbers in the pool (default 10)")
    add_scenario_flags(parser)
    parser.add_argument("--replications", type=int, help="independent runs, with 95%% CIs")
    parser.add_argument(
        "--workers", type=int, help="processes for --replications (default: one per core)"
    )
    parser.add_argument("--seed", type=int, help="random seed (runs repeat exactly)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def add_scenario_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that describe or override a scenario (shared with `numsim size`)."""
    providers = ", ".join(Provider)
    parser.add_argument("--provider", help=f"{providers} (default twilio)")
    parser.add_argument("--channels", type=int, help="channels per number (default 1)")
    for spec in CAPS:  # every cap a number can have (max calls per hour, per day, ...)
        parser.add_argument(
            f"--{spec.flag}", dest=spec.name, type=int, help=f"{spec.help} per number"
        )
    parser.add_argument("--calls-per-hour", type=float, help="attempts per hour (default 600)")
    parser.add_argument(
        "--mean-duration",
        type=float,
        help="mean seconds a number is held per attempt (180); with a scenario file, the "
        "mean talk time of its calls (its answer rate, ringing and load stay)",
    )
    parser.add_argument("--max-wait", type=float, help="seconds an attempt may wait; 0: none")
    parser.add_argument("--hours", type=float, help="simulated hours (default 8)")
    parser.add_argument(
        "--warmup-hours", type=float, help="hours left out of the figures (default 0)"
    )
    parser.add_argument(
        "--calls-per-second", type=float, help="provider account pacing (default: none)"
    )
    parser.add_argument(
        "--max-attempts", type=int, help="refuse runs expected to make more (default 5,000,000)"
    )


def run(args: argparse.Namespace) -> int:
    with needs_extra("sim", "numsim simulate"):
        from ..formulas.analytic import erlang_figures
        from ..sim import Scenario, replicate, simulate

    scenario = Scenario.from_toml(args.scenario) if args.scenario else None
    scenario = apply_scenario_flags(scenario, args)
    warn_twilio_scenario(scenario)
    progress = sys.stderr.isatty()  # a bar on stderr: --json keeps stdout one object
    if args.replications is not None:
        runs = replicate(
            scenario,
            args.replications,
            seed=args.seed,
            workers=args.workers,
            progress=progress,
        )
        table = runs.summary()
        if args.json:
            print(json.dumps(clean_json(table.to_dict(orient="index")), indent=2))
        else:
            print(f"{scenario.name}: {args.replications} replications, 95% confidence intervals")
            print(table.to_string(float_format=lambda v: f"{v:.4g}"))
        return 0
    summary = simulate(scenario, seed=args.seed, progress=progress).summary()
    erlang = erlang_figures(scenario)
    if args.json:
        figures = {k: summary.get(k) for k in JSON_FIGURES}
        print(json.dumps(clean_json({**figures, "erlang": erlang})))
    else:
        print(f"{scenario.name} (seed {args.seed})")
        rows = [[k, _fmt(v), _fmt(erlang[k]) if k in erlang else ""] for k, v in summary.items()]
        print(format_table(["figure", "value", "erlang"], rows))
    return 0


def apply_scenario_flags(
    scenario: Any, args: argparse.Namespace, name: str = "numsim simulate"
) -> Any:
    """`scenario` (or the default one, called `name`) with the flags' changes."""
    from ..sim import Arrivals, CallModel, Distribution, NumberGroup, Scenario
    from ..sim.scenario import MAX_POOL

    if getattr(args, "numbers", None) is not None:  # `evaluate` checks its own --numbers
        whole("--numbers", args.numbers, minimum=1, maximum=MAX_POOL)
    if args.mean_duration is not None:
        finite("--mean-duration", args.mean_duration, inclusive=False)

    from_file = scenario is not None
    if scenario is None:
        scenario = Scenario(
            name=name,
            numbers=(NumberGroup(),),  # the flags' defaults: 10 Twilio numbers, as --help says
            arrivals=(Arrivals(calls_per_hour=600.0),),
            hours=8.0,
        )
    replace = dataclasses.replace
    if args.max_attempts is not None:  # first: the other flags may need it
        scenario = replace(scenario, max_attempts=args.max_attempts)
    if scenario.numbers:
        group = scenario.numbers[0]
        changes = {
            "provider": args.provider,
            "count": getattr(args, "numbers", None),
            "channels": args.channels,
            **{spec.name: getattr(args, spec.name) for spec in CAPS},
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes:
            scenario = replace(scenario, numbers=(replace(group, **changes), *scenario.numbers[1:]))
    if args.calls_per_hour is not None:
        arrivals = scenario.arrivals or (Arrivals(calls_per_hour=args.calls_per_hour),)
        first = replace(arrivals[0], calls_per_hour=args.calls_per_hour, profile=())
        scenario = replace(scenario, arrivals=(first, *arrivals[1:]))
    if args.mean_duration is not None:
        held = Distribution("exponential", mean=args.mean_duration)
        if from_file:  # only the talk time: the file's load and answer rate keep their meaning
            scenario = replace(scenario, call=replace(scenario.call, talk_seconds=held))
        else:
            scenario = replace(scenario, call=CallModel(answer_probability=1.0, talk_seconds=held))
    if args.max_wait is not None:
        scenario = replace(scenario, max_wait_seconds=args.max_wait)
    if args.hours is not None:
        scenario = replace(scenario, hours=args.hours)
    if args.warmup_hours is not None:
        scenario = replace(scenario, warmup_hours=args.warmup_hours)
    if args.calls_per_second is not None:
        providers = {group.provider for group in scenario.numbers}
        scenario = replace(scenario, calls_per_second={p: args.calls_per_second for p in providers})
    return scenario


def warn_twilio_scenario(scenario: Any) -> None:
    channels = [g.channels for g in scenario.numbers if g.provider == "twilio" and g.channels > 1]
    if channels:
        warn(f"{TWILIO_RULE}: this simulation counts {max(channels)} channels as 1")


def clean_json(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def _fmt(value: Any) -> str:
    """A figure as text: refusals by reason and each campaign's counts as `name value`
    pairs, not Python's reprs."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return "; ".join(_fmt(item) for item in value) or "-"
    return str(value)
