"""`numsim numbers ...`: manage a registry file from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from ..bulk import COLUMNS
from ..errors import InvalidRequestError, RegistryError
from ..numbers import MAX_LIMIT, SETTINGS, OutboundNumber, Provider, imported_channels_warning
from ..prelaunch import check_numbers
from ..providers.base import base_url_of
from ..registry import NumberRegistry
from .output import warn, warn_twilio_channels

DEFAULT_DB = "numsim.db"


def register(commands: Any) -> None:
    parser = commands.add_parser("numbers", help="manage the number registry")
    db_help = f"registry file (default: $NUMSIM_DB or {DEFAULT_DB}); before or after the action"
    parser.add_argument("--db", help=db_help)
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help)
        sub.add_argument("--db", default=argparse.SUPPRESS, help=db_help)  # wins if given
        return sub

    sub = action("import", "import numbers from a CSV file")
    sub.add_argument("file", help="CSV file (columns in the README); - for stdin")
    sub.add_argument("--on-existing", choices=("error", "update", "skip"), default="error")
    sub.set_defaults(run=_import)

    sub = action("export", "export numbers as CSV (no secrets)")
    sub.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
    sub.set_defaults(run=_export)

    sub = action("list", "list numbers (the CSV's columns)")
    sub.add_argument("--template", help="only this template's pool")
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(run=_list)

    sub = action("add", "add one number")
    sub.add_argument("e164")
    _settings(sub, update=False)
    sub.add_argument("--template", action="append", default=[], help="assign (repeatable)")
    sub.set_defaults(run=_add)

    sub = action("update", "change a registered number's settings (only those given)")
    sub.add_argument("e164")
    _settings(sub, update=True)
    sub.set_defaults(run=_update)

    sub = action("assign", "assign numbers to a template")
    sub.add_argument("template")
    sub.add_argument("e164", nargs="+")
    sub.set_defaults(run=_assign)

    sub = action("unassign", "take numbers out of a template")
    sub.add_argument("template")
    sub.add_argument("e164", nargs="+")
    sub.set_defaults(run=_unassign)

    sub = action("rotate", "swap a number for another in every template")
    sub.add_argument("old")
    sub.add_argument("new")
    sub.set_defaults(run=_rotate)

    sub = action(
        "check",
        "before a campaign: credentials, ownership and voice at the provider, compliance",
    )
    sub.description = (
        "Finds what would make calls fail: credentials that do not resolve here, numbers "
        "the provider says the account does not own or that lack voice, and numbers "
        "that may not call the regions their templates call (TRAI for India, STIR/SHAKEN "
        "for the US and Canada). Exit 0 when all is well, 1 with a table per number."
    )
    sub.add_argument("--template", help="only this template's pool")
    sub.add_argument(
        "--region",
        action="extend",
        nargs="+",
        default=[],
        metavar="CC",
        help="the countries the templates call (ISO codes, e.g. IN US); default: each "
        "template's own numbers' countries",
    )
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.add_argument("--offline", action="store_true", help="do not ask the providers (no network)")
    sub.add_argument(
        "--provider-url",
        action="append",
        default=[],
        metavar="PROVIDER=URL",
        help="ask a provider at URL instead of its public API (a staging endpoint, a fake)",
    )
    sub.set_defaults(run=_check)

    sub = action("remove", "remove a number")
    sub.add_argument("e164")
    sub.add_argument("--force", action="store_true", help="even if templates use it")
    sub.set_defaults(run=_remove)


# The settings given as flags (the number itself is the positional argument).
_FLAGGED = tuple(spec for spec in SETTINGS if spec.kind != "e164")


def _settings(sub: argparse.ArgumentParser, *, update: bool) -> None:
    """A number's settings as flags, one per setting; an update leaves out those not given."""
    for spec in _FLAGGED:
        options: dict[str, Any] = {"dest": spec.name, "help": spec.help}
        if spec.kind == "whole":
            options.update(type=_limit, metavar="N")
            if spec.optional:
                options["help"] += ", or none"
        elif spec.kind == "flag":
            options["action"] = argparse.BooleanOptionalAction
        if update:
            options["default"] = argparse.SUPPRESS
        elif spec.required:
            options["required"] = True
        else:
            options["default"] = spec.default
        sub.add_argument(f"--{spec.flag}", **options)


def _limit(text: str) -> int | None:
    """A limit flag: a whole number (checked against its bounds later), or none."""
    text = text.strip()
    if text.lower() == "none":
        return None
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number or none, got {text!r}")
    if len(text) > len(str(MAX_LIMIT)):
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT:,}, got {text}")
    return int(text)


def _db(args: argparse.Namespace) -> str:
    """The registry file: --db, else $NUMSIM_DB, else numsim.db; never one that keeps nothing."""
    if args.db is not None:
        where, path = "--db", args.db
    elif "NUMSIM_DB" in os.environ:
        where, path = "$NUMSIM_DB", os.environ["NUMSIM_DB"]
    else:
        return DEFAULT_DB
    if not path.strip():
        raise RegistryError(f"{where} is empty: name the registry file")
    if path.strip() == ":memory:":
        raise RegistryError(f"{where} is :memory:, which keeps nothing: name the registry file")
    return path


def _open(args: argparse.Namespace, *, create: bool = False) -> NumberRegistry:
    return NumberRegistry(_db(args), create=create)


def _import(args: argparse.Namespace) -> int:
    with _open(args, create=True) as registry:
        source = sys.stdin.buffer if args.file == "-" else args.file
        report = registry.import_csv(source, on_existing=args.on_existing)
    print(report)
    message = imported_channels_warning(report.twilio_channels)
    if message:
        warn(message)
    return 0 if report.ok else 1


def _export(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        if args.file == "-":
            registry.export_csv(sys.stdout)
        else:
            try:
                handle = open(args.file, "w", encoding="utf-8", newline="")  # noqa: SIM115
            except OSError as error:
                raise ValueError(f"cannot write {args.file}: {error.strerror}") from None
            with handle:
                count = registry.export_csv(handle)
            print(f"exported {count} number(s) to {args.file}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    with _open(args) as registry:
        if args.json:
            _print_json(registry.rows(args.template))
        else:
            widths = _widths(registry.rows(args.template))  # two passes: bounded memory
            if widths is None:
                print("(no numbers)")
            for line in _table(widths or {}, registry.rows(args.template)):
                print(line)
    return 0


def _add(args: argparse.Namespace) -> int:
    settings = {spec.name: getattr(args, spec.name) for spec in _FLAGGED}
    number = OutboundNumber(args.e164, **settings)
    with _open(args, create=True) as registry:
        registry.add(number, templates=args.template)
    print(f"added {number.e164}")
    warn_twilio_channels(number)
    return 0


def _update(args: argparse.Namespace) -> int:
    changes = {spec.name: getattr(args, spec.name) for spec in _FLAGGED if spec.name in args}
    if not changes:
        raise InvalidRequestError("nothing to update: give a setting, e.g. --channels 2")
    with _open(args) as registry:
        number = registry.update(args.e164, **changes)
    print(f"updated {number.e164}")
    warn_twilio_channels(number)
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


def _check(args: argparse.Namespace) -> int:
    urls = {
        Provider(name): base_url_of(url) or ""
        for name, url in pairs("--provider-url", "PROVIDER=URL", args.provider_url).items()
    }
    with _open(args) as registry:
        report = check_numbers(
            registry,
            template=args.template,
            regions=args.region,
            provider=not args.offline,
            provider_urls=urls,
        )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report)
        if report.findings:
            lines = [[f.number, f.check, f.problem] for f in report.findings]
            print(format_table(["number", "check", "problem"], lines))
    return 0 if report.ok else 1


def pairs(option: str, form: str, given: list[str], *, echo: bool = True) -> dict[str, str]:
    """NAME=VALUE options as a dict; whoever uses them names a bad name or value. A bad
    item is shown as given, unless not `echo` (a secret may be pasted there): then its
    name only."""
    found = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            shown = repr(item) if echo else (f"{name!r}=..." if sep else "a value without '='")
            raise ValueError(f"{option} must be {form}, got {shown}")
        found[name] = value
    return found


def _print_json(rows: Iterator[dict[str, object]]) -> None:
    """A JSON array written as the rows come, one object a line."""
    sys.stdout.write("[")
    for index, row in enumerate(rows):
        sys.stdout.write(("," if index else "") + "\n  " + json.dumps(row))
    sys.stdout.write("\n]\n")


def _cells(row: dict[str, object]) -> list[str]:
    return [_text(row[name]) for name in COLUMNS]


def _widths(rows: Iterator[dict[str, object]]) -> dict[int, int] | None:
    widths = None
    for row in rows:
        cells = _cells(row)
        if widths is None:
            widths = {i: len(name) for i, name in enumerate(COLUMNS)}
        for i, cell in enumerate(cells):
            widths[i] = max(widths[i], len(cell))
    return widths


def _table(widths: dict[int, int], rows: Iterator[dict[str, object]]) -> Iterator[str]:
    for index, row in enumerate(rows):
        if index == 0:
            yield _line(list(COLUMNS), widths)
        yield _line(_cells(row), widths)


def _line(cells: list[str], widths: dict[int, int]) -> str:
    return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value) or "-"
    return str(value)


def format_table(headers: list[str], lines: list[list[str]]) -> str:
    """Plain aligned columns, for terminals and logs."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(line.rstrip() for line in out)
