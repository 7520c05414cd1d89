"""Each number setting is declared once (numbers.SETTINGS) and reaches every place that
reads or writes numbers: a setting missing from one of them fails here."""

import io
import sqlite3
from dataclasses import fields
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import numsim
from numsim.allocator.refusal import REASONS
from numsim.bulk import COLUMNS
from numsim.cli import build_parser, main
from numsim.numbers import CAPS, NUMBER_FIELDS, SETTINGS, OutboundNumber, caps
from numsim.service import create_app
from numsim.service.models import NumberIn, NumberSettings, number_row
from numsim.sim.pool import numbers_and_templates
from numsim.sim.scenario import GROUP_NAMES, NumberGroup, Scenario, ScenarioError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOKEN = "test-token-0123456789abcdef"
E164 = "+919122400001"


def _value(spec):
    """A value of the setting that is not its default (so a place that drops it shows)."""
    kind = spec.kind
    if kind == "e164":
        return E164
    if kind == "provider":
        return "plivo"  # keeps max_concurrent_calls (Twilio's capacity is 1)
    if kind == "whole":
        return spec.minimum + 6 + len(spec.name)  # a different value per setting
    if kind == "flag":
        return not spec.default
    if kind == "reference":
        return f"env:NUMSIM_TEST_{spec.name.upper()}"
    return f"some {spec.name}"


SAMPLE = OutboundNumber(**{spec.name: _value(spec) for spec in SETTINGS})


@pytest.fixture(autouse=True)
def _references(monkeypatch):
    for spec in SETTINGS:
        if spec.kind == "reference":
            monkeypatch.setenv(f"NUMSIM_TEST_{spec.name.upper()}", "resolvable")


def test_every_setting_is_declared_with_what_the_places_need():
    assert tuple(f.name for f in fields(OutboundNumber) if f.init) == NUMBER_FIELDS
    for spec in SETTINGS:
        assert spec.help and spec.flag and spec.label
        assert spec.required or spec.optional or spec.kind in ("whole", "flag")
    assert {spec.name: spec.cap for spec in CAPS}.items() >= {
        "max_calls_per_hour": numsim.numbers.Cap("hourly_cap", 3600.0),
        "max_calls_per_day": numsim.numbers.Cap("daily_cap", 86400.0),
    }.items()


def test_caps_are_data_named_by_refusal_reasons():
    assert {spec.cap.reason for spec in CAPS} <= set(REASONS)
    assert caps(SAMPLE) == tuple(
        (spec.cap.reason, spec.cap.window, getattr(SAMPLE, spec.name)) for spec in CAPS
    )
    assert caps(OutboundNumber(E164, "plivo")) == ()


def test_the_registry_has_a_column_per_setting_and_round_trips_it(tmp_path):
    path = tmp_path / "reg.db"
    with numsim.NumberRegistry(path) as registry:
        registry.add(SAMPLE, templates=["t"])
        assert registry.get(E164) == SAMPLE
        (row,) = registry.rows()
        assert row == number_row(SAMPLE, ["t"])
        registry.update(E164, **{spec.name: spec.default for spec in SETTINGS if spec.optional})
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(numbers)")}
    assert set(NUMBER_FIELDS) <= columns


def test_the_csv_has_a_column_per_setting_and_round_trips_it():
    assert [c for c in COLUMNS if c != "templates"] == list(NUMBER_FIELDS)
    with numsim.NumberRegistry() as source, numsim.NumberRegistry() as target:
        source.add(SAMPLE, templates=["t"])
        out = io.StringIO()
        source.export_csv(out)
        report = target.import_csv(io.StringIO(out.getvalue()))
        assert report.ok, report
        assert target.get(E164) == SAMPLE


def test_a_bad_cell_of_every_setting_is_reported_by_its_column():
    for spec in SETTINGS:
        if spec.kind in ("text",):
            continue  # free text: any cell is good
        cells = {name: "" for name in COLUMNS} | {"e164": E164, "provider": "plivo"}
        cells[spec.name] = "=bad"
        with numsim.NumberRegistry() as registry:
            report = registry.import_rows([(1, cells)])
        assert [error.column for error in report.errors] == [spec.name], spec.name


def test_the_http_models_have_a_field_per_setting_and_round_trip_it(tmp_path):
    assert set(NumberIn.model_fields) == set(COLUMNS)
    assert set(NumberSettings.model_fields) == set(NUMBER_FIELDS) - {"e164"}
    with numsim.NumberRegistry() as registry:
        app = create_app(registry, token=TOKEN, sync_interval=None)
        with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            body = number_row(SAMPLE, ["t"])
            response = client.post("/numbers", json=body)
            assert response.status_code == 201, response.text
            assert response.json() == body
            assert registry.get(E164) == SAMPLE
            changes = {spec.name: spec.default for spec in SETTINGS if spec.kind == "whole"}
            changes["max_concurrent_calls"] = 2
            response = client.patch(f"/numbers/{E164}", json=changes)
            assert response.status_code == 200, response.text
            assert {k: response.json()[k] for k in changes} == changes


def test_the_dashboard_form_has_a_field_per_setting_and_round_trips_it():
    import re

    from numsim.service.dashboard.forms import values_of

    with numsim.NumberRegistry() as registry:
        app = create_app(registry, token=TOKEN, sync_interval=None)
        with TestClient(app) as client:
            page = client.get("/dashboard/sign-in")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
            client.post("/dashboard/sign-in", data={"csrf": csrf, "secret": TOKEN})
            form = client.get("/dashboard/numbers/new").text
            assert all(f'<label for="{spec.name}">' in form for spec in SETTINGS)
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]  # the signed-in one
            shown = {k: v for k, v in values_of(SAMPLE, ["t"]).items() if v}
            response = client.post("/dashboard/numbers/new", data={**shown, "csrf": csrf})
            assert response.status_code == 200, response.text  # followed to its page
            assert registry.get(E164) == SAMPLE and registry.templates_of(E164) == ["t"]
            edit = client.get(f"/dashboard/numbers/{E164}").text
            for spec in SETTINGS[1:]:
                assert f'id="{spec.name}"' in edit, spec.name


def _flags(action):
    parser = build_parser()
    numbers = parser._subparsers._group_actions[0].choices["numbers"]
    sub = numbers._subparsers._group_actions[0].choices[action]
    return {a.dest: a.option_strings for a in sub._actions}


@pytest.mark.parametrize("action", ["add", "update"])
def test_the_cli_has_a_flag_per_setting(action):
    flags = _flags(action)
    for spec in SETTINGS:
        if spec.kind != "e164":
            assert f"--{spec.flag}" in flags.get(spec.name, []), spec.name


def _cli_flags(number):
    argv = []
    for spec in SETTINGS:
        value = getattr(number, spec.name)
        if spec.kind == "e164" or value is None:
            continue
        if spec.kind == "flag":
            argv.append(f"--{spec.flag}" if value else f"--no-{spec.flag}")
        else:
            argv += [f"--{spec.flag}", str(value)]
    return argv


def test_the_cli_round_trips_every_setting(tmp_path, capsys):
    db = str(tmp_path / "cli.db")
    assert main(["numbers", "--db", db, "add", E164, *_cli_flags(SAMPLE)]) == 0
    with numsim.NumberRegistry(db) as registry:
        assert registry.get(E164) == SAMPLE
    # A provider change gives the new provider's account and credentials with it.
    twilio = {"account": "AC" + "0" * 32, "credentials": "env:NUMSIM_TEST_CREDENTIALS"}
    plain = OutboundNumber(E164, "twilio", **twilio)
    assert main(["numbers", "--db", db, "update", E164, *_cli_flags(plain)]) == 0
    nones = [
        arg
        for spec in SETTINGS
        if spec.kind == "whole" and spec.optional
        for arg in (f"--{spec.flag}", "none")
    ]
    assert main(["numbers", "--db", db, "update", E164, *nones]) == 0
    with numsim.NumberRegistry(db) as registry:
        got = registry.get(E164)
    for spec in SETTINGS:
        if spec.kind in ("whole", "flag", "provider"):
            assert getattr(got, spec.name) == getattr(plain, spec.name), spec.name


def test_a_number_group_takes_every_group_setting_to_its_numbers():
    names = {f.name for f in fields(NumberGroup)}
    grouped = [spec for spec in SETTINGS if spec.group]
    assert {GROUP_NAMES.get(s.name, s.name) for s in grouped} <= names
    values = {GROUP_NAMES.get(s.name, s.name): getattr(SAMPLE, s.name) for s in grouped}
    values["provider"] = SAMPLE.provider.value
    scenario = Scenario.from_dict(
        {
            "numbers": [{"count": 1, "country": "IN", **values}],
            "arrivals": [{"calls_per_hour": 10.0}],
            "hours": 1.0,
        }
    )
    (number,), _ = numbers_and_templates(scenario)
    for spec in grouped:
        assert getattr(number, spec.name) == getattr(SAMPLE, spec.name), spec.name


def test_a_number_group_checks_each_setting_by_its_declaration():
    for spec in SETTINGS:
        if spec.group and spec.kind == "whole":
            name = GROUP_NAMES.get(spec.name, spec.name)
            with pytest.raises(ScenarioError, match=f"{name} must be a whole number between"):
                NumberGroup(**{name: spec.maximum + 1})


def test_snapshot_rows_carry_every_cap_setting():
    allocator = numsim.Allocator([SAMPLE], {"t": [E164]}, clock=numsim.ManualClock(0.0))
    row = allocator.snapshot().numbers[E164]
    for spec in CAPS:
        assert row[spec.name] == getattr(SAMPLE, spec.name)


@pytest.mark.parametrize("spec", CAPS, ids=lambda spec: spec.name)
def test_every_cap_setting_is_enforced_by_every_backend(spec, make_allocator, clock):
    """A cap declared on OutboundNumber refuses the call over its limit, with its reason
    and a retry_after within its window, on both backends (a new cap reaches the
    backends through numbers.caps, or this fails)."""
    number = OutboundNumber("+14155550100", "twilio", **{spec.name: 1})
    allocator = make_allocator([number], {"t": [number.e164]})
    allocator.release(allocator.acquire("t", "+442079460018"))
    clock.advance(1.0)
    with pytest.raises(numsim.NoNumberAvailable) as refused:
        allocator.acquire("t", "+442079460019")
    assert refused.value.reasons == {number.e164: spec.cap.reason}
    assert 0 < refused.value.retry_after <= spec.cap.window
    clock.advance(spec.cap.window)
    allocator.release(allocator.acquire("t", "+442079460019"))


def test_the_readme_lists_every_csv_column_in_order():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("### CSV columns", 1)[1].split("\n\n")[2]
    listed = [line.split("|")[1].strip().strip("`") for line in table.splitlines()[2:]]
    assert listed == list(COLUMNS)


def test_every_place_reads_every_kind_of_setting():
    """A new kind of setting (not a new setting) is the one change that needs each place."""
    from typing import get_args

    from numsim import bulk
    from numsim.numbers import Kind
    from numsim.service import models
    from numsim.service.dashboard import forms

    kinds = set(get_args(Kind))
    assert {spec.kind for spec in SETTINGS} <= kinds
    assert set(bulk._KIND_PARSERS) | {"whole"} == kinds
    assert set(models._TYPES) == kinds
    assert set(forms._INPUTS) == kinds
