"""numsim serve, in process (httpx through Starlette's TestClient): the Numbers API,
allocation over HTTP, auth on every route, bad input, metrics."""

import io
import re
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import START, UK
from tests.provider_fakes import TWILIO_TOKEN

import numsim
from numsim.cli import main
from numsim.service import AllocatorCollector, create_app
from numsim.service.auth import is_public

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
A, B, C = "+14155550100", "+14155550101", "+919122400001"
CSV = (
    "e164,provider,max_concurrent_calls,trai_registered,templates\n"
    f"{A},twilio,1,,sales\n"
    "+1415555,twilio,1,,sales\n"
    f"{C},plivo,3,yes,sales;support\n"
    f"{B},skype,1,,\n"
)


@pytest.fixture
def clock():
    return numsim.ManualClock(START)


@pytest.fixture
def registry():
    with numsim.NumberRegistry() as registry:
        yield registry


@pytest.fixture
def client(registry, clock):
    app = create_app(registry, token=TOKEN, clock=clock, sync_interval=None)
    with TestClient(app, headers=AUTH) as client:
        yield client


def add(client, e164=A, provider="twilio", **fields):
    fields.setdefault("templates", ["sales"])
    response = client.post("/numbers", json={"e164": e164, "provider": provider, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def acquire(client, template="sales", destination=UK, **fields):
    return client.post(
        "/allocations", json={"template": template, "destination": destination, **fields}
    )


# -- auth ------------------------------------------------------------------------------


def test_every_route_but_webhooks_and_health_needs_the_token(registry, clock):
    app = create_app(registry, token=TOKEN, clock=clock, sync_interval=None)
    wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
    provider = {"Authorization": f"Bearer {TWILIO_TOKEN}"}  # a webhook secret is no API token
    # The route table: every API route (OpenAPI lists them all), the docs (public: a
    # browser cannot send the token), and paths nobody serves (the middleware guards them).
    table = [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops]
    table += [("GET", "/docs"), ("GET", app.openapi_url), ("GET", "/redoc")]
    table += [("GET", "/docs/oauth2-redirect"), ("POST", "/added-later")]
    seen = []
    with TestClient(app) as client:
        for method, route in table:
            seen.append((method, route))
            if is_public(route):
                continue
            path = re.sub(r"\{[^}]+\}", "x", route)
            for headers in ({}, wrong, provider, {"Authorization": TOKEN}):
                response = client.request(method, path, headers=headers)
                assert response.status_code == 401, (method, route, headers)
                assert TOKEN not in response.text
    public = {path for _, path in seen if is_public(path)}
    assert public == {
        "/healthz",
        "/readyz",
        "/callbacks/{provider}/status",
        "/callbacks/{provider}/inbound",
        "/docs",
        "/openapi.json",
    }
    assert ("GET", "/docs") in seen and ("POST", "/allocations") in seen


def test_the_token_and_public_url_are_checked_when_the_app_is_made(registry):
    with pytest.raises(ValueError, match="at least 16 characters"):
        create_app(registry, token="short")
    with pytest.raises(ValueError, match="must be an http"):
        create_app(registry, token=TOKEN, public_url="numsim.example.com")


# -- numbers ---------------------------------------------------------------------------


def test_add_get_list_update_and_the_allocator_follows_live(client, registry, monkeypatch):
    monkeypatch.setenv("TWILIO_TOKEN", TWILIO_TOKEN)
    row = add(client, max_calls_per_hour=10, account="AC1", credentials="env:TWILIO_TOKEN")
    assert list(row) == list(numsim.bulk.COLUMNS)
    assert row["credentials"] == "env:TWILIO_TOKEN"
    add(client, C, "plivo", max_concurrent_calls=3, trai_registered=True, templates=["support"])
    assert client.get(f"/numbers/{A}").json() == row
    assert [r["e164"] for r in client.get("/numbers").json()] == [A, C]
    assert [r["e164"] for r in client.get("/numbers?template=support").json()] == [C]
    assert [r["e164"] for r in client.get("/numbers?provider=TWILIO").json()] == [A]
    lease = acquire(client).json()
    assert lease["number"] == A
    updated = client.patch(f"/numbers/{A}", json={"max_calls_per_hour": 20, "label": "main"})
    assert updated.status_code == 200 and updated.json()["max_calls_per_hour"] == 20
    assert registry.get(A).label == "main"
    state = client.get("/pool").json()["numbers"][A]
    assert state["max_calls_per_hour"] == 20 and state["in_use"] == 1  # the lease survived
    assert client.delete(f"/allocations/{lease['lease_id']}").json() == {"released": True}


def test_templates_pool_is_set_exactly_and_reaches_the_allocator(client):
    add(client, A, templates=[])
    add(client, B, templates=["sales"])
    assert acquire(client, "sales").json()["number"] == B
    response = client.put("/templates/sales/numbers", json={"numbers": [A]})
    assert response.json() == {"template": "sales", "numbers": [A]}
    assert acquire(client, "sales").json()["number"] == A
    assert acquire(client, "sales").status_code == 409  # B left the pool


def test_remove_is_refused_while_in_use_unless_forced(client, registry):
    add(client)
    lease = acquire(client).json()
    refused = client.delete(f"/numbers/{A}")
    assert refused.status_code == 409 and "carries 1 call(s)" in refused.json()["error"]
    client.put("/templates/sales/numbers", json={"numbers": []})
    assert client.delete(f"/numbers/{A}").status_code == 409  # the call still holds it
    assert client.delete(f"/numbers/{A}?force=true").json() == {"removed": A}
    assert A not in registry
    # The lease outlived the number; releasing it is harmless.
    assert client.delete(f"/allocations/{lease['lease_id']}").status_code == 200


def test_remove_refuses_a_number_a_template_uses(client):
    add(client)
    response = client.delete(f"/numbers/{A}")
    assert response.status_code == 409 and "used by template(s) sales" in response.json()["error"]


def test_rotate_to_a_new_number(client):
    add(client)
    response = client.post(f"/numbers/{A}/rotate", json={"new": {"e164": B, "provider": "twilio"}})
    assert response.json() == {"old": A, "new": B, "templates": ["sales"]}
    assert acquire(client).json()["number"] == B


def test_import_csv_lands_good_rows_and_reports_like_the_cli(client, registry, tmp_path, capsys):
    response = client.post(
        "/numbers/import", content=CSV.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    report = response.json()
    assert (report["added"], report["rejected"]) == (2, 2)
    assert [e["line"] for e in report["errors"]] == [3, 5]
    path = tmp_path / "numbers.csv"
    path.write_text(CSV)
    assert main(["numbers", "--db", str(tmp_path / "cli.db"), "import", str(path)]) == 1
    assert report["report"] + "\n" == capsys.readouterr().out
    assert len(registry) == 2
    assert acquire(client, "support", "+919876543210").json()["number"] == C  # live


def test_import_json_list_by_position(client, registry):
    items = [
        {"e164": A, "provider": "twilio", "templates": ["sales"], "stir_shaken_attested": True},
        {"e164": B, "provider": "twilio", "max_concurrent_calls": "two"},
        "not a number",
        {"e164": C, "provider": "plivo", "channels": 2},
    ]
    response = client.post("/numbers/import", json=items)
    errors = response.json()["errors"]
    assert response.status_code == 422 and response.json()["added"] == 1
    assert [(e["line"], e["column"]) for e in errors] == [
        (2, "max_concurrent_calls"),
        (3, None),
        (4, None),
    ]
    assert "unknown field(s) 'channels'" in errors[2]["reason"]
    assert list(registry.templates()) == ["sales"]
    again = client.post("/numbers/import?on_existing=skip", json=items[:1]).json()
    assert again["ok"] and again["skipped"] == 1


def test_export_is_the_cli_csv(client, registry):
    add(client, account="=cmd()")
    out = io.StringIO()
    registry.export_csv(out)
    response = client.get("/numbers/export")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == out.getvalue() and "'=cmd()" in response.text


# Each: method, path, body, status, message; nothing may change.
BAD = [
    ("POST", "/numbers", {"e164": "12", "provider": "twilio"}, 422, "invalid outbound number '12'"),
    ("POST", "/numbers", {"e164": A, "provider": "skype"}, 422, "unknown provider 'skype'"),
    ("POST", "/numbers", {"e164": A, "provider": "twilio", "chanels": 2}, 422, "chanels"),
    ("POST", "/numbers", {"e164": A, "provider": "twilio"}, 409, "already in the registry"),
    ("POST", "/numbers", [1], 422, "body"),
    ("POST", "/numbers", {"e164": B, "provider": "twilio", "trai_registered": 0}, 422, "trai"),
    ("POST", "/numbers", {"e164": B, "provider": "twilio", "max_calls_per_hour": "5"}, 422, "max"),
    (
        "POST",
        "/numbers",
        {"e164": B, "provider": "twilio", "templates": ["bad id!"]},
        422,
        "template",
    ),
    (
        "POST",
        "/numbers",
        {"e164": B, "provider": "twilio", "credentials": "hunter2"},
        422,
        "reference",
    ),
    ("GET", f"/numbers/{B}", None, 404, f"{B} is not in the registry"),
    ("GET", "/numbers/abc", None, 422, "invalid phone number 'abc'"),
    ("GET", "/numbers?template=nope", None, 404, "nope"),
    ("GET", "/numbers?provider=skype", None, 422, "unknown provider 'skype'"),
    ("GET", "/numbers?tempalte=sales", None, 422, "unknown query field(s) 'tempalte'"),
    ("DELETE", f"/numbers/{A}?forse=true", None, 422, "this route takes force"),
    ("PATCH", f"/numbers/{A}", {}, 422, "nothing to update"),
    ("PATCH", f"/numbers/{A}", {"max_concurrent_calls": -1}, 422, "max_concurrent_calls"),
    ("PATCH", f"/numbers/{A}", {"e164": B}, 422, "e164"),
    ("DELETE", f"/numbers/{B}", None, 404, B),
    ("POST", f"/numbers/{A}/rotate", {"new": B}, 404, B),
    ("POST", f"/numbers/{A}/rotate", {"new": A}, 422, "into itself"),
    ("PUT", "/templates/sales/numbers", {"numbers": [B]}, 404, B),
    ("PUT", "/templates/sales/numbers", {"numbers": "x"}, 422, "numbers"),
    ("POST", "/numbers/import", "e164;provider\n", 400, "separated by ';'"),
    ("POST", "/numbers/import", {"e164": A}, 422, "JSON list"),
    ("POST", "/numbers/import", {"a": 1}, 422, "JSON list"),
    ("POST", "/allocations", {"template": "nope", "destination": UK}, 404, "unknown template"),
    ("POST", "/allocations", {"template": "sales", "destination": "999"}, 422, "'999'"),
    ("POST", "/allocations", {"template": "sales"}, 422, "destination: Field required"),
    ("POST", "/allocations", {"template": "sales", "destination": UK, "wait": 3600}, 422, "wait"),
    ("POST", "/allocations", {"template": "sales", "destination": UK, "wait": False}, 422, "wait"),
    ("POST", "/allocations", {"template": "sales", "destination": UK, "ttl": 0}, 422, "ttl"),
    ("DELETE", "/allocations/garbage", None, 404, "not a lease id"),
    ("POST", "/allocations/x-y/renew", None, 404, "not a lease id"),
    ("POST", "/allocations/14155550100-y/renew", {"ttl": -1}, 422, "ttl"),
    ("POST", "/allocations", {"template": "sales", "destination": UK, "ttl": 9.3e12}, 422, "ttl"),
    ("POST", "/allocations/14155550100-y/renew", {"ttl": 86401}, 422, "ttl"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    client, registry, method, path, body, status, message
):
    add(client)
    before = (registry.numbers(), registry.templates(), client.get("/pool").json()["numbers"])
    if isinstance(body, str):
        response = client.request(method, path, content=body, headers={"content-type": "text/csv"})
    else:
        response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert "Traceback" not in response.text
    assert (
        registry.numbers(),
        registry.templates(),
        client.get("/pool").json()["numbers"],
    ) == before


def test_errors_name_what_was_sent_in_the_api_s_words(client):
    add(client)
    for method, path, body, status, message in [
        (
            "POST",
            f"/numbers/{A}/rotate",
            {"new": 5},
            422,
            "new: give a registered number's E.164 (a string) "
            "or a new number (an object with the CSV's columns)",
        ),
        ("GET", "/numbers/check?offline=maybe", None, 422, "offline=maybe: Input should be"),
        ("DELETE", f"/numbers/{A}?force=perhaps", None, 422, "force=perhaps: Input should be"),
        ("GET", "/calls/x", None, 404, "no call has the token 'x': a token is the 32 hex"),
    ]:
        response = client.request(method, path, json=body)
        assert response.status_code == status, response.text
        assert response.json()["error"].startswith(message), response.text


def test_bodies_have_size_limits(registry, clock):
    app = create_app(registry, token=TOKEN, clock=clock, sync_interval=None, body_limit=1000)
    with TestClient(app, headers=AUTH) as client:
        big = {"e164": A, "provider": "twilio", "label": "x" * 2000}
        response = client.post("/numbers", json=big)
        assert response.status_code == 413 and "limit 1,000 bytes" in response.json()["error"]

        def chunks():  # no Content-Length: counted as it streams
            yield b'{"e164": "' + b"1" * 800
            yield b"1" * 800 + b'"}'

        response = client.post(
            "/numbers", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
    assert len(registry) == 0


def test_an_unsupported_import_type_is_415(client):
    response = client.post("/numbers/import", content=b"x", headers={"content-type": "image/png"})
    assert response.status_code == 415 and "text/csv" in response.json()["error"]


# -- allocation -------------------------------------------------------------------------


def test_acquire_renew_release(client, clock):
    add(client, provider="plivo", max_concurrent_calls=2)
    first = acquire(client, call_id="c1").json()
    assert first["number"] == A and first["call_id"] == "c1" and first["template"] == "sales"
    clock.advance(100)
    renewed = client.post(f"/allocations/{first['lease_id']}/renew", json={"ttl": 60})
    assert renewed.json()["expires_at"] == pytest.approx(START + 160, abs=1e-3)
    assert client.get("/pool").json()["numbers"][A]["in_use"] == 1
    assert client.delete(f"/allocations/{first['lease_id']}").json() == {"released": True}
    assert client.delete(f"/allocations/{first['lease_id']}").json() == {"released": False}
    assert client.post(f"/allocations/{first['lease_id']}/renew").status_code == 404
    assert client.get("/pool").json()["numbers"][A]["in_use"] == 0


def test_a_refusal_time_will_lift_is_429_with_retry_after(client, clock):
    add(client, max_calls_per_hour=1)
    lease = acquire(client).json()
    client.delete(f"/allocations/{lease['lease_id']}")
    clock.advance(600)
    refused = acquire(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3000"
    body = refused.json()
    assert body["reason"] == "hourly_cap" and body["reasons"] == {A: "hourly_cap"}
    assert body["retry_after"] == pytest.approx(3000)


def test_a_refusal_only_a_release_lifts_is_409(client):
    add(client)
    acquire(client)
    refused = acquire(client)
    assert refused.status_code == 409 and "Retry-After" not in refused.headers
    assert refused.json()["reasons"] == {A: "busy"} and refused.json()["retry_after"] is None


def test_acquire_may_wait_for_a_release(client):
    add(client)
    held = acquire(client).json()
    result = {}
    waiter = threading.Thread(target=lambda: result.update(r=acquire(client, wait=10)))
    waiter.start()
    for _ in range(200):
        if client.get("/pool").json()["counters"].get("acquired", 0) and _waiting(client):
            break
        threading.Event().wait(0.01)
    client.delete(f"/allocations/{held['lease_id']}")
    waiter.join(10)
    assert not waiter.is_alive()
    assert result["r"].status_code == 201 and result["r"].json()["number"] == A


def _waiting(client):
    return client.app.state.numsim.allocator.waiting > 0


# -- metrics and health -------------------------------------------------------------------


def test_metrics_parse_and_match_the_snapshot(client, clock):
    add(client, provider="plivo", max_concurrent_calls=2, max_calls_per_hour=2)
    add(client, B, templates=["sales", "support"])
    leases = [acquire(client).json() for _ in range(3)]
    acquire(client)  # refused: busy
    client.delete(f"/allocations/{leases[0]['lease_id']}")
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    snapshot = client.app.state.numsim.allocator.snapshot()

    def value(name, **labels):
        return next(
            s.value
            for s in families[name].samples
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    for e164, row in snapshot.numbers.items():
        assert value("numsim_channels_in_use", number=e164) == row["in_use"]
        assert value("numsim_calls_last_hour", number=e164) == row["calls_last_hour"]
        assert value("numsim_channels_capacity", number=e164) == row["capacity"]
    assert value("numsim_template_channels_in_use", template="sales") == 2
    assert value("numsim_template_channels_capacity", template="support") == 1
    assert value("numsim_acquisitions") == snapshot.counters["acquired"] == 3
    assert value("numsim_refusals", reason="busy") == snapshot.counters["refused:busy"] == 1
    assert value("numsim_releases") == 1


def test_lease_expiries_are_counted(client, clock):
    add(client)
    acquire(client, ttl=10)
    clock.advance(11)
    client.get("/pool")
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    assert families["numsim_lease_expiries"].samples[0].value == 1


def test_the_collector_works_without_the_service(clock):
    number = numsim.OutboundNumber(A, "twilio")
    allocator = numsim.Allocator([number], {"t": [A]}, clock=clock)
    allocator.acquire("t", UK)
    prometheus = CollectorRegistry()
    prometheus.register(AllocatorCollector(allocator, prefix="dialer"))
    text = generate_latest(prometheus).decode()
    assert f'dialer_channels_in_use{{number="{A}",provider="twilio"}} 1.0' in text


def test_health_checks(client):
    client.headers.pop("Authorization")
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = {"status": "ready", "registry": "ok", "backend": "ok", "credentials": "ok"}
    assert client.get("/readyz").json() == ready


def test_readyz_is_503_when_the_registry_is_gone(client, registry):
    registry.close()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["registry"].startswith("unavailable")


# -- mounting ----------------------------------------------------------------------------


def test_mounted_in_a_users_app(registry, clock):
    outer = FastAPI()

    @outer.get("/hello")
    def hello():
        return {"hi": True}

    outer.mount("/numsim", create_app(registry, token=TOKEN, clock=clock, sync_interval=None))
    with TestClient(outer) as client:
        assert client.get("/hello").json() == {"hi": True}
        assert client.get("/numsim/numbers").status_code == 401
        assert client.get("/numsim/numbers", headers=AUTH).json() == []
        assert client.get("/numsim/healthz").status_code == 200


def test_serve_without_a_token_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("NUMSIM_API_TOKEN", raising=False)
    assert main(["serve", "--db", str(tmp_path / "x.db")]) == 1
    assert capsys.readouterr().err == (
        "numsim: error: set $NUMSIM_API_TOKEN or give --token-file: the API needs a token\n"
    )
    assert main(["serve", "--token-file", str(tmp_path / "missing")]) == 1
    assert "cannot read token file" in capsys.readouterr().err


def test_changes_by_another_process_reach_the_allocator(tmp_path, clock):
    path = tmp_path / "numbers.db"
    with numsim.NumberRegistry(path) as mine, numsim.NumberRegistry(path) as theirs:
        app = create_app(mine, token=TOKEN, clock=clock, sync_interval=0.05)
        service = app.state.numsim
        assert not service.refresh()  # nothing changed: nothing re-read
        with TestClient(app, headers=AUTH) as client:
            theirs.add(numsim.OutboundNumber(A, "twilio"), templates=["sales"])
            for _ in range(200):  # the periodic refresh picks it up
                if A in service.allocator.numbers:
                    break
                threading.Event().wait(0.01)
            lease = acquire(client).json()
            assert lease["number"] == A
            theirs.update(A, max_calls_per_hour=5)
            assert service.refresh() or service.allocator.numbers[A].max_calls_per_hour == 5
            assert service.allocator.numbers[A].max_calls_per_hour == 5
            assert client.get("/pool").json()["numbers"][A]["in_use"] == 1  # lease kept
            theirs.unassign("sales", [A])
            theirs.remove(A)
            service.refresh()
            assert A not in service.allocator.numbers and service.allocator.templates == {
                "sales": ()
            }


def test_deeply_nested_json_is_a_clear_4xx_not_a_500(client, registry):
    response = client.post(
        "/numbers/import", content="[" * 20000, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500 and "not valid JSON" in response.json()["error"]
    assert registry.numbers() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--provider-url", "skype=http://127.0.0.1:1"], "unknown provider 'skype'"),
        (["--provider-url", "twilio=ftp://x"], "base_url must be an http(s) URL"),
        (
            ["--inbound-url", "notaurl"],
            "--inbound-url must be an http(s) URL or TEMPLATE=URL, got 'notaurl'",
        ),
        (["--twilio-shared-key", "the-secret-itself"], "got a value without '='"),
        (["--inbound-url", "sales=ftp://x"], "template sales's inbound URL must be an http(s)"),
        (["--inbound-url", "sales=https://a.example/x"], "need a default inbound URL as well"),
        (["--when-busy", "hangup"], "--when-busy must be 'reject' or an http(s) URL"),
        (["--read-timeout", "0"], "the read timeout must be a finite number > 0"),
        (["--twilio-shared-key", "AC1=the-secret-itself"], "not the secret itself (value hidden)"),
    ],
)
def test_serve_options_are_checked_in_one_line(capsys, monkeypatch, tmp_path, options, message):
    monkeypatch.setenv("NUMSIM_API_TOKEN", TOKEN)
    assert main(["serve", "--db", str(tmp_path / "x.db"), *options]) == 1
    err = capsys.readouterr().err
    assert err.startswith("numsim: error: ") and message in err and err.count("\n") == 1
    assert "the-secret-itself" not in err


def test_a_method_not_allowed_names_every_method_the_path_serves(client):
    # Starlette named only the first matching route's methods (Allow: GET on /numbers).
    for method, path, allowed in [
        ("OPTIONS", "/numbers", "GET, POST"),
        ("PUT", f"/numbers/{A}", "DELETE, GET, PATCH"),
        ("PATCH", f"/templates/eu/sales/numbers/{A}", "DELETE, PUT"),
        ("POST", "/numbers/check", "GET"),  # its own resource, not a number's
    ]:
        response = client.request(method, path)
        assert response.status_code == 405 and response.headers["allow"] == allowed
