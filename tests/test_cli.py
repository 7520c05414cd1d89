"""The command line: readable output, exit code 1 and no traceback on bad input."""

import io
import json
import re
from pathlib import Path

import pytest

from numsim import NumberRegistry
from numsim.bulk import COLUMNS
from numsim.cli import main

SAMPLE = str(Path(__file__).parent.parent / "data" / "numbers.csv")


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cli.db")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rotate_into_a_number_of_the_same_pool_is_one_line_and_exit_1(capsys, db):
    for number in ("+14155550100", "+14155550101"):
        assert run(capsys, "numbers", "--db", db, "add", number, "--provider", "twilio")[0] == 0
        assert run(capsys, "numbers", "--db", db, "assign", "us", number)[0] == 0
    code, out, err = run(capsys, "numbers", "--db", db, "rotate", "+14155550100", "+14155550101")
    assert code == 1 and out == ""
    assert err == (
        "numsim: error: cannot rotate +14155550100 into +14155550101: +14155550101 is "
        "already in template(s) us, which would lose a number\n"
    )


def test_import_list_and_export(capsys, db, tmp_path):
    code, out, _ = run(capsys, "numbers", "--db", db, "import", SAMPLE)
    assert code == 0 and "added 9" in out
    code, out, _ = run(capsys, "numbers", "--db", db, "list", "--template", "collections")
    assert code == 0
    assert "+912240000011" in out and "+14155550100" not in out
    code, out, _ = run(capsys, "numbers", "--db", db, "list", "--json")
    rows = json.loads(out)
    assert len(rows) == 9 and tuple(rows[0]) == COLUMNS  # one set of names everywhere
    code, out, _ = run(capsys, "numbers", "--db", db, "list")
    assert out.split("\n")[0].split() == list(COLUMNS)
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


@pytest.fixture
def existing(db):
    NumberRegistry(db).close()
    return db


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "4155550100", "--provider", "twilio"], "no country code"),
        (["add", "+1 415 555 O1OO", "--provider", "twilio"], "letter 'O'"),
        (["add", "+14155550100", "--provider", "vonage"], "unknown provider"),
        (["add", "+14155550100", "--provider", "plivo", "--channels", "0"], "between 1 and"),
        (
            ["add", "+14155550100", "--provider", "plivo", "--channels", "9" * 23],
            "between 1 and 1,000,000",
        ),
        (["add", "+14155550100", "--provider", "plivo", "--credentials", "hunter2"], "reference"),
        (
            ["add", "+14155550100", "--provider", "plivo", "--credentials", "env:hunter2-x"],
            "variable name",
        ),
        (["assign", "t", "+14155550100"], "not in the registry"),
        (["list", "--template", "ghost"], "'ghost'"),
        (["import", "/no/such/file.csv"], "cannot read"),
        (["add", "+14155550100"], "--provider"),
        (["add", "+14155550100", "--provider", "twilio", "--channels", "two"], "whole number"),
        (["update", "+14155550100", "--channels", "2"], "not in the registry"),
        (["update", "+14155550100"], "nothing to update"),
        (["export", "/no/such/dir/out.csv"], "No such file or directory"),
    ],
)
def test_bad_input_is_one_readable_line_and_exit_1(capsys, existing, argv, message):
    code, out, err = run(capsys, "numbers", "--db", existing, *argv)
    assert code == 1
    assert message in err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1
    assert "hunter2" not in out + err


def _bad_registries(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("not a database, just text\n" * 100)
    return [
        ("", "--db is empty"),
        (":memory:", ":memory:, which keeps nothing"),
        (str(tmp_path / "missing" / "x.db"), "does not exist"),
        (str(tmp_path / "folder"), "is a directory"),
        (str(tmp_path / "notes.txt"), "not a numsim registry"),
    ]


@pytest.mark.parametrize("action", [["import", SAMPLE], ["list"], ["export"]])
def test_a_registry_path_that_cannot_work_is_one_line(capsys, tmp_path, action):
    for path, message in _bad_registries(tmp_path):
        code, out, err = run(capsys, "numbers", "--db", path, *action)
        assert code == 1, path
        assert message in err and "Traceback" not in err and "added" not in out, path
        assert len(err.strip().splitlines()) == 1


def test_an_empty_numsim_db_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("NUMSIM_DB", "")
    code, out, err = run(capsys, "numbers", "import", SAMPLE)
    assert code == 1 and "$NUMSIM_DB is empty" in err and "added" not in out


def test_reading_a_missing_registry_does_not_create_it(capsys, db):
    code, _, err = run(capsys, "numbers", "--db", db, "list")
    assert code == 1 and "does not exist" in err
    assert not Path(db).exists()


def test_db_may_come_after_the_action(capsys, db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "numbers", "import", "--db", db, SAMPLE)[0] == 0
    assert not (tmp_path / "numsim.db").exists()
    code, out, _ = run(capsys, "numbers", "--db", "ignored.db", "list", "--db", db)
    assert code == 0 and "+912240000011" in out


def test_a_locked_registry_is_one_line(capsys, existing, monkeypatch):
    import functools
    import sqlite3

    import numsim.cli.numbers

    monkeypatch.setattr(
        numsim.cli.numbers, "NumberRegistry", functools.partial(NumberRegistry, timeout=0.1)
    )
    writer = sqlite3.connect(existing, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        code, _, err = run(capsys, "numbers", "--db", existing, "import", SAMPLE)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 1 and "is locked by another process (waited 0.1 s)" in err


def test_update_changes_only_what_is_given(capsys, db):
    run(capsys, "numbers", "--db", db, "add", "+918045000001", "--provider", "plivo", "--trai")
    code, out, _ = run(
        capsys,
        "numbers",
        "--db",
        db,
        "update",
        "+918045000001",
        "--channels",
        "4",
        "--max-calls-per-hour",
        "60",
        "--label",
        "=1+1",
    )
    assert code == 0 and "updated +918045000001" in out
    number = NumberRegistry(db).get("+918045000001")
    assert (number.max_concurrent_calls, number.max_calls_per_hour) == (4, 60)
    assert number.trai_registered and number.label == "=1+1"
    run(capsys, "numbers", "--db", db, "update", "+918045000001", "--max-calls-per-hour", "none")
    assert NumberRegistry(db).get("+918045000001").max_calls_per_hour is None


def test_twilio_channels_warn_naming_the_rule(capsys, db, tmp_path):
    code, _, err = run(
        capsys,
        "numbers",
        "--db",
        db,
        "add",
        "+14155550100",
        "--provider",
        "twilio",
        "--channels",
        "10",
    )
    assert code == 0
    assert err.count("warning") == 1 and "one call at a time" in err
    code, _, err = run(capsys, "numbers", "--db", db, "add", "+14155550101", "--provider", "twilio")
    assert code == 0 and err == ""
    rows = tmp_path / "twilio.csv"
    rows.write_text(
        "e164,provider,max_concurrent_calls\n+14155550102,twilio,5\n+14155550103,twilio,5\n"
    )
    code, _, err = run(capsys, "numbers", "--db", db, "import", str(rows))
    assert code == 0 and err.count("warning") == 1 and "2 row(s)" in err


def test_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    db = str(tmp_path / "big.db")
    with NumberRegistry(db) as registry:
        rows = "\n".join(f"+1415201{i:04d},plivo,{'x' * 80}" for i in range(3000))
        registry.import_csv(io.StringIO("e164,provider,label\n" + rows + "\n"))
    command = [sys.executable, "-m", "numsim", "numbers", "--db", db, "export"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()
    code = process.wait(timeout=60)
    err = process.stderr.read().decode()
    process.stderr.close()
    assert first.startswith(b"e164,provider")
    assert err == "" and code == 141


def test_usage_errors_exit_1(capsys):
    code, _, err = run(capsys, "frobnicate")
    assert code == 1 and "invalid choice" in err
    # A flag the command does not take: refused in the command's name, pointing to its
    # own --help (not numsim's, which does not list it).
    code, _, err = run(capsys, "evaluate", "--numbers", "29", "--finish-by", "8", "x.toml")
    assert code == 1 and err == (
        "numsim evaluate: error: unrecognized arguments: --finish-by x.toml "
        "(see numsim evaluate --help)\n"
    )
    code, _, err = run(capsys, "numbers", "list", "--bogus", "1")
    assert code == 1 and err.endswith("--bogus 1 (see numsim numbers list --help)\n")


@pytest.fixture
def numsim_modules_restored():
    """numsim's modules as they were before the test, whatever it imported again: a
    module imported afresh while an extra was hidden must not outlive the test (later
    tests then pickled functions of two copies of one module)."""
    import sys

    saved = {name: module for name, module in sys.modules.items() if name.startswith("numsim")}
    yield
    for name in [name for name in sys.modules if name.startswith("numsim")]:
        del sys.modules[name]
    sys.modules.update(saved)
    for name, module in saved.items():  # a package's attribute for each of its modules
        parent, _, child = name.rpartition(".")
        if parent in saved:
            setattr(saved[parent], child, module)


@pytest.mark.parametrize(
    ("argv", "module", "extra"),
    [
        (["simulate", "--hours", "1"], "simpy", "sim"),
        (["size", "--hours", "1"], "simpy", "sim"),
        (["evaluate", "--numbers", "5"], "simpy", "sim"),
        (["size", "--hours", "1", "--dask-scheduler", "tcp://127.0.0.1:1"], "distributed", "dask"),
        (["serve", "--port", "1"], "uvicorn", "service"),
        (["check", "--redis", "redis://127.0.0.1:1"], "redis", "redis"),
    ],
)
@pytest.mark.usefixtures("numsim_modules_restored")
def test_a_command_without_its_extra_says_what_to_install(capsys, monkeypatch, argv, module, extra):
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    for name in [m for m in sys.modules if m.startswith(("numsim.sim", "numsim.allocator.redis"))]:
        monkeypatch.delitem(sys.modules, name)
    code, out, err = run(capsys, *argv)
    checkout = Path(__file__).resolve().parent.parent
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("numsim: error: ") and f"needs the {extra} extra ({module} " in err
    assert f"pip install -e '{checkout}[{extra}]'" in err  # what works in this source checkout


def test_redis_backend_without_the_redis_extra_says_what_to_install(monkeypatch):
    import sys

    import numsim

    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "numsim.allocator.redis", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"needs the redis extra .*pip install -e"):
        numsim.RedisBackend  # noqa: B018


def test_install_command_outside_a_checkout(monkeypatch, tmp_path):
    import numsim.extras

    monkeypatch.setattr(numsim.extras, "_CHECKOUT", tmp_path)
    assert numsim.extras.install_command("sim") == "pip install 'numsim[sim]'"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hours", "1e9"], "over max_attempts = 5,000,000"),
        (["--calls-per-hour", "1e15"], "over max_attempts"),
        (["--calls-per-hour", "1e308"], "up to more attempts than can be counted"),
        (["--numbers", "100000000"], "--numbers must be a whole number between 1 and 100,000"),
        (["--numbers", "0"], "--numbers must be a whole number between 1 and 100,000"),
        (["--hours", "nan"], "hours must be a finite number > 0"),
        (["--max-attempts", "10", "--hours", "1"], "over max_attempts = 10"),
    ],
)
def test_simulations_that_cannot_finish_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, "simulate", *argv)
    assert code == 1 and message in err and out == ""
    assert len(err.strip().splitlines()) == 1


BAD_SCENARIO = """hours = 1
[[numbers]]
count = 2
[[arrivals]]
calls_per_hour = 10
"""


@pytest.mark.parametrize("command", ["simulate", "size"])
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('calling_hours = "weekends"', 'calling_hours must be "default" or a table'),
        ("calling_hours = 5", "calling_hours must be"),
        ('calling_hours = ["08:00", "21:00"]', "calling_hours must be"),
        ('destination_limit = "x"', "destination_limit must be a table of settings (max_calls"),
        ("destination_limit = {calls = 1}", "destination_limit: unknown setting(s) calls; known"),
        ('[[arrivals]]\ncountry = "ZZ"\ncalls_per_hour = 5', "arrivals[1]: unknown country 'ZZ'"),
        ('[[numbers]]\ncountry = "ZZ"', "numbers[1]: unknown country 'ZZ'"),
        ('compliance = "yes"', "compliance must be true, false or a table"),
        ("calls_per_second = 5", "calls_per_second must be a table"),
        ("calls_per_second = {nexmo = 1}", "calls_per_second: 'nexmo' is neither a provider"),
        ("lease_ttl_seconds = 1e9", "scenario: lease_ttl_seconds must be a finite number"),
        ("[[numbers]]\ntemplates = 5", "numbers[1]: templates must be a template id or a list"),
        (  # Tokelau: 2,600 fake mobile numbers
            '[[arrivals]]\ncountry = "TK"\ncalls_per_hour = 5\npopulation = 3000',
            "population: numsim has 2,600 fake numbers of TK to call, not 3,000; ask for fewer",
        ),
        (
            '[[campaigns]]\ncountry = "TK"\ncalls_per_hour = 5\ncontacts = 3000',
            "contacts: numsim has 2,600 fake numbers of TK to call, not 3,000; ask for fewer",
        ),
        (  # Tristan da Cunha: phonenumbers knows no mobile numbers
            '[[arrivals]]\ncountry = "TA"\ncalls_per_hour = 5',
            "population: numsim has no fake numbers of TA to call",
        ),
    ],
)
def test_a_bad_scenario_file_is_one_line_naming_the_field(
    capsys, tmp_path, command, setting, message
):
    """Found by a new user's trial: these were tracebacks, or messages naming no field."""
    path = tmp_path / "bad.toml"
    table = setting.startswith("[")  # after the scenario's own tables, else before them
    path.write_text(f"{BAD_SCENARIO}{setting}\n" if table else f"{setting}\n{BAD_SCENARIO}")
    code, out, err = run(capsys, command, str(path))
    assert code == 1 and out == "" and message in err, err
    assert err.startswith("numsim: error: ") and len(err.strip().splitlines()) == 1


def test_a_population_canada_cannot_fill_is_one_line(capsys, tmp_path):
    """Found by a new user's trial: Canada has 590,000 fake destinations (its area codes
    times the 10,000 numbers of the 555 exchange), found out while generating them."""
    path = tmp_path / "canada.toml"
    path.write_text(
        f'{BAD_SCENARIO}[[arrivals]]\ncountry = "CA"\ncalls_per_hour = 5\npopulation = 600000\n'
    )
    code, out, err = run(capsys, "simulate", str(path))
    assert code == 1 and out == ""
    assert err == (
        "numsim: error: population: numsim has 590,000 fake numbers of CA to call, "
        "not 600,000; ask for fewer\n"
    )


@pytest.mark.parametrize("command", ["simulate", "size"])
def test_a_scenario_file_that_is_not_text_is_one_line_naming_the_file(capsys, tmp_path, command):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe" + BAD_SCENARIO.encode())
    code, out, err = run(capsys, command, str(path))
    assert code == 1 and out == ""
    assert err.startswith(f"numsim: error: {path} is not valid TOML: not UTF-8")
    assert len(err.strip().splitlines()) == 1


def test_simulating_twilio_channels_warns_once(capsys):
    argv = ["--provider", "twilio", "--channels", "10", "--hours", "0.1", "--json"]
    code, out, err = run(capsys, "simulate", *argv)
    assert code == 0 and json.loads(out)["attempts"] > 0
    assert err.count("warning") == 1 and "one call at a time" in err


def test_json_mode_shows_progress_on_a_terminal_stderr_only(capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run(capsys, "simulate", "--hours", "0.2", "--seed", "1", "--json")
    assert code == 0 and json.loads(out)["attempts"] > 0  # stdout stays one JSON object
    assert "100%" in err


def test_mean_duration_changes_a_files_talk_time_not_its_load(tmp_path, capsys):
    scenario = tmp_path / "connected.toml"
    scenario.write_text(
        'hours = 1\n[[numbers]]\nprovider = "plivo"\ncount = 20\n'
        "[[arrivals]]\ncalls_per_hour = 300\n"
        '[call]\nload_counts = "connected"\nanswer_probability = 0.5\n'
        'talk_seconds = { kind = "exponential", mean = 120 }\n'
    )
    runs = []
    for extra in ([], ["--mean-duration", "60"]):
        assert main(["simulate", str(scenario), "--seed", "1", "--json", *extra]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["attempts"] == runs[1]["attempts"]  # 300 connected an hour either way
    assert runs[1]["utilization"] < runs[0]["utilization"]  # shorter calls


def test_the_readmes_sizing_sample_is_what_the_command_prints(capsys):
    """The README's `numsim size` sample is a real run's output (its timing aside)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Sizing a pool") :]
    command, sample = section.split("```")[1], section.split("```")[3]
    first = command.removeprefix("sh\n").split("\nnumsim size data/")[0]
    argv = first.replace("\\\n", " ").split()[1:]
    assert argv[0] == "size" and "--service-level" in argv
    assert main([*argv, "--workers", "1"]) == 0
    out = capsys.readouterr().out

    def untimed(text: str) -> list[str]:
        return [re.sub(r" in [\d.]+ s$", " in (time)", line) for line in text.strip().splitlines()]

    assert untimed(out) == untimed(sample)


SCENARIOS = Path(__file__).parent.parent / "data" / "scenarios"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["size", str(SCENARIOS / "twilio-600-per-hour.toml"), "--finish-by", "8"],
            "--finish-by sizes a campaign scenario (one with [[campaigns]]), and this one has "
            "none: drop --finish-by, and size it with --service-level",
        ),
        (
            ["size", str(SCENARIOS / "india-campaign.toml")],
            "this scenario's load is campaigns (contact lists): size it against a deadline "
            "with --finish-by HOURS",
        ),
        (
            ["evaluate", "--numbers", "5,10000000"],
            "--numbers must be a whole number between 1 and 100,000, got 10000000",
        ),
        (
            ["simulate", "--numbers", "10000000"],
            "--numbers must be a whole number between 1 and 100,000, got 10000000",
        ),
        (
            ["simulate", "--mean-duration", "0"],
            "--mean-duration must be a finite number > 0, got 0.0",
        ),
        (
            ["size", "--mean-duration", "-5"],
            "--mean-duration must be a finite number > 0, got -5.0",
        ),
    ],
)
def test_planning_errors_name_the_option_typed(capsys, argv, message):
    """No Python names (FinishBy, count, an exponential distribution's mean)."""
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err == f"numsim: error: {message}\n"


def test_export_to_a_missing_directory_says_it_cannot_write(capsys, db, tmp_path):
    assert run(capsys, "numbers", "--db", db, "import", SAMPLE)[0] == 0
    target = tmp_path / "missing" / "numbers.csv"
    code, _, err = run(capsys, "numbers", "--db", db, "export", str(target))
    assert code == 1
    assert err == f"numsim: error: cannot write {target}: No such file or directory\n"


def test_simulate_prints_campaigns_and_refusals_as_text_not_python(capsys):
    scenario = str(SCENARIOS / "india-campaign.toml")
    code, out, _ = run(capsys, "simulate", scenario, "--hours", "1", "--seed", "1")
    assert code == 0
    lines = {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines()[2:]}
    assert lines["campaigns"].startswith("template default, contacts 10000, answered ")
    assert lines["campaigns"].endswith(", completed hours -")
    assert lines["campaign_completion_hours"] == "-"
    assert not any(c in out for c in "{}[]'") and "None" not in out


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (
            "127.0.0.1",
            "cannot listen on 127.0.0.1 port {port} (--host, --port): Address already in use",
        ),
        ("192.0.2.1", "cannot listen on 192.0.2.1 port {port} (--host, --port): Cannot assign"),
        ("no-such-host.invalid", "--host no-such-host.invalid: "),
    ],
)
def test_serve_that_cannot_listen_is_one_line(capsys, monkeypatch, db, host, message):
    """A port in use, or a host not this machine's: one numsim line and exit 1, not
    uvicorn's log and its exit 3."""
    import socket

    pytest.importorskip("uvicorn")
    monkeypatch.setenv("NUMSIM_API_TOKEN", "a-test-token-of-enough-length-0123")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--db", db, "--host", host, "--port", str(port))
    assert code == 1 and out == ""
    assert err.startswith(f"numsim: error: {message.format(port=port)}") and err.count("\n") == 1
