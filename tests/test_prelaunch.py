"""The pre-launch check (numsim.prelaunch): the same findings from the library, the CLI
(`numsim numbers check`) and HTTP (`GET /numbers/check`). Providers are the fakes of
numsim.testing on loopback, asked through the real adapters; nothing leaves the host."""

import json
import re
import socket

import pytest
from fastapi.testclient import TestClient

import numsim
from numsim.cli import main
from numsim.numbers import Provider
from numsim.prelaunch import check_numbers
from numsim.providers.base import ONE_BY_ONE
from numsim.service import create_app
from numsim.testing import FakeExotel, FakePlivo, FakeTwilio

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SID = "AC" + "1" * 32
AUTH_ID = "MA" + "B" * 18
EXO = "acme1"
TOKEN = "test-token-0123456789abcdef"

OWNED, NO_VOICE, FOREIGN, UNATTESTED = (f"+1415555010{i}" for i in range(4))
TRAI, NOT_TRAI, PLIVO_FOREIGN = "+912240000011", "+912240000012", "+912240000013"
EXOPHONE = "+918045000001"
BROKEN, LOOSE = "+14155550109", "+14155550108"


def number(e164, provider="twilio", **fields):
    account = {"twilio": SID, "plivo": AUTH_ID, "exotel": EXO}[provider]
    reference = {"twilio": "env:TW_TOKEN", "plivo": "env:PL_TOKEN", "exotel": "env:EX_KEYS"}
    fields.setdefault("account", account)
    fields.setdefault("credentials", reference[provider])
    return numsim.OutboundNumber(e164, provider, **fields)


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setenv("TW_TOKEN", "tw-secret")
    monkeypatch.setenv("PL_TOKEN", "pl-secret")
    monkeypatch.setenv("EX_KEYS", "ex-key:ex-secret")
    monkeypatch.delenv("MISSING_TOKEN", raising=False)
    with (
        FakeTwilio.started(SID, "tw-secret", [OWNED, UNATTESTED], [NO_VOICE]) as twilio,
        FakePlivo.started(AUTH_ID, "pl-secret", [TRAI, NOT_TRAI]) as plivo,
        FakeExotel.started(EXO, "ex-key", "ex-secret", without_voice=[EXOPHONE]) as exotel,
    ):
        yield {Provider.TWILIO: twilio, Provider.PLIVO: plivo, Provider.EXOTEL: exotel}


def urls(fakes):
    return {provider: fake.url for provider, fake in fakes.items()}


@pytest.fixture
def registry(tmp_path):
    with numsim.NumberRegistry(tmp_path / "numbers.db") as registry:
        us = {"stir_shaken_attested": True}
        registry.add(number(OWNED, **us), templates=["us"])
        registry.add(number(NO_VOICE, **us), templates=["us"])
        registry.add(number(FOREIGN, **us), templates=["us"])
        registry.add(number(UNATTESTED), templates=["us"])
        registry.add(number(BROKEN, credentials="env:MISSING_TOKEN", **us), templates=["us"])
        registry.add(number(LOOSE, account=None, credentials=None, **us), templates=["us"])
        registry.add(number(TRAI, "plivo", trai_registered=True), templates=["india"])
        registry.add(number(NOT_TRAI, "plivo"), templates=["india"])
        registry.add(number(PLIVO_FOREIGN, "plivo", trai_registered=True), templates=["india"])
        registry.add(number(EXOPHONE, "exotel", trai_registered=True), templates=["india"])
        yield registry


EXPECTED = [
    (BROKEN, "credentials", "credentials env:MISSING_TOKEN do not resolve here"),
    (FOREIGN, "provider", f"not a number of twilio account {SID}"),
    (NO_VOICE, "provider", f"owned by twilio account {SID} but not enabled for voice"),
    (LOOSE, "provider", "not checked: the number has no account and credentials"),
    (UNATTESTED, "compliance", "may not call US (needs STIR/SHAKEN attestation)"),
    (NOT_TRAI, "compliance", "may not call IN (needs TRAI registration)"),
    (PLIVO_FOREIGN, "provider", f"not a number of plivo account {AUTH_ID}"),
    (EXOPHONE, "provider", f"owned by exotel account {EXO} but not enabled for voice"),
]


def found(findings):
    return sorted((f["number"], f["check"], f["problem"]) for f in findings)


def matches(findings):
    """Each expected finding is there (its problem starting so), and nothing else."""
    got = found(findings)
    want = sorted(EXPECTED)
    assert [(n, c) for n, c, _ in got] == [(n, c) for n, c, _ in want]
    for (_, _, problem), (_, _, start) in zip(got, want, strict=True):
        assert problem.startswith(start), (problem, start)


def test_the_check_finds_what_would_fail_at_the_provider_or_by_the_rules(fakes, registry):
    report = check_numbers(registry, provider_urls=urls(fakes))
    assert not report.ok and report.numbers == 10
    assert report.regions == {"india": ["IN"], "us": ["US"]}  # the pools' own countries
    matches(report.to_dict()["findings"])
    assert "not a number" not in str([f for f in report.findings if f.number == OWNED])
    # Few numbers per account: asked about one by one, never the whole list.
    asked = [r.query.get("PhoneNumber") for r in fakes[Provider.TWILIO].requests]
    assert sorted(asked) == sorted([OWNED, NO_VOICE, FOREIGN, UNATTESTED])
    assert all(
        r.path.endswith(f"/Number/{n.lstrip('+')}/")
        for r, n in zip(
            fakes[Provider.PLIVO].requests, [TRAI, NOT_TRAI, PLIVO_FOREIGN], strict=True
        )
    )
    assert "tw-secret" not in json.dumps(report.to_dict())


def test_regions_named_replace_the_pools_own_countries(fakes, registry):
    report = check_numbers(registry, template="us", regions=["us", "CA"], provider=False)
    assert report.regions == {"us": ["US", "CA"]} and report.numbers == 6
    problems = {(f.number, f.problem) for f in report.findings if f.check == "compliance"}
    assert problems == {
        (UNATTESTED, "may not call US (needs STIR/SHAKEN attestation), which template(s) us call"),
        (UNATTESTED, "may not call CA (needs STIR/SHAKEN attestation), which template(s) us call"),
    }
    for code, message in [
        ("U", "ISO 3166 country code such as IN or US, got 'U'"),
        ("USA", "region 'USA' is not an ISO 3166 country code; use US"),
        ("uk", "region 'uk' is not an ISO 3166 country code; use GB"),
        ("XX", "unknown region 'XX': no country has that ISO 3166 country code"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            check_numbers(registry, regions=[code], provider=False)
    with pytest.raises(numsim.UnknownTemplateError, match="'nope'"):
        check_numbers(registry, template="nope", provider=False)


def test_an_unreachable_provider_is_a_finding_not_a_crash(registry, monkeypatch):
    monkeypatch.setenv("TW_TOKEN", "tw-secret")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    report = check_numbers(
        registry, template="us", provider_urls={Provider.TWILIO: f"http://127.0.0.1:{port}"}
    )
    unchecked = [f for f in report.findings if f.problem.startswith("not checked: cannot ask")]
    assert {f.number for f in unchecked} == {OWNED, NO_VOICE, FOREIGN, UNATTESTED}
    assert f"twilio account {SID}: " in unchecked[0].problem
    assert "could not connect" in unchecked[0].problem


def test_many_numbers_of_one_account_are_read_from_its_list_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TW_TOKEN", "tw-secret")
    many = [f"+1415555{i:04d}" for i in range(ONE_BY_ONE + 5)]
    with (
        numsim.NumberRegistry(tmp_path / "many.db") as registry,
        FakeTwilio.started(SID, "tw-secret", many[1:]) as twilio,
    ):
        for e164 in many:
            registry.add(number(e164, stir_shaken_attested=True), templates=["us"])
        report = check_numbers(registry, provider_urls={Provider.TWILIO: twilio.url})
        assert [(f.number, f.problem) for f in report.findings] == [
            (many[0], f"not a number of twilio account {SID}")
        ]
        assert len(twilio.requests) == 1 and "PhoneNumber" not in twilio.requests[0].query


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def provider_flags(fakes):
    return [f"--provider-url={p.value}={fake.url}" for p, fake in fakes.items()]


def test_the_cli_exits_1_with_a_table_per_number(fakes, registry, capsys):
    db = registry.path
    code, out, err = run(capsys, "numbers", "--db", db, "check", *provider_flags(fakes))
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("numsim numbers check: 8 of 10 number(s) need attention")
    assert lines[1].split() == ["number", "check", "problem"]
    assert {line.split()[0] for line in lines[2:]} == {n for n, _, _ in EXPECTED}
    code, out, _ = run(capsys, "numbers", "--db", db, "check", "--json", *provider_flags(fakes))
    assert code == 1
    shown = json.loads(out)
    assert shown["ok"] is False
    assert shown == check_numbers(registry, provider_urls=urls(fakes)).to_dict()


def test_the_cli_exits_0_when_all_is_well_and_bad_input_is_one_line(fakes, tmp_path, capsys):
    db = str(tmp_path / "good.db")
    with numsim.NumberRegistry(db) as registry:
        registry.add(number(OWNED, stir_shaken_attested=True), templates=["us"])
    code, out, _ = run(capsys, "numbers", "--db", db, "check", *provider_flags(fakes))
    assert (code, out) == (0, "numsim numbers check: 1 number(s), all well (regions: us US)\n")
    for argv, message in [
        (["--region", "USA"], "ISO 3166 country code"),
        (["--region", "UK"], "region 'UK' is not an ISO 3166 country code; use GB"),
        (["--region", "XX"], "unknown region 'XX'"),
        (["--template", "nope"], "'nope'"),
        (["--provider-url", "twilio"], "--provider-url must be PROVIDER=URL"),
    ]:
        code, out, err = run(capsys, "numbers", "--db", db, "check", "--offline", *argv)
        assert code == 1 and message in err and "Traceback" not in out + err
        assert err.count("\n") == 1


def test_http_answers_the_same_findings_with_an_ok_flag(fakes, registry):
    provider_urls = {p.value: url for p, url in urls(fakes).items()}
    app = create_app(registry, token=TOKEN, sync_interval=None, provider_urls=provider_urls)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        answer = client.get("/numbers/check")
        assert answer.status_code == 200 and answer.json()["ok"] is False
        matches(answer.json()["findings"])
        canada = client.get("/numbers/check?template=us&region=CA&offline=true").json()
        assert canada["regions"] == {"us": ["CA"]}
        assert (UNATTESTED, "compliance") in {(f["number"], f["check"]) for f in canada["findings"]}
        indian = client.get("/numbers/check?template=india&region=IN").json()
        assert [f["number"] for f in indian["findings"]] == [NOT_TRAI, PLIVO_FOREIGN, EXOPHONE]
        assert client.get("/numbers/check?template=nope").status_code == 404
        for code, message in [("USA", "use US"), ("UK", "use GB"), ("XX", "unknown region")]:
            bad = client.get(f"/numbers/check?region={code}")
            assert bad.status_code == 422 and message in bad.json()["error"], code
        assert client.get("/numbers/check", headers={"Authorization": ""}).status_code == 401


def test_each_adapter_looks_one_number_up(fakes):
    from numsim.providers import ExotelAdapter, OwnedNumber, PlivoAdapter, TwilioAdapter

    twilio = TwilioAdapter(SID, "env:TW_TOKEN", base_url=fakes[Provider.TWILIO].url)
    assert twilio.lookup_number(OWNED) == OwnedNumber(OWNED, True)
    assert twilio.lookup_number("+1 415 555 0101") == OwnedNumber(NO_VOICE, False)
    assert twilio.lookup_number(FOREIGN) is None
    plivo = PlivoAdapter(AUTH_ID, "env:PL_TOKEN", base_url=fakes[Provider.PLIVO].url)
    assert plivo.lookup_number(TRAI) == OwnedNumber(TRAI, True)
    assert plivo.lookup_number(PLIVO_FOREIGN) is None
    exotel = ExotelAdapter(EXO, "env:EX_KEYS", base_url=fakes[Provider.EXOTEL].url)
    assert exotel.lookup_number(EXOPHONE) == OwnedNumber(EXOPHONE, False)
    assert exotel.lookup_number(TRAI) is None
