"""Bulk import and export: every good row lands, every bad row is reported by line."""

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from numsim import ImportFileError, NumberRegistry, OutboundNumber, phone
from numsim.bulk import COLUMNS, LISTED_ERRORS
from numsim.numbers import NUMBER_FIELDS

SAMPLE = Path(__file__).parent.parent / "data" / "numbers.csv"

MIXED = """\
e164,provider,max_concurrent_calls,max_calls_per_hour,templates,trai_registered,credentials
+14155550100,twilio,1,30,us,false,env:TWILIO_AUTH_TOKEN
4155550101,twilio,1,30,us,false,
+918045000001,exotel,4,,india;collections,true,env:EXOTEL_API_TOKEN
+918045000002,vonage,4,,india,true,
+912240000011,plivo,0,,india,true,
+912240000012,plivo,2.5,,india,maybe,
+1 (415) 555-0100,twilio,1,,us,false,
+912240000013,plivo,5,,bad template,true,
+912240000014,plivo,5,10,india,yes,my-secret-token
+912240000015,plivo,5,10,india,yes,,extra
+912240000017,plivo,5,10,india,yes
+912240000016,plivo,5,100,india,YES,env:PLIVO_AUTH_TOKEN
"""


@pytest.fixture
def registry():
    with NumberRegistry() as reg:
        yield reg


def test_mixed_file_keeps_every_good_row_and_reports_every_bad_one(registry):
    report = registry.import_csv(io.StringIO(MIXED))
    assert report.added == 4
    assert [n.e164 for n in registry.numbers()] == [
        "+14155550100",
        "+912240000016",
        "+912240000017",
        "+918045000001",
    ]
    by_line = {}
    for error in report.errors:
        by_line.setdefault(error.line, []).append(error)
    assert sorted(by_line) == [3, 5, 6, 7, 8, 9, 10, 11]
    assert by_line[3][0].column == "e164" and "no country code" in by_line[3][0].reason
    assert by_line[5][0].column == "provider" and "vonage" in by_line[5][0].reason
    assert by_line[6][0].column == "max_concurrent_calls"
    assert {e.column for e in by_line[7]} == {"max_concurrent_calls", "trai_registered"}
    assert "duplicate of line 2" in by_line[8][0].reason
    assert by_line[9][0].column == "templates"
    assert by_line[10][0].column == "credentials" and "my-secret" not in str(report)
    assert "has 8 fields, the header has 7" in by_line[11][0].reason
    assert registry.get("+912240000017").credentials is None  # a short row is padded
    assert registry.templates()["india"].numbers == (
        "+912240000016",
        "+912240000017",
        "+918045000001",
    )
    assert registry.get("+912240000016").max_calls_per_hour == 100


def test_numbers_already_present_are_reported_not_merged(registry):
    registry.add(OutboundNumber("+14155550100", "twilio", max_calls_per_hour=5))
    report = registry.import_csv(io.StringIO(MIXED))
    assert any(e.line == 2 and "already registered" in e.reason for e in report.errors)
    assert registry.get("+14155550100").max_calls_per_hour == 5


def test_on_existing_update_and_skip(registry):
    registry.add(OutboundNumber("+14155550100", "twilio", max_calls_per_hour=5))
    text = "e164,provider,max_calls_per_hour\n+14155550100,twilio,30\n"
    skipped = registry.import_csv(io.StringIO(text), on_existing="skip")
    assert skipped.skipped == 1 and skipped.ok
    assert registry.get("+14155550100").max_calls_per_hour == 5
    updated = registry.import_csv(io.StringIO(text), on_existing="update")
    assert updated.updated == 1
    assert registry.get("+14155550100").max_calls_per_hour == 30


def test_line_numbers_follow_the_file_through_blank_and_quoted_lines(registry):
    text = 'e164,provider,label\n\n+14155550100,twilio,"two\nlines"\n+1415,twilio,x\n'
    report = registry.import_csv(io.StringIO(text))
    assert report.added == 1
    assert [e.line for e in report.errors] == [5]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary"),
        (b"\xff\xfe\xfa not utf8", "UTF-8"),
        (b"number,carrier\n+14155550100,twilio\n", "missing required column"),
        (b"e164;provider\n+14155550100;twilio\n", "separated by ';'"),
        (b"e164,provider,colour\n+14155550100,twilio,red\n", "unknown column"),
        (b"e164,provider,e164\n+14155550100,twilio,x\n", "more than once"),
        (b'e164,provider\n"+14155550100,twilio\n', "CSV"),
    ],
)
def test_files_that_are_not_our_csv_are_refused_whole(registry, content, message):
    with pytest.raises(ImportFileError, match=message):
        registry.import_csv(io.BytesIO(content))
    assert len(registry) == 0


def test_missing_file_is_a_clear_error(registry, tmp_path):
    with pytest.raises(ImportFileError, match="cannot read"):
        registry.import_csv(str(tmp_path / "nope.csv"))


def test_header_is_case_and_space_insensitive_and_bom_tolerant(registry):
    text = "\ufeff E164 , Provider \n+14155550100,twilio\n".encode()
    assert registry.import_csv(io.BytesIO(text)).added == 1


def test_sample_pool_imports_cleanly(registry):
    report = registry.import_csv(str(SAMPLE))
    assert report.ok and report.added == 9
    assert set(registry.templates()) == {"us-appointments", "loan-reminders", "collections"}


def test_export_round_trips_without_secrets(registry, monkeypatch, tmp_path):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "real-secret-value")
    registry.import_csv(str(SAMPLE))
    out = io.StringIO()
    assert registry.export_csv(out) == 9
    text = out.getvalue()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert "real-secret-value" not in text and "env:TWILIO_AUTH_TOKEN" in text
    with NumberRegistry() as copy:
        assert copy.import_csv(io.StringIO(text)).ok
        assert copy.numbers() == registry.numbers()
        assert copy.templates() == registry.templates()


def test_dataframe_import_reports_rows_like_csv_lines(registry):
    frame = pd.DataFrame(
        {
            "e164": ["+14155550100", "+1415", "+918045000001"],
            "provider": ["twilio", "twilio", "exotel"],
            "max_concurrent_calls": [1, 1, None],  # a gap makes pandas use floats
            "max_calls_per_hour": [None, 10, 60],
            "trai_registered": [False, False, True],
        }
    )
    report = registry.import_dataframe(frame)
    assert report.added == 2
    assert [(e.line, e.column) for e in report.errors] == [(3, "e164")]
    assert registry.get("+918045000001").max_calls_per_hour == 60
    assert registry.get("+918045000001").trai_registered is True


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("+1415555OlOl,twilio,1", "e164", "letter 'O'"),
        ("+14155550100,twilio,99999999999999999999999", "max_concurrent_calls", "whole number"),
        ("+14155550100,twilio,1000001", "max_concurrent_calls", "between 1 and 1,000,000"),
        ("+14155550100,twilio,1_000", "max_concurrent_calls", "whole number"),
        ("+14155550100,twilio,-3", "max_concurrent_calls", "between 1 and"),
        ("+14155550100,twilio,1,env:SEKRET-pasted", "credentials", "variable name"),
    ],
)
def test_a_bad_cell_rejects_its_row_only(registry, row, column, reason):
    text = f"e164,provider,max_concurrent_calls,credentials\n{row}\n+918045000001,exotel,2\n"
    report = registry.import_csv(io.StringIO(text))
    assert report.added == 1 and registry.get("+918045000001").max_concurrent_calls == 2
    [error] = report.errors
    assert (error.line, error.column) == (2, column) and reason in error.reason
    assert "SEKRET" not in str(report)


FORMULAS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://x","y")',
    "@SUM(1+1)",
    "+1+1",
    "-2",
    "\t=1+1",
    "'=literal",  # looks escaped already: escaped once more, so it comes back as it was
    "'-acct",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_export_escapes_formulas_and_import_gives_back_what_was_written(registry, text):
    registry.add(OutboundNumber("+14155550100", "twilio", label=text, account=text))
    out = io.StringIO()
    registry.export_csv(out)
    cells = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert cells["label"] == cells["account"] == "'" + text  # a spreadsheet shows it as text
    assert cells["e164"] == "+14155550100"  # a number is not a formula
    with NumberRegistry() as copy:
        copy.import_csv(io.StringIO(out.getvalue()))
        assert copy.get("+14155550100").label == text
        assert copy.get("+14155550100").account == text


def test_import_keeps_a_leading_tab(registry):
    registry.import_csv(io.StringIO('e164,provider,label\n+14155550100,twilio,"\t=1+1"\n'))
    assert registry.get("+14155550100").label == "\t=1+1"


def test_a_file_refused_after_good_rows_writes_nothing(registry):
    good = "".join(f"+1415201{i:04d},plivo\n" for i in range(1200))
    content = ("e164,provider\n" + good).encode() + b"+14155550100,\xff\xfe\n"
    with pytest.raises(ImportFileError, match="UTF-8"):
        registry.import_csv(io.BytesIO(content))
    assert len(registry) == 0
    assert registry.import_csv(io.StringIO("e164,provider\n" + good)).added == 1200  # usable


def test_duplicates_are_found_across_batches(registry):
    rows = [f"+1415201{i:04d},plivo" for i in range(1200)] + ["+14152010007,plivo"]
    report = registry.import_csv(io.StringIO("e164,provider\n" + "\n".join(rows) + "\n"))
    assert report.added == 1200
    assert [str(e) for e in report.errors] == [
        "line 1202, column e164: +14152010007 is a duplicate of line 9"
    ]


def test_rows_stream_the_csv_columns(registry):
    registry.import_csv(str(SAMPLE))
    first = next(registry.rows())
    assert tuple(first) == COLUMNS
    assert all(isinstance(row["templates"], list) for row in registry.rows())
    pool = list(registry.rows("collections"))
    assert {r["e164"] for r in pool} == {n.e164 for n in registry.pool("collections")}


def test_import_takes_a_path_object(registry, tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("e164,provider\n+14155550100,twilio\n")
    assert registry.import_csv(path).added == 1


def test_an_imported_row_is_the_number_outbound_number_builds(registry):
    header = (
        "e164,provider,max_concurrent_calls,max_calls_per_hour,max_calls_per_day,templates,"
        "trai_registered,stir_shaken_attested,account,credentials,label"
    )
    row = "+1 415 555 0100,PLIVO,5,30,200,templ;t2,yes,N,MA123,env:PLIVO_TOKEN,'=note"
    assert registry.import_csv(io.StringIO(f"{header}\n{row}\n")).ok
    expected = OutboundNumber(
        "+14155550100",
        "plivo",
        max_concurrent_calls=5,
        max_calls_per_hour=30,
        max_calls_per_day=200,
        trai_registered=True,
        account="MA123",
        credentials="env:PLIVO_TOKEN",
        label="=note",
    )
    stored = registry.get("+14155550100")
    assert [getattr(stored, f) for f in NUMBER_FIELDS] == [
        getattr(expected, f) for f in NUMBER_FIELDS
    ]
    assert registry.templates_of("+14155550100") == ["t2", "templ"]


def test_repeated_bad_cells_are_reported_on_every_row(registry):
    rows = "+14155550100,vonage,1\n+14155550101,vonage,1\n+14155550102,plivo,0\n"
    rows += '+14155550103,plivo,0\n+14155550104,plivo,2,"\'\t"\n'
    report = registry.import_csv(io.StringIO("e164,provider,max_concurrent_calls,account\n" + rows))
    assert [(e.line, e.column) for e in report.errors] == [
        (2, "provider"),
        (3, "provider"),
        (4, "max_concurrent_calls"),
        (5, "max_concurrent_calls"),
        (6, None),
    ]
    assert "account must be a provider account id" in report.errors[-1].reason
    assert len(registry) == 0


def test_an_import_leaves_the_phone_cache_alone(registry):
    """A file's numbers are seen once: caching them would only evict the numbers the
    process uses again (and grow memory with the file up to the cache's bound)."""
    phone._parse.cache_clear()
    phone.normalize_e164("+14155550100")  # a number the process uses
    rows = "".join(f"+1415201{i:04d},plivo\n" for i in range(300))
    assert registry.import_csv(io.StringIO("e164,provider\n" + rows)).added == 300
    assert phone._parse.cache_info().currsize == 1
    phone.normalize_e164("+14155550100")
    assert phone._parse.cache_info().hits == 1


def test_a_file_of_bad_rows_is_counted_whole_and_lists_its_first_errors(tmp_path):
    """Memory stays bounded however many rows are bad: every bad row is counted, the
    errors of the first LISTED_ERRORS by line are listed, duplicates included."""
    rows = ["e164,provider,max_concurrent_calls"]
    rows += ["+14155550100,twilio,1"] * 2  # line 3 repeats line 2
    rows += [f"+1415555{i:04d},nobody,1" for i in range(LISTED_ERRORS + 500)]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    report = NumberRegistry(tmp_path / "n.db").import_csv(path)
    assert (report.added, report.rejected) == (1, LISTED_ERRORS + 501)
    assert len(report.errors) == LISTED_ERRORS
    assert [e.line for e in report.errors] == list(range(3, LISTED_ERRORS + 3))
    assert report.errors[0].reason == "+14155550100 is a duplicate of line 2"
    assert not report.ok
    assert (
        str(report).splitlines()[-1] == f"  (the first {LISTED_ERRORS} errors by line are listed)"
    )
