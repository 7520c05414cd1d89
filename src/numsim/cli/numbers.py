"""`numsim numbers ...`: manage a registry file from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..numbers import OutboundNumber
from ..registry import NumberRegistry

DEFAULT_DB = "numsim.db"


def register(commands: Any) -> None:
    parser = commands.add_parser("numbers", help="manage the number registry")
    parser.add_argument(
        "--db",
        default=os.environ.get("NUMSIM_DB", DEFAULT_DB),
        help=f"registry file (default: $NUMSIM_DB or {DEFAULT_DB})",
    )
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))

    sub = actions.add_parser("import", help="import numbers from a CSV file")
    sub.add_argument("file", help="CSV file (columns in the README)")
    sub.add_argument("--on-existing", choices=("error", "update", "skip"), default="error")
    sub.set_defaults(run=_import)

    sub = actions.add_parser("export", help="export numbers as CSV (no secrets)")
    sub.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
    sub.set_defaults(run=_export)

    sub = actions.add_parser("list", help="list numbers")
    sub.add_argument("--template", help="only this template's pool")
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(run=_list)

    sub = actions.add_parser("add", help="add one number")
    sub.add_argument("e164")
    sub.add_argument("--provider", required=True, help="twilio, plivo or exotel")
    sub.add_argument("--channels", type=int, default=1, help="max concurrent calls")
    sub.add_argument("--max-calls-per-hour", type=int)
    sub.add_argument("--max-calls-per-day", type=int)
    sub.add_argument("--trai", action="store_true", help="TRAI registered")
    sub.add_argument("--stir-shaken", action="store_true", help="STIR/SHAKEN attested")
    sub.add_argument("--account", help="provider account id (not a secret)")
    sub.add_argument("--credentials", help="reference, e.g. env:TWILIO_AUTH_TOKEN")
    sub.add_argument("--label")
    sub.add_argument("--template", action="append", default=[], help="assign (repeatable)")
    sub.set_defaults(run=_add)

    sub = actions.add_parser("assign", help="assign numbers to a template")
    sub.add_argument("template")
    sub.add_argument("e164", nargs="+")
    sub.set_defaults(run=_assign)

    sub = actions.add_parser("unassign", help="take numbers out of a template")
    sub.add_argument("template")
    sub.add_argument("e164", nargs="+")
    sub.set_defaults(run=_unassign)

    sub = actions.add_parser("rotate", help="swap a number for another in every template")
    sub.add_argument("old")
    sub.add_argument("new")
    sub.set_defaults(run=_rotate)

    sub = actions.add_parser("remove", help="remove a number")
    sub.add_argument("e164")
    sub.add_argument("--force", action="store_true", help="even if templates use it")
    sub.set_defaults(run=_remove)


def _open(args: argparse.Namespace) -> NumberRegistry:
    return NumberRegistry(args.db)


def _import(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        source = sys.stdin.buffer if args.file == "-" else args.file
        report = registry.import_csv(source, on_existing=args.on_existing)
    print(report)
    return 0 if report.ok else 1


def _export(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        if args.file == "-":
            registry.export_csv(sys.stdout)
        else:
            count = registry.export_csv(args.file)
            print(f"exported {count} number(s) to {args.file}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        numbers = registry.pool(args.template) if args.template else registry.numbers()
        rows = [_row(number, registry.templates_of(number.e164)) for number in numbers]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows))
    return 0


def _add(args: argparse.Namespace) -> int:
    number = OutboundNumber(
        args.e164,
        args.provider,
        max_concurrent_calls=args.channels,
        max_calls_per_hour=args.max_calls_per_hour,
        max_calls_per_day=args.max_calls_per_day,
        trai_registered=args.trai,
        stir_shaken_attested=args.stir_shaken,
        account=args.account,
        credentials=args.credentials,
        label=args.label,
    )
    with _open(args) as registry:
        registry.add(number, templates=args.template)
    print(f"added {number.e164}")
    return 0


def _assign(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        registry.assign(args.template, args.e164)
    print(f"assigned {len(args.e164)} number(s) to {args.template}")
    return 0


def _unassign(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        registry.unassign(args.template, args.e164)
    print(f"unassigned {len(args.e164)} number(s) from {args.template}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        templates = registry.rotate(args.old, args.new)
    print(
        f"rotated {args.old} -> {args.new} in {len(templates)} template(s): {', '.join(templates)}"
    )
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        registry.remove(args.e164, force=args.force)
    print(f"removed {args.e164}")
    return 0


def _row(number: OutboundNumber, templates: list[str]) -> dict[str, object]:
    return {
        "e164": number.e164,
        "provider": number.provider.value,
        "capacity": number.capacity,
        "max_calls_per_hour": number.max_calls_per_hour,
        "max_calls_per_day": number.max_calls_per_day,
        "region": number.region,
        "trai": number.trai_registered,
        "stir_shaken": number.stir_shaken_attested,
        "templates": templates,
        "credentials": None if number.credentials is None else str(number.credentials),
    }


def _table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "(no numbers)"
    headers = ["e164", "provider", "cap", "per_hour", "per_day", "region", "flags", "templates"]
    lines = []
    for row in rows:
        flags = ",".join(f for f in ("trai", "stir_shaken") if row[f]) or "-"
        lines.append(
            [
                str(row["e164"]),
                str(row["provider"]),
                str(row["capacity"]),
                _dash(row["max_calls_per_hour"]),
                _dash(row["max_calls_per_day"]),
                str(row["region"]),
                flags,
                ";".join(row["templates"]) or "-",  # type: ignore[arg-type]
            ]
        )
    return format_table(headers, lines)


def format_table(headers: list[str], lines: list[list[str]]) -> str:
    """Plain aligned columns, for terminals and logs."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(line.rstrip() for line in out)


def _dash(value: object) -> str:
    return "-" if value is None else str(value)
