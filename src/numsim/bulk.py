"""Bulk rows <-> numbers: the CSV columns, parsing each row, and reporting bad ones."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from .credentials import CredentialError, CredentialRef
from .errors import ImportFileError
from .numbers import OutboundNumber, Provider, check_limit, check_template_id
from .phone import normalize_e164

REQUIRED_COLUMNS = ("e164", "provider")
COLUMNS = (
    "e164",
    "provider",
    "max_concurrent_calls",
    "max_calls_per_hour",
    "max_calls_per_day",
    "templates",
    "trai_registered",
    "stir_shaken_attested",
    "account",
    "credentials",
    "label",
)
TEMPLATE_SEPARATOR = ";"
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row: the line it sits on (header = line 1), the column, and why."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line: int
    number: OutboundNumber
    templates: tuple[str, ...]


@dataclass(slots=True)
class ImportReport:
    """What a bulk import did: every good row lands, every bad row is listed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        lines = [
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"skipped {len(self.skipped)}, rejected {len(self.errors)} row(s)"
        ]
        lines += [f"  {error}" for error in self.errors]
        return "\n".join(lines)


def read_csv_rows(source: str | IO[str] | IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) from CSV text; refuse the whole file if it is not our CSV."""
    text = _read_text(source)
    if not text.strip():
        raise ImportFileError("the file is empty; expected a CSV header with " + _required())
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader)
        columns = _check_header(header)
        line = reader.line_num + 1
        for fields in reader:
            if any(f.strip() for f in fields):
                yield line, _row(line, columns, fields)
            line = reader.line_num + 1
    except csv.Error as error:
        raise ImportFileError(f"not a readable CSV file: {error}") from None


def frame_rows(frame: object) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a pandas DataFrame, numbered as if written to CSV with a header."""
    import pandas as pd

    columns = _check_header([str(c) for c in frame.columns])  # type: ignore[attr-defined]
    rows = frame.itertuples(index=False, name=None)  # type: ignore[attr-defined]
    for position, values in enumerate(rows, start=2):
        cells = ["" if pd.isna(v) else _cell_text(v) for v in values]
        yield position, _row(position, columns, cells)


def parse_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]], report: ImportReport
) -> list[ParsedRow]:
    """Turn raw rows into numbers; bad rows and duplicates go to `report.errors`."""
    parsed: list[ParsedRow] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        result = _parse_row(line, row, report)
        if result is None:
            continue
        e164 = result.number.e164
        if e164 in first_line:
            report.errors.append(
                RowError(line, "e164", f"{e164} is a duplicate of line {first_line[e164]}")
            )
            continue
        first_line[e164] = line
        parsed.append(result)
    return parsed


def number_to_row(number: OutboundNumber, templates: Iterable[str]) -> dict[str, str]:
    """The CSV row of a number: credentials as their reference, never a secret."""
    return {
        "e164": number.e164,
        "provider": number.provider.value,
        "max_concurrent_calls": str(number.max_concurrent_calls),
        "max_calls_per_hour": _text(number.max_calls_per_hour),
        "max_calls_per_day": _text(number.max_calls_per_day),
        "templates": TEMPLATE_SEPARATOR.join(templates),
        "trai_registered": "true" if number.trai_registered else "false",
        "stir_shaken_attested": "true" if number.stir_shaken_attested else "false",
        "account": number.account or "",
        "credentials": _text(number.credentials),
        "label": number.label or "",
    }


def write_csv(rows: Iterable[Mapping[str, str]], target: IO[str]) -> None:
    writer = csv.DictWriter(target, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _parse_row(line: int, row: Mapping[str, str], report: ImportReport) -> ParsedRow | None:
    if "__fields__" in row:
        report.errors.append(RowError(line, None, row["__fields__"]))
        return None
    errors: list[RowError] = []

    def field_value(column: str, parse: Callable[[str], Any], default: Any = None) -> Any:
        raw = row.get(column, "").strip()
        if not raw:
            if column in REQUIRED_COLUMNS:
                errors.append(RowError(line, column, "is empty"))
            return default
        try:
            return parse(raw)
        except ValueError as error:
            errors.append(RowError(line, column, str(error)))
            return default

    e164 = field_value("e164", lambda v: normalize_e164(v, what="number"))
    provider = field_value("provider", Provider)
    limits = {
        name: field_value(name, lambda v, name=name: _whole(name, v), default)
        for name, default in (
            ("max_concurrent_calls", 1),
            ("max_calls_per_hour", None),
            ("max_calls_per_day", None),
        )
    }
    flags = {name: field_value(name, _flag, False) for name in _FLAG_COLUMNS}
    templates = field_value("templates", _templates, ())
    credentials = field_value("credentials", _credentials)
    if errors:
        report.errors.extend(errors)
        return None
    try:
        number = OutboundNumber(
            e164,
            provider,
            **limits,
            **flags,
            account=row.get("account", "").strip() or None,
            credentials=credentials,
            label=row.get("label", "").strip() or None,
        )
    except ValueError as error:
        report.errors.append(RowError(line, None, str(error)))
        return None
    return ParsedRow(line, number, templates)


_FLAG_COLUMNS = ("trai_registered", "stir_shaken_attested")


def _whole(name: str, raw: str) -> int:
    if len(raw) > 20 or not raw.isascii() or not raw.lstrip("+-").isdigit():
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise ValueError(f"{name} must be a whole number >= 1, got {shown!r}")
    return check_limit(name, int(raw), optional=False)  # type: ignore[return-value]


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _templates(raw: str) -> tuple[str, ...]:
    ids = [part.strip() for part in raw.split(TEMPLATE_SEPARATOR) if part.strip()]
    return tuple(dict.fromkeys(check_template_id(t) for t in ids))


def _credentials(raw: str) -> CredentialRef:
    try:
        return CredentialRef.parse(raw)
    except CredentialError as error:
        raise ValueError(str(error)) from None


def _check_header(header: list[str]) -> list[str]:
    columns = [c.strip().lower() for c in header]
    if columns and columns[0].startswith("\ufeff"):
        columns[0] = columns[0].lstrip("\ufeff")
    unknown = [c for c in columns if c not in COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if missing:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in ";\t"):
            hint = " (the file looks separated by ';' or tabs; numsim reads comma-separated CSV)"
        raise ImportFileError(f"missing required column(s) {', '.join(missing)}{hint}")
    if unknown:
        raise ImportFileError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; known columns are "
            + ", ".join(COLUMNS)
        )
    if duplicated:
        raise ImportFileError(f"column(s) {', '.join(duplicated)} appear more than once")
    return columns


def _row(line: int, columns: list[str], fields: list[str]) -> dict[str, str]:
    if len(fields) > len(columns):  # values with no column: refuse rather than lose them
        return {"__fields__": f"has {len(fields)} fields, the header has {len(columns)}"}
    fields = fields + [""] * (len(columns) - len(fields))  # short rows: trailing blanks
    return dict(zip(columns, fields, strict=True))


def _read_text(source: str | IO[str] | IO[bytes]) -> str:
    if isinstance(source, str):
        try:
            with open(source, "rb") as handle:
                data: str | bytes = handle.read()
        except OSError as error:
            raise ImportFileError(f"cannot read {source}: {error.strerror}") from None
    else:
        data = source.read()
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise ImportFileError("not a CSV file: it holds binary data")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFileError("not a UTF-8 text file; save the CSV as UTF-8") from None
    return data


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # pandas turns an int column with gaps into floats
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _required() -> str:
    return "columns " + ", ".join(REQUIRED_COLUMNS)
