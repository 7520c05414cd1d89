"""The command line: readable output, exit code 1 and no traceback on bad input."""

import json
from pathlib import Path

import pytest

from numsim.cli import main

SAMPLE = str(Path(__file__).parent.parent / "data" / "numbers.csv")


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cli.db")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_list_and_export(capsys, db, tmp_path):
    code, out, _ = run(capsys, "numbers", "--db", db, "import", SAMPLE)
    assert code == 0 and "added 9" in out
    code, out, _ = run(capsys, "numbers", "--db", db, "list", "--template", "collections")
    assert code == 0
    assert "+912240000011" in out and "+14155550100" not in out
    code, out, _ = run(capsys, "numbers", "--db", db, "list", "--json")
    rows = json.loads(out)
    assert len(rows) == 9 and {"e164", "provider", "capacity", "templates"} <= set(rows[0])
    target = tmp_path / "out.csv"
    code, _, err = run(capsys, "numbers", "--db", db, "export", str(target))
    assert code == 0 and "exported 9" in err
    assert target.read_text().startswith("e164,provider")


def test_import_with_bad_rows_lands_good_ones_and_exits_1(capsys, db, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("e164,provider\n+14155550100,twilio\n+1415,twilio\n")
    code, out, err = run(capsys, "numbers", "--db", db, "import", str(bad))
    assert code == 1
    assert "added 1" in out and "line 3, column e164" in out
    assert "Traceback" not in out + err


def test_add_assign_rotate_remove(capsys, db):
    assert run(capsys, "numbers", "--db", db, "add", "+14155550100", "--provider", "twilio")[0] == 0
    code, _, _ = run(
        capsys,
        "numbers",
        "--db",
        db,
        "add",
        "+14155550101",
        "--provider",
        "twilio",
        "--stir-shaken",
        "--max-calls-per-hour",
        "30",
        "--credentials",
        "env:TWILIO_AUTH_TOKEN",
    )
    assert code == 0
    assert run(capsys, "numbers", "--db", db, "assign", "us", "+14155550100")[0] == 0
    code, out, _ = run(capsys, "numbers", "--db", db, "rotate", "+14155550100", "+14155550101")
    assert code == 0 and "in 1 template(s): us" in out
    code, out, _ = run(capsys, "numbers", "--db", db, "list", "--template", "us")
    assert "+14155550101" in out and "+14155550100" not in out
    code, _, err = run(capsys, "numbers", "--db", db, "remove", "+14155550101")
    assert code == 1 and "used by template" in err
    assert run(capsys, "numbers", "--db", db, "remove", "+14155550101", "--force")[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "4155550100", "--provider", "twilio"], "no country code"),
        (["add", "+14155550100", "--provider", "vonage"], "unknown provider"),
        (["add", "+14155550100", "--provider", "plivo", "--channels", "0"], "between 1 and"),
        (["add", "+14155550100", "--provider", "plivo", "--credentials", "hunter2"], "reference"),
        (["assign", "t", "+14155550100"], "not in the registry"),
        (["list", "--template", "ghost"], "'ghost'"),
        (["import", "/no/such/file.csv"], "cannot read"),
        (["add", "+14155550100"], "--provider"),
        (["add", "+14155550100", "--provider", "twilio", "--channels", "two"], "invalid int"),
    ],
)
def test_bad_input_is_one_readable_line_and_exit_1(capsys, db, argv, message):
    code, out, err = run(capsys, "numbers", "--db", db, *argv)
    assert code == 1
    assert message in err
    assert "Traceback" not in out + err
    assert "hunter2" not in out + err


def test_usage_errors_exit_1(capsys):
    code, _, err = run(capsys, "frobnicate")
    assert code == 1 and "invalid choice" in err


def test_simulate_without_the_sim_extra_says_what_to_install(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "simpy", None)  # as if numsim[sim] were not installed
    for name in [m for m in sys.modules if m.startswith("numsim.sim")]:
        monkeypatch.delitem(sys.modules, name)
    code, _, err = run(capsys, "simulate", "--hours", "1")
    assert code == 1 and "pip install 'numsim[sim]'" in err and "Traceback" not in err
