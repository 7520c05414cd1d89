"""Bulk rows <-> numbers: the CSV columns, parsing each row, and reporting bad ones.

Files stream through in bounded memory: rows are read, parsed and written one at a time.
"""

from __future__ import annotations

import csv
import heapq
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import IO, Any, NamedTuple

from .credentials import CredentialError, CredentialRef
from .errors import ImportFileError, InvalidNumberError
from .numbers import (
    NUMBER_FIELDS,
    SETTINGS,
    Provider,
    Setting,
    check_account,
    check_template_id,
)
from .phone import normalize_e164
from .validation import whole

REQUIRED_COLUMNS = tuple(s.name for s in SETTINGS if s.required)
# The one set of column names (CSV, `numsim numbers list`, `--json`): a number's settings,
# with its templates after its limits.
_AFTER_LIMITS = max(i for i, s in enumerate(SETTINGS) if s.kind == "whole") + 1
COLUMNS = (*NUMBER_FIELDS[:_AFTER_LIMITS], "templates", *NUMBER_FIELDS[_AFTER_LIMITS:])
# A cell starting with one of these is a formula to a spreadsheet (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
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


class ParsedRow(NamedTuple):
    """A good row: its number's fields as stored (NUMBER_FIELDS order: the provider's
    name, flags as bools, credentials as a reference string), checked once by the
    same rules as OutboundNumber, without building one (a bulk import's hot path).

    `given` names the settings the row has a column (a JSON key) for, `cleared` those
    of them it left empty (null): an update changes only the given settings, as PATCH."""

    line: int
    e164: str
    fields: tuple[object, ...]
    templates: tuple[str, ...]
    given: frozenset[str] = frozenset(NUMBER_FIELDS)
    cleared: frozenset[str] = frozenset()


LISTED_ERRORS = 1000  # the errors an ImportReport lists: the first, by line


@dataclass(slots=True)
class ImportReport:
    """What a bulk import did: counts of good and bad rows, and the errors of the first bad
    rows by line (up to LISTED_ERRORS: a file of a million rows, good or bad, is not kept
    in memory)."""

    added: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0  # bad rows
    twilio_channels: int = 0  # good Twilio rows giving channels > 1 (stored; they carry 1)
    # The listed errors as a heap of (-line, -arrival, error): the latest line goes first.
    _listed: list[tuple[int, int, RowError]] = field(default_factory=list, repr=False)
    _arrivals: int = field(default=0, repr=False)

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def errors(self) -> list[RowError]:
        """The errors of the first bad rows, by line (all of them if there are few)."""
        return [error for _, _, error in sorted(self._listed, reverse=True)]

    def reject(self, *errors: RowError) -> None:
        """Count one bad row, and list its errors if they are among the first."""
        self.rejected += 1
        for error in errors:
            self._arrivals += 1
            item = (-error.line, -self._arrivals, error)
            if len(self._listed) < LISTED_ERRORS:
                heapq.heappush(self._listed, item)
            elif item > self._listed[0]:
                heapq.heapreplace(self._listed, item)

    def __str__(self) -> str:
        lines = [
            f"added {self.added}, updated {self.updated}, "
            f"skipped {self.skipped}, rejected {self.rejected} row(s)"
        ]
        listed = self.errors
        lines += [f"  {error}" for error in listed]
        if self.rejected > len({error.line for error in listed}):
            lines.append(f"  (the first {len(listed)} errors by line are listed)")
        return "\n".join(lines)


def read_csv_rows(
    source: str | os.PathLike[str] | IO[str] | IO[bytes],
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) from CSV text as it is read; ImportFileError (raised whenever
    it shows, possibly after good rows) if the file is not our CSV."""
    with _text_lines(source) as lines:
        reader = csv.reader(lines, strict=True)
        failure = None
        try:
            header = next((row for row in reader if any(map(str.strip, row))), None)
            if header is None:
                raise ImportFileError(
                    f"the file is empty; expected a CSV header with {_required()}"
                )
            columns = _check_header(header)
            line = reader.line_num + 1
            for fields in reader:
                if any(map(str.strip, fields)):
                    yield line, _row(line, columns, fields)
                line = reader.line_num + 1
        except csv.Error as error:
            failure = f"not a readable CSV file: {error}"
        except UnicodeDecodeError as error:
            failure = (
                "not a CSV file: it holds binary data"
                if b"\x00" in error.object
                else "not a UTF-8 text file; save the CSV as UTF-8"
            )
        if failure:  # raised here, not in the except: the error's context holds file bytes
            raise ImportFileError(failure)


def frame_rows(frame: Any) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a pandas DataFrame (untyped here: pandas is optional), numbered as if
    written to CSV with a header."""
    import pandas as pd

    columns = _check_header([str(c) for c in frame.columns])
    rows = frame.itertuples(index=False, name=None)
    for position, values in enumerate(rows, start=2):
        cells = ["" if pd.isna(v) else _cell_text(v) for v in values]
        yield position, _row(position, columns, cells)


def parse_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]], report: ImportReport
) -> Iterator[ParsedRow]:
    """Turn raw rows into numbers' fields as they come; bad rows go to `report.reject`."""
    for line, row in rows:
        result = _parse_row(line, row, report)
        if result is not None:
            yield result


def write_csv(rows: Iterable[Mapping[str, object]], target: IO[str]) -> int:
    """Write registry rows (see NumberRegistry.rows) as CSV, one at a time; returns rows.

    Cells a spreadsheet would run as a formula get a leading ``'`` (the OWASP rule);
    import removes exactly that ``'`` again, so an export imports back unchanged.
    """
    writer = csv.writer(target, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_cell(name, row[name]) for name in COLUMNS])
        count += 1
    return count


def _parse_row(line: int, row: Mapping[str, str], report: ImportReport) -> ParsedRow | None:
    if "__fields__" in row:
        report.reject(RowError(line, None, row["__fields__"]))
        return None
    values: list[Any] = []
    errors: list[RowError] = []
    cleared = []
    for spec, parse in _PARSERS:
        raw = row.get(spec.name) or ""
        if not raw.strip():
            if spec.required:
                errors.append(RowError(line, spec.name, "is empty"))
            elif spec.name in row:
                cleared.append(spec.name)
            values.append(spec.default)
            continue
        try:
            values.append(parse(raw if spec.kind == "text" else raw.strip()))
        except ValueError as error:
            errors.append(RowError(line, spec.name, str(error)))
    templates: tuple[str, ...] = ()
    try:
        templates = _templates(row.get("templates") or "")
    except ValueError as error:
        errors.append(RowError(line, "templates", str(error)))
    if errors:
        report.reject(*errors)
        return None
    try:
        check_account(values[_ACCOUNT], values[_E164])
    except ValueError as error:
        report.reject(RowError(line, None, str(error)))
        return None
    provider: Provider = values[_PROVIDER]
    if values[_CHANNELS] > 1 and provider.one_call_per_number:
        report.twilio_channels += 1
    values[_PROVIDER] = provider.value
    given = _given(frozenset(row))
    return ParsedRow(line, values[_E164], tuple(values), templates, given, frozenset(cleared))


@lru_cache(maxsize=64)  # a file's rows name the same columns (a JSON list's, a few sets)
def _given(columns: frozenset[str]) -> frozenset[str]:
    return frozenset(name for name in NUMBER_FIELDS if name in columns)


def _e164(raw: str) -> str:
    return normalize_e164(raw, what="number", cache=False)  # a file names each number once


# The cells below repeat from row to row (a file holds a few providers, limits,
# templates): each distinct text is parsed once. Errors are not cached.
@lru_cache(maxsize=4096)
def _provider(raw: str) -> Provider:
    return Provider(raw)


@lru_cache(maxsize=4096)
def _whole(name: str, minimum: int, maximum: int, raw: str) -> int:
    if len(raw) > 20 or not raw.isascii() or not raw.lstrip("+-").isdigit():
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {shown!r}")
    return whole(name, int(raw), minimum=minimum, maximum=maximum, error=InvalidNumberError)


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


@lru_cache(maxsize=4096)  # a file names a few templates, on every row
def _templates(raw: str) -> tuple[str, ...]:
    ids = [part.strip() for part in raw.split(TEMPLATE_SEPARATOR) if part.strip()]
    return tuple(dict.fromkeys(check_template_id(t) for t in ids))


@lru_cache(maxsize=4096)
def _credentials(raw: str) -> str:
    """The reference as stored (CredentialRef's text form)."""
    try:
        return str(CredentialRef.parse(raw))
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


@contextmanager
def _text_lines(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> Iterator[Iterator[str]]:
    """The source's lines, decoded as UTF-8 as they are read (a file object stays open)."""
    if isinstance(source, str | os.PathLike):
        try:
            handle = open(source, encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as error:
            raise ImportFileError(f"cannot read {source}: {error.strerror}") from None
        with handle:
            yield _no_nul(handle)
    elif isinstance(source.read(0), bytes):
        wrapper = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")  # type: ignore[type-var]
        try:
            yield _no_nul(wrapper)
        finally:
            wrapper.detach()
    else:
        yield _no_nul(source)  # type: ignore[arg-type]


def _no_nul(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if "\x00" in line:
            raise ImportFileError("not a CSV file: it holds binary data")
        yield line


def _free_text(raw: str) -> str | None:
    """Account and label as written (a leading tab stays), less the export's escape."""
    if not raw.strip():
        return None
    if _escaped(raw):
        return raw[1:]
    return raw


def _cell(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "templates":
        return TEMPLATE_SEPARATOR.join(value)  # type: ignore[arg-type]
    text = str(value)
    if name != "e164" and _needs_escape(text):
        return "'" + text
    return text


def _needs_escape(text: str) -> bool:
    """A cell a spreadsheet would run, or one that reads as an escape already (it is
    escaped once more, so an export always imports back exactly)."""
    return text.startswith(FORMULA_STARTS) or _escaped(text)


def _escaped(text: str) -> bool:
    """Whether `text` reads as an export's escape: a quote before a cell that needed one."""
    return text.startswith("'") and _needs_escape(text[1:])


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # pandas turns an int column with gaps into floats
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _required() -> str:
    return "columns " + ", ".join(REQUIRED_COLUMNS)


# Each setting's cell parser, by its kind (last: it names the parsers above).
def _parser(spec: Setting) -> Callable[[str], Any]:
    """How a cell of this setting's column is read (an empty cell is its default)."""
    if spec.kind == "whole":
        return partial(_whole, spec.name, spec.minimum, spec.maximum)
    return _KIND_PARSERS[spec.kind]


_KIND_PARSERS: dict[str, Callable[[str], Any]] = {
    "e164": _e164,
    "provider": _provider,
    "flag": _flag,
    "reference": _credentials,
    "text": _free_text,
}
_PARSERS = tuple((spec, _parser(spec)) for spec in SETTINGS)
_E164, _PROVIDER, _CHANNELS, _ACCOUNT = map(
    NUMBER_FIELDS.index, ("e164", "provider", "max_concurrent_calls", "account")
)
