"""The dashboard in process (Starlette's TestClient): sessions and CSRF, each page and
form, errors beside their fields in the API's words, and a page of 100,000 numbers."""

import html
import io
import re
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from tests.conftest import START, UK, US

import numsim
from numsim.numbers import SETTINGS
from numsim.service import create_app
from numsim.service.dashboard.session import (
    COOKIE,
    FAILURE_WINDOW,
    MAX_FAILURES,
    Sessions,
    Throttle,
)
from numsim.service.dashboard.state import HOUR, SAMPLE_EVERY, Live, status_words

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "dash-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
A, B, C = "+14155550100", "+14155550101", "+919122400001"


@pytest.fixture
def clock():
    return numsim.ManualClock(START)


@pytest.fixture
def registry():
    with numsim.NumberRegistry() as registry:
        registry.add(
            numsim.OutboundNumber(A, "twilio", max_calls_per_hour=1, stir_shaken_attested=True),
            templates=["sales"],
        )
        registry.add(
            numsim.OutboundNumber(C, "plivo", max_concurrent_calls=3, trai_registered=True),
            templates=["sales", "support"],
        )
        yield registry


@pytest.fixture
def app(registry, clock):
    return create_app(registry, token=TOKEN, clock=clock, sync_interval=None)


def csrf_of(page):
    return re.search(r'name="csrf" value="([^"]+)"', page.text)[1]


def sign_in(client, secret=TOKEN):
    page = client.get("/dashboard/sign-in")
    return client.post("/dashboard/sign-in", data={"csrf": csrf_of(page), "secret": secret})


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client).status_code == 303
        client.csrf = csrf_of(client.get("/dashboard/numbers"))
        yield client


def text(response):
    """A page's words, without its markup."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


def error_beside(response, field):
    found = re.search(rf'<p class="error" id="{field}-error"[^>]*>([^<]*)</p>', response.text)
    return html.unescape(found[1]) if found else None


# -- sessions -------------------------------------------------------------------------


def test_pages_need_a_session_and_the_bearer_token_is_no_session(app):
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/").headers["location"] == "/dashboard/"
        for path in ("/dashboard/", "/dashboard/numbers", "/dashboard/live/fragment"):
            for headers in ({}, AUTH):
                response = client.get(path, headers=headers)
                assert response.status_code == 303, path
                assert response.headers["location"] == "/dashboard/sign-in"
        assert client.get("/dashboard/static/dashboard.css").status_code == 200


def test_the_dashboards_address_without_its_slash_leads_in_on_the_same_origin(app):
    """Behind a TLS proxy the service sees http://: an absolute redirect would send the
    browser to plain HTTP (and to whatever Host the request named)."""
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/dashboard", headers={"host": "elsewhere.example"})
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/"


def test_a_page_opened_from_another_site_reloads_itself_to_get_the_strict_cookie(client):
    """A link from another site arrives without the SameSite=Strict cookie: the page
    answers with a reload from itself (same-site, so with the cookie), and sets no
    cookie, which would replace the session's."""
    kept = client.cookies[COOKIE]
    client.cookies.clear()
    cross_site = {"sec-fetch-site": "cross-site"}
    for path in ("/dashboard/numbers?q=sales", "/dashboard/", "/dashboard/sign-in"):
        response = client.get(path, headers=cross_site)
        assert response.status_code == 200 and "set-cookie" not in response.headers, path
        assert '<meta http-equiv="refresh" content="0">' in response.text
    client.cookies.set(COOKIE, kept, path="/dashboard")
    again = client.get("/dashboard/numbers?q=sales", headers={"sec-fetch-site": "same-origin"})
    assert again.status_code == 200 and "matching “sales”" in text(again)
    client.cookies.clear()  # a browser really without a session: to sign in, no loop
    again = client.get("/dashboard/numbers", headers={"sec-fetch-site": "same-origin"})
    assert again.headers["location"] == "/dashboard/sign-in"
    response = client.post("/dashboard/numbers/new", data={}, headers=cross_site)
    assert response.headers["location"] == "/dashboard/sign-in"  # a form is no link


def test_the_cookie_is_no_api_token(client):
    assert client.get("/dashboard/numbers").status_code == 200
    for path in ("/numbers", "/pool", "/metrics"):
        assert client.get(path).status_code == 401


def test_a_wrong_token_is_refused_and_never_echoed(app):
    with TestClient(app, follow_redirects=False) as client:
        wrong = "wrong-" + TOKEN
        response = sign_in(client, wrong)
        assert response.status_code == 401
        assert "That is not the API token." in text(response)
        assert wrong not in response.text and TOKEN not in response.text
        assert client.get("/dashboard/numbers").status_code == 303


def test_the_cookie_flags_and_the_token_never_in_a_page_or_url(app):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = sign_in(client)
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
        assert "Path=/dashboard" in cookie and "Max-Age=28800" in cookie
        assert TOKEN not in cookie and TOKEN not in response.headers["location"]
        for path in ("/dashboard/numbers", "/dashboard/templates", "/dashboard/live"):
            page = client.get(path)
            assert page.status_code == 200 and TOKEN not in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
            assert page.headers["x-frame-options"] == "DENY"
    with TestClient(app, follow_redirects=False) as client:  # plain HTTP: no Secure
        assert "Secure" not in sign_in(client).headers["set-cookie"]


POSTS = [
    ("/dashboard/numbers/new", {"e164": B, "provider": "plivo"}),
    (f"/dashboard/numbers/{A}", {"max_concurrent_calls": "1"}),
    (f"/dashboard/numbers/{A}/remove", {"force": "on"}),
    (f"/dashboard/numbers/{A}/rotate", {"new": C}),
    ("/dashboard/templates", {"template": "new", "numbers": A}),
    ("/dashboard/template?id=sales", {"remove": A}),
    ("/dashboard/sign-out", {}),
]


@pytest.mark.parametrize(("path", "form"), POSTS)
def test_a_post_without_the_sessions_csrf_token_changes_nothing(client, registry, path, form):
    before = list(registry.rows())
    for token in (None, "", "x" * 43, Sessions("another-secret-0123456789").start(signed_in=True)):
        data = dict(form) if token is None else {**form, "csrf": str(token)}
        response = client.post(path, data=data)
        assert response.status_code == 403, (path, token)
        assert "nothing was changed" in text(response)
    assert list(registry.rows()) == before
    assert client.get("/dashboard/numbers").status_code == 200  # still signed in


def test_an_import_without_the_csrf_token_changes_nothing(client, registry):
    files = {"file": ("n.csv", f"e164,provider\n{B},plivo\n".encode(), "text/csv")}
    assert client.post("/dashboard/numbers/import", files=files).status_code == 403
    assert B not in registry


def test_sign_in_needs_the_sign_in_forms_token(app):
    with TestClient(app, follow_redirects=False) as client:
        client.get("/dashboard/sign-in")
        response = client.post("/dashboard/sign-in", data={"secret": TOKEN})
        assert response.status_code == 403
        assert client.get("/dashboard/numbers").status_code == 303


def test_sign_out_ends_the_session_even_for_a_kept_copy_of_the_cookie(client):
    kept = client.cookies[COOKIE]
    response = client.post("/dashboard/sign-out", data={"csrf": client.csrf})
    assert response.headers["location"] == "/dashboard/sign-in"
    assert client.get("/dashboard/numbers").status_code == 303
    client.cookies.set(COOKIE, kept, path="/dashboard")
    assert client.get("/dashboard/numbers").status_code == 303


@pytest.mark.redis
def test_signing_out_on_one_process_ends_the_session_on_every_process(registry, redis_server):
    """Two serve processes on one Redis: a cookie signed in on one opens the other; once
    signed out on either, a kept copy opens neither."""
    from numsim.allocator.redis import RedisBackend

    namespace = f"dash-{uuid.uuid4().hex}"
    backends = [RedisBackend(redis_server.url, namespace=namespace) for _ in range(2)]
    apps = [
        create_app(
            registry,
            token=TOKEN,
            allocator=numsim.Allocator.from_registry(registry, backend=backend),
            sync_interval=None,
        )
        for backend in backends
    ]
    with (
        TestClient(apps[0], follow_redirects=False) as one,
        TestClient(apps[1], follow_redirects=False) as two,
    ):
        assert sign_in(one).status_code == 303
        kept = one.cookies[COOKIE]
        two.cookies.set(COOKIE, kept, path="/dashboard")
        assert two.get("/dashboard/numbers").status_code == 200
        csrf = csrf_of(two.get("/dashboard/numbers"))
        assert two.post("/dashboard/sign-out", data={"csrf": csrf}).status_code == 303
        for client in (one, two):
            client.cookies.set(COOKIE, kept, path="/dashboard")
            assert client.get("/dashboard/numbers").status_code == 303
    for backend in backends:
        backend.close()


def test_a_sign_out_the_shared_store_cannot_keep_still_holds_here(caplog):
    """Redis down: this process's sign-outs hold, others' cannot be read (logged), and
    the dashboard stays usable rather than signing everyone out."""
    from numsim.allocator.callmap import MemoryCallMap
    from numsim.service.dashboard.session import SignOuts

    class Unreachable(MemoryCallMap):
        def put(self, *args):
            raise ConnectionError("Redis is down")

        def get(self, *args):
            raise ConnectionError("Redis is down")

    sessions = Sessions(TOKEN, signed_out=SignOuts(Unreachable()))
    mine, mine_cookie = sessions.start(signed_in=True)
    _, other_cookie = sessions.start(signed_in=True)
    sessions.end(mine)
    assert sessions.read(mine_cookie) is None
    assert sessions.read(other_cookie) is not None
    assert "a sign-out holds in this process only: Redis is down" in caplog.text
    assert "other processes' sign-outs cannot be read: Redis is down" in caplog.text


def test_a_forged_or_expired_cookie_is_no_session(app):
    sessions = Sessions(TOKEN, clock=lambda: time.time() - 9 * 3600)
    _, expired = sessions.start(signed_in=True)
    _, visitor = Sessions(TOKEN).start(signed_in=False)
    forged = visitor.replace(".0.", ".1.")
    with TestClient(app, follow_redirects=False) as client:
        for cookie in (expired, visitor, forged, "garbage", "a.b.c.d"):
            client.cookies.set(COOKIE, cookie, path="/dashboard")
            assert client.get("/dashboard/numbers").status_code == 303, cookie


def test_failed_sign_ins_are_throttled(app):
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(MAX_FAILURES):
            assert sign_in(client, "not-the-token-at-all").status_code == 401
        response = sign_in(client, TOKEN)  # even the right one waits now
        assert response.status_code == 429
        assert "Too many failed sign-ins: try again in" in text(response)


def test_a_dashboard_password_replaces_the_token_for_signing_in(registry, clock):
    password = "dashboard-password-0123456789"
    app = create_app(
        registry, token=TOKEN, clock=clock, sync_interval=None, dashboard_password=password
    )
    with TestClient(app, follow_redirects=False) as client:
        assert '<label for="secret">Password</label>' in client.get("/dashboard/sign-in").text
        assert sign_in(client, TOKEN).status_code == 401
        assert sign_in(client, password).status_code == 303
        assert client.get("/numbers").status_code == 401  # the API still wants its token
    with pytest.raises(ValueError, match="the dashboard password must be at least 16"):
        create_app(registry, token=TOKEN, sync_interval=None, dashboard_password="short")


def test_without_the_dashboard_there_is_no_page(registry, clock):
    app = create_app(registry, token=TOKEN, clock=clock, sync_interval=None, dashboard=False)
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/").status_code == 404
        assert client.get("/dashboard/sign-in").status_code == 404


def test_mounted_in_a_users_app_its_links_keep_the_prefix(app):
    from fastapi import FastAPI

    outer = FastAPI()
    outer.mount("/numsim", app)
    with TestClient(outer, follow_redirects=False) as client:
        assert client.get("/numsim/").headers["location"] == "/numsim/dashboard/"
        assert client.get("/numsim/dashboard").headers["location"] == "/numsim/dashboard/"
        page = client.get("/numsim/dashboard/sign-in")
        assert 'action="/numsim/dashboard/sign-in"' in page.text
        response = client.post(
            "/numsim/dashboard/sign-in", data={"csrf": csrf_of(page), "secret": TOKEN}
        )
        assert response.headers["location"] == "/numsim/dashboard/numbers"
        assert "Path=/numsim/dashboard" in response.headers["set-cookie"]
        assert client.get("/numsim/dashboard/numbers").status_code == 200


# -- numbers --------------------------------------------------------------------------


def test_the_numbers_table_shows_settings_and_live_state(client, app, clock):
    allocator = app.state.numsim.allocator
    busy = allocator.acquire("sales", UK)  # least loaded: one of the two
    other = allocator.acquire("sales", UK)
    clock.advance(2)  # past the snapshot's cache
    page = text(client.get("/dashboard/numbers"))
    assert "Showing 1–2 of 2 numbers." in page
    assert f"{A} twilio – 1 / 1 1 / 1 – STIR/SHAKEN sales at hourly cap" in page
    assert f"{C} plivo – 1 / 3 1 – TRAI sales support free" in page
    allocator.release(busy)
    allocator.release(other)
    clock.advance(2)  # past the snapshot's cache
    assert f"{A} twilio – 0 / 1 1 / 1" in text(client.get("/dashboard/numbers"))


def test_status_in_words():
    words = [status_words(s) for s in ("ready", "busy", "hourly_cap", "daily_cap", "retired")]
    assert words == ["free", "busy", "at hourly cap", "at daily cap", "retired"]


def test_search_and_pages(client, registry):
    rows = "".join(f"+1415555{i:04d},plivo,bulk\n" for i in range(200, 330))
    report = registry.import_csv(io.StringIO(f"e164,provider,templates\n{rows}"))
    assert report.ok
    first = text(client.get("/dashboard/numbers"))
    assert "Showing 1–50 of 132 numbers." in first and "Page 1 of 3" in first
    last = text(client.get("/dashboard/numbers?page=3"))
    assert "Showing 101–132 of 132 numbers." in last
    assert "+14155550329" in last and C in last and "+14155550279" not in last
    found = text(client.get("/dashboard/numbers", params={"q": "415 555-0250"}))
    assert "Showing 1–1 of 1 number matching “415 555-0250”." in found
    assert "+14155550250" in found
    support = text(client.get("/dashboard/numbers", params={"q": "SUPPORT"}))
    assert "Showing 1–1 of 1 number" in support and C in support
    assert "No number matches “nothing”." in text(client.get("/dashboard/numbers?q=nothing"))
    assert client.get("/dashboard/numbers?page=banana").status_code == 200


def test_a_page_past_the_end_shows_the_last_page(client, registry):
    rows = "".join(f"+1415555{i:04d},plivo,bulk\n" for i in range(200, 260))  # 62 in all
    assert registry.import_csv(io.StringIO(f"e164,provider,templates\n{rows}")).ok
    for page in ("3", "999999999", "-1"):
        shown = text(client.get(f"/dashboard/numbers?page={page}"))
        last = page != "-1"
        assert ("Showing 51–62 of 62 numbers." in shown) is last, page
        assert ("Page 2 of 2" if last else "Page 1 of 2") in shown
    pool = text(client.get("/dashboard/template?id=bulk&page=5"))
    assert "Page 2 of 2" in pool and "+14155550259" in pool


def test_a_notice_shows_only_a_number_or_template_id_from_its_link(client):
    """A notice's words come from its link: anything but a number or a template id
    there (a sentence someone wrote into a link they sent) shows no notice at all."""
    lure = "Your session expired: sign in again at https://evil.example"
    for path, query in (
        ("/dashboard/numbers", {"notice": "added", "number": lure}),
        ("/dashboard/numbers", {"notice": "rotated", "number": A, "new": lure}),
        (f"/dashboard/numbers/{A}", {"notice": "saved", "number": lure}),
        ("/dashboard/templates", {"notice": "emptied", "id": lure}),
    ):
        page = client.get(path, params=query).text
        assert "evil.example" not in page and 'class="notice"' not in page, query
    rotated = {"notice": "rotated", "number": A, "new": C}
    assert f"Rotated {A} out: its templates now use {C}." in text(
        client.get("/dashboard/numbers", params=rotated)
    )
    emptied = text(client.get("/dashboard/templates", params={"notice": "emptied", "id": "x-1"}))
    assert "Template x-1 has no numbers left." in emptied


def test_the_add_form_is_generated_from_the_settings(client):
    page = client.get("/dashboard/numbers/new").text
    for spec in SETTINGS:
        assert f'<label for="{spec.name}">{html.escape(spec.label)}</label>' in page
        assert f'name="{spec.name}"' in page
    labels = {spec.name: spec.label for spec in SETTINGS}
    assert labels["e164"] == "Number (E.164)"
    assert (labels["provider"], labels["account"], labels["credentials"]) == (
        "Provider",
        "Account",
        "Credentials",
    )
    providers = re.findall(r'<option value="(\w+)"', page)
    assert providers == [p.value for p in numsim.Provider]


def test_add_a_number_with_every_setting(client, registry, monkeypatch):
    monkeypatch.setenv("DASH_TWILIO", "x" * 32)
    form = {
        "csrf": client.csrf,
        "e164": "(415) 555-0101",
        "provider": "twilio",
        "max_concurrent_calls": "2",
        "max_calls_per_hour": "30",
        "max_calls_per_day": "",
        "stir_shaken_attested": "on",
        "account": "AC00000000000000000000000000000001",
        "credentials": "env:DASH_TWILIO",
        "label": "SF",
        "templates": "sales; new-one",
    }
    response = client.post("/dashboard/numbers/new", data={**form, "e164": "+1 415 555 0101"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/numbers/{B}?notice=added&number=%2B{B[1:]}"
    number = registry.get(B)
    assert (number.max_concurrent_calls, number.max_calls_per_hour) == (2, 30)
    assert number.max_calls_per_day is None and number.stir_shaken_attested
    assert not number.trai_registered and str(number.credentials) == "env:DASH_TWILIO"
    assert registry.templates_of(B) == ["new-one", "sales"]
    assert B in client.app.state.numsim.allocator.numbers  # the pool has it at once
    page = text(client.get(response.headers["location"]))
    assert f"Added {B}." in page
    assert "a Twilio number carries one call at a time, whatever its channels: 2" in page


@pytest.mark.parametrize(
    ("field", "value", "as_json"),
    [
        ("e164", "+1415555", "+1415555"),
        ("e164", "not a number", "not a number"),
        ("provider", "skype", "skype"),
        ("max_concurrent_calls", "0", 0),
        ("max_calls_per_hour", "lots", None),  # a JSON client sends a number
        ("max_calls_per_day", "2000000", 2000000),
        ("max_calls_per_day", "9" * 5000, None),
        ("credentials", "hunter2-the-secret-itself", "hunter2-the-secret-itself"),
        ("credentials", "env:NO_SUCH_VARIABLE_HERE", "env:NO_SUCH_VARIABLE_HERE"),
    ],
)
def test_a_bad_value_is_refused_beside_its_field_in_the_apis_words(
    client, registry, field, value, as_json
):
    good = {"e164": B, "provider": "plivo", "max_concurrent_calls": "2"}
    data = {**good, field: value, "csrf": client.csrf}
    response = client.post("/dashboard/numbers/new", data=data)
    assert response.status_code == 422
    shown = error_beside(response, field)
    assert shown and len(shown) < 300 and "hunter2" not in response.text
    if as_json is not None:
        body = {**good, "max_concurrent_calls": 2, field: as_json}
        assert shown == client.post("/numbers", json=body, headers=AUTH).json()["error"]
    assert B not in registry
    if field != "credentials":  # the value stays in its field, to be corrected
        assert f'value="{html.escape(value)}"' in response.text or field == "provider"


def test_a_blank_account_is_no_account(client, registry):
    data = {"e164": B, "provider": "plivo", "account": "  ", "csrf": client.csrf}
    assert client.post("/dashboard/numbers/new", data=data).status_code == 303
    assert registry.get(B).account is None


def test_a_number_already_registered_is_refused_beside_the_number(client):
    data = {"csrf": client.csrf, "e164": A, "provider": "twilio", "max_concurrent_calls": "1"}
    response = client.post("/dashboard/numbers/new", data=data)
    assert response.status_code == 422
    assert error_beside(response, "e164") == f"{A} is already in the registry; use update"


def test_edit_a_number_and_its_templates(client, registry):
    page = client.get(f"/dashboard/numbers/{C}").text
    assert 'value="3"' in page and 'id="trai_registered" name="trai_registered" checked' in page
    form = {
        "csrf": client.csrf,
        "provider": "plivo",
        "max_concurrent_calls": "5",
        "max_calls_per_hour": "",
        "trai_registered": "on",
        "templates": "support, collections",
    }
    response = client.post(f"/dashboard/numbers/{C}", data=form)
    assert response.status_code == 303
    assert registry.get(C).max_concurrent_calls == 5
    assert registry.templates_of(C) == ["collections", "support"]
    assert client.app.state.numsim.allocator.templates["collections"] == (C,)
    assert f"Saved {C}." in text(client.get(response.headers["location"]))
    bad = client.post(f"/dashboard/numbers/{C}", data={**form, "max_concurrent_calls": "0"})
    assert bad.status_code == 422
    assert "max_concurrent_calls must be a whole number" in error_beside(
        bad, "max_concurrent_calls"
    )
    assert registry.get(C).max_concurrent_calls == 5


def test_an_edit_keeps_credentials_this_host_cannot_read_unless_they_change(
    client, registry, monkeypatch
):
    """As PATCH: only a new reference must resolve here; lowering a cap in an incident
    must not need the number's secret on this host."""
    monkeypatch.setenv("DASH_PLIVO", "x" * 32)
    registry.update(C, account="MA" + "0" * 18, credentials="env:DASH_PLIVO")
    monkeypatch.delenv("DASH_PLIVO")
    form = {
        "csrf": client.csrf,
        "provider": "plivo",
        "max_concurrent_calls": "3",
        "max_calls_per_hour": "40",
        "account": "MA" + "0" * 18,
        "credentials": "env:DASH_PLIVO",
        "templates": "sales, support",
    }
    assert client.post(f"/dashboard/numbers/{C}", data=form).status_code == 303
    assert registry.get(C).max_calls_per_hour == 40
    changed = client.post(f"/dashboard/numbers/{C}", data={**form, "credentials": "env:NOPE_X"})
    assert changed.status_code == 422
    assert "env:NOPE_X cannot be read here" in error_beside(changed, "credentials")


def test_emptying_channels_on_an_edit_is_refused_not_reset_to_one(client, registry):
    form = {"csrf": client.csrf, "provider": "plivo", "max_concurrent_calls": " "}
    response = client.post(f"/dashboard/numbers/{C}", data={**form, "templates": "sales"})
    assert response.status_code == 422
    assert error_beside(response, "max_concurrent_calls") == (
        "max_concurrent_calls is empty: this setting cannot be cleared; give a value"
    )
    assert registry.get(C).max_concurrent_calls == 3


def test_an_edit_that_fails_saves_nothing(client, registry, monkeypatch):
    """Settings and templates are one change: the page's "Nothing was saved" is true."""

    def broken(*args):
        raise numsim.RegistryError("the disk is full")

    monkeypatch.setattr(numsim.NumberRegistry, "_assign", staticmethod(broken))
    form = {"csrf": client.csrf, "provider": "plivo", "max_concurrent_calls": "5"}
    response = client.post(f"/dashboard/numbers/{C}", data={**form, "templates": "other"})
    assert response.status_code == 422
    assert "the disk is full" in response.text and "Nothing was saved" in response.text
    assert registry.get(C).max_concurrent_calls == 3
    assert registry.templates_of(C) == ["sales", "support"]


def test_an_address_with_no_page_is_the_dashboards_own_404_page(client):
    response = client.get("/dashboard/nonexistent")
    assert response.status_code == 404
    assert "The dashboard has no page at this address." in text(response)
    assert response.headers["content-security-policy"]  # the dashboard's headers too


def test_an_unknown_number_is_a_404_page(client):
    for path in ("/dashboard/numbers/+14155559999", "/dashboard/numbers/nonsense"):
        response = client.get(path)
        assert response.status_code == 404 and "is not in the registry" in text(response)


def test_remove_is_refused_while_in_use_unless_forced(client, registry, app):
    page = client.post(f"/dashboard/numbers/{A}/remove", data={"csrf": client.csrf})
    assert page.status_code == 409
    assert error_beside(page, "force") == (
        f"{A} is used by template(s) sales; unassign it first or remove with force"
    )
    lease = app.state.numsim.allocator.acquire("support", UK)  # C carries a call
    registry.unassign("sales", [C])
    registry.unassign("support", [C])
    page = client.post(f"/dashboard/numbers/{C}/remove", data={"csrf": client.csrf})
    assert error_beside(page, "force") == f"{C} carries 1 call(s) now; remove with force"
    done = client.post(f"/dashboard/numbers/{C}/remove", data={"csrf": client.csrf, "force": "on"})
    assert done.headers["location"] == f"/dashboard/numbers?notice=removed&number=%2B{C[1:]}"
    assert C not in registry
    app.state.numsim.allocator.release(lease)


def test_rotate_into_a_registered_number(client, registry):
    registry.add(numsim.OutboundNumber(B, "twilio"))
    bad = client.post(f"/dashboard/numbers/{A}/rotate", data={"csrf": client.csrf, "new": "+1415"})
    assert bad.status_code == 409 and "invalid" in error_beside(bad, "new")
    response = client.post(f"/dashboard/numbers/{A}/rotate", data={"csrf": client.csrf, "new": B})
    assert response.status_code == 303
    assert registry.templates_of(B) == ["sales"] and registry.templates_of(A) == []
    assert f"Rotated {A} out: its templates now use {B}." in text(
        client.get(response.headers["location"])
    )
    again = client.post(f"/dashboard/numbers/{A}/rotate", data={"csrf": client.csrf, "new": B})
    assert f"{A} was in no template: nothing to rotate into {B}." in text(
        client.get(again.headers["location"])
    )


def test_import_reports_each_bad_row_and_lands_the_good_ones(client, registry):
    csv = f"e164,provider,templates\n{B},plivo,sales\n+1415555,plivo,\n{A},twilio,\n"
    files = {"file": ("numbers.csv", csv.encode(), "text/csv")}
    data = {"csrf": client.csrf, "on_existing": "error"}
    response = client.post("/dashboard/numbers/import", data=data, files=files)
    assert response.status_code == 422
    page = text(response)
    assert "Added 1, updated 0, skipped 0, rejected 2 row(s)." in page
    assert "3 e164 invalid number '+1415555': too short" in page
    assert f"4 e164 {A} is already registered" in page
    assert registry.templates_of(B) == ["sales"]
    assert B in client.app.state.numsim.allocator.templates["sales"]
    files = {"file": ("numbers.csv", b"\x00\x01binary", "text/csv")}
    response = client.post("/dashboard/numbers/import", data=data, files=files)
    assert response.status_code == 400
    assert error_beside(response, "file") == "not a CSV file: it holds binary data"


def test_export_is_the_cli_csv(client, registry):
    response = client.get("/dashboard/numbers/export.csv")
    assert response.headers["content-type"].startswith("text/csv")
    out = io.StringIO()
    registry.export_csv(out)
    assert response.text == out.getvalue()


# -- templates and the live pool ----------------------------------------------------------


def test_templates_list_their_pools_live_use(client, app, clock):
    lease = app.state.numsim.allocator.acquire("support", UK)
    clock.advance(2)
    page = text(client.get("/dashboard/templates"))
    assert "sales 2 1 / 4" in page and "support 1 1 / 3" in page
    pool = text(client.get("/dashboard/template?id=support"))
    assert "1 number; calls now 1 of 3 channels." in pool
    assert f"{C} plivo 1 / 3 1 free" in pool
    app.state.numsim.allocator.release(lease)


def test_add_and_remove_numbers_of_a_template(client, registry):
    registry.add(numsim.OutboundNumber(B, "twilio"))
    data = {"csrf": client.csrf, "numbers": f"{A}, +1 415 555 0101"}  # typed with spaces
    response = client.post("/dashboard/template?id=support", data=data)
    assert response.headers["location"] == "/dashboard/template?id=support&notice=added"
    assert registry.templates_of(B) == ["support"]
    bad = client.post("/dashboard/template?id=support", data={**data, "numbers": "+14155559999"})
    assert bad.status_code == 422
    assert error_beside(bad, "numbers") == "+14155559999 is not in the registry"
    for number in (A, B, C):
        removed = {"csrf": client.csrf, "remove": number}
        response = client.post("/dashboard/template?id=support", data=removed)
    assert response.headers["location"] == "/dashboard/templates?notice=emptied&id=support"
    assert "support" not in registry.templates()
    assert not client.app.state.numsim.allocator.templates.get("support")


def test_a_template_pages_forms_change_the_template_its_address_names(client, registry):
    """Not one a form field names: what the operator sees is what changes."""
    registry.add(numsim.OutboundNumber(B, "twilio"))
    data = {"csrf": client.csrf, "template": "other", "numbers": B}
    response = client.post("/dashboard/template?id=sales", data=data)
    assert response.headers["location"] == "/dashboard/template?id=sales&notice=added"
    assert registry.templates_of(B) == ["sales"]
    assert "other" not in registry.templates()


def test_a_pool_of_5000_numbers_pasted_into_a_form(client, registry):
    """About 80 KB of form: as much as the API's whole-pool PUT takes."""
    numbers = [f"+1415556{i:04d}" for i in range(5000)]
    rows = "".join(f"{n},plivo\n" for n in numbers)
    assert registry.import_csv(io.StringIO(f"e164,provider\n{rows}")).ok
    pasted = "\n".join(numbers)
    for path in ("/dashboard/templates", "/dashboard/template?id=big"):
        data = {"csrf": client.csrf, "template": "big", "numbers": pasted}  # the list's form
        response = client.post(path, data=data)
        assert response.status_code == 303, (path, response.text[:200])
    assert len(registry.templates()["big"].numbers) == 5000


def test_a_new_template_and_its_errors(client, registry):
    data = {"csrf": client.csrf, "template": "bad id!", "numbers": A}
    response = client.post("/dashboard/templates", data=data)
    assert response.status_code == 422
    assert error_beside(response, "template").startswith("invalid template id 'bad id!'")
    response = client.post("/dashboard/templates", data={**data, "template": "reminders"})
    assert response.headers["location"] == "/dashboard/template?id=reminders&notice=added"
    assert registry.templates_of(A) == ["reminders", "sales"]
    assert client.get("/dashboard/template?id=nothing").status_code == 404


def test_the_live_pool_by_template_number_and_refusals(client, app, clock):
    allocator = app.state.numsim.allocator
    leases = [allocator.acquire("support", UK), allocator.acquire("sales", US)]  # C, then A
    for _ in range(2):  # A, the one number that may call the US, is busy
        with pytest.raises(numsim.NoNumberAvailable):
            allocator.acquire("sales", US)
    clock.advance(2)
    page = client.get("/dashboard/live")
    assert 'data-refresh="/dashboard/live/fragment"' in page.text
    fragment = text(client.get("/dashboard/live/fragment"))
    assert "Calls now 2 / 4 channels" in fragment and "Numbers carrying calls 2 of 2" in fragment
    assert "sales 2 2 / 4" in fragment and "support 1 1 / 3" in fragment
    assert f"{A} twilio 1 / 1 1 / 1 sales at hourly cap" in fragment
    assert f"{C} plivo 1 / 3 1 sales, support free" in fragment
    assert "Refusals in the last 1 min (since the service started), by reason" in fragment
    assert re.search(r"<title[^>]*>Refusals [^<]*: busy 2, hourly cap 0,", page.text)
    for lease in leases:
        allocator.release(lease)


def test_refusals_in_the_last_hour_come_from_samples_of_the_counters(clock):
    number = numsim.OutboundNumber(A, "twilio")
    with numsim.Allocator([number], {"t": [A]}, clock=clock) as allocator:
        live = Live(allocator)
        live.sample()
        lease = allocator.acquire("t", UK)
        for _ in range(3):
            with pytest.raises(numsim.NoNumberAvailable):
                allocator.acquire("t", UK)
        clock.advance(2)
        assert live.refusals().by_reason["busy"] == 3
        for _ in range(int(HOUR / SAMPLE_EVERY) + 2):  # an hour of samples, no refusal
            clock.advance(SAMPLE_EVERY)
            live.sample()
        refusals = live.refusals()
        assert refusals.by_reason["busy"] == 0 and refusals.seconds == HOUR
        with pytest.raises(numsim.NoNumberAvailable):
            allocator.acquire("t", UK)
        clock.advance(2)
        assert live.refusals().by_reason == {**live.refusals().by_reason, "busy": 1}
        assert live.refusals().total == 1
        allocator.release(lease)


# -- 100,000 numbers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A registry of 100,000 numbers (50 templates) served by the dashboard."""
    from benchmarks.registry import write_rows

    folder = tmp_path_factory.mktemp("large")
    with numsim.NumberRegistry(str(folder / "numbers.db")) as registry:
        assert registry.import_csv(str(write_rows(folder / "n.csv", 100_000))).ok
        clock = numsim.ManualClock(START)
        app = create_app(registry, token=TOKEN, clock=clock, sync_interval=None)
        with TestClient(app, follow_redirects=False) as client:
            sign_in(client)
            yield client, registry, clock


def vm_steps(registry, work):
    """SQLite's work for `work` in hundreds of VM instructions: rows read, not time."""
    steps = 0

    def count():
        nonlocal steps
        steps += 1
        return 0

    registry._db.set_progress_handler(count, 100)
    try:
        result = work()
    finally:
        registry._db.set_progress_handler(None, 100)
    return steps, result


def states_read(monkeypatch, allocator):
    """The numbers each read of the backend's states covers: a count, or "all"."""
    reads = []
    backend = allocator.backend
    real = backend.numbers

    def numbers(now, e164s=None):
        reads.append("all" if e164s is None else len(e164s))
        return real(now, e164s)

    monkeypatch.setattr(backend, "numbers", numbers)
    return reads


@pytest.mark.slow
def test_a_page_of_100000_numbers_reads_its_own_rows(large, monkeypatch):
    client, registry, clock = large
    full, _ = vm_steps(registry, lambda: sum(1 for _ in registry.rows()))
    reads = states_read(monkeypatch, client.app.state.numsim.allocator)
    clock.advance(2)
    # The first page reads 50 rows; the last skips 99,950 index entries to its 50.
    for path, share in (("/dashboard/numbers", 100), ("/dashboard/numbers?page=2000", 10)):
        steps, page = vm_steps(registry, lambda path=path: client.get(path))
        assert page.status_code == 200 and page.text.count("<tr>") == 51  # 50 and a header
        assert steps < full / share, (path, steps, full)
    assert "Showing 99,951–100,000 of 100,000 numbers." in text(page)
    assert reads == [50, 50]  # each page's own numbers' states, not 100,000
    steps, found = vm_steps(registry, lambda: client.get("/dashboard/numbers?q=row 42424"))
    assert "Showing 1–1 of 1 number matching “row 42424”." in text(found)
    assert steps < full * 1.5  # one scan, in SQL: no row reaches Python unless it matches
    steps, pool = vm_steps(registry, lambda: client.get("/dashboard/template?id=t7"))
    assert "2,000 numbers" in text(pool) and steps < full / 2
    assert reads[2:] == [1, 2_000]  # the match; the template's pool, for its use
    e164 = str(registry.page(limit=1)[0][0]["e164"])
    assert client.get(f"/dashboard/numbers/{e164}").status_code == 200
    assert client.get("/templates/t7", headers=AUTH).json()["capacity"] == 5 * 2_000
    assert reads[4:] == [1, 2_000]  # a number's page; GET /templates/{t}
    del reads[:]
    for path in ("/dashboard/live/fragment", "/dashboard/templates", "/dashboard/live/fragment"):
        assert client.get(path).status_code == 200
    assert reads == ["all"]  # every number, read once a second at most whatever the views


def test_without_chromium_the_browser_tests_fail_where_required(monkeypatch):
    from tests.conftest import require_browser

    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("NUMSIM_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="chromium not found"):
        require_browser()
    monkeypatch.delenv("NUMSIM_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception, match="NUMSIM_REQUIRE_BROWSER=1 makes this"):
        require_browser()


def test_the_throttle_waits_out_its_window_per_address():
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(MAX_FAILURES - 1):
        throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == 0  # a few typos cost nothing
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == FAILURE_WINDOW and throttle.wait("10.0.0.2") == 0
    now[0] += FAILURE_WINDOW
    assert throttle.wait("10.0.0.1") == 0


def test_a_registry_that_fails_is_a_page_saying_so_not_a_traceback(client, registry):
    registry.close()
    response = client.get("/dashboard/numbers")
    assert response.status_code == 409
    assert "Something is wrong" in text(response) and "Traceback" not in response.text
    assert "registry :memory:" in text(response)


def test_serve_reads_the_dashboard_password_file_or_says_why_not(capsys, monkeypatch, tmp_path):
    from numsim.cli import main

    monkeypatch.setenv("NUMSIM_API_TOKEN", TOKEN)
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    for path, message in (
        (tmp_path / "missing", "cannot read dashboard password file"),
        (short, f"dashboard password file {short} must be at least 16 characters"),
    ):
        argv = ["serve", "--db", str(tmp_path / "x.db"), "--dashboard-password-file", str(path)]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("numsim: error: ") and message in err and err.count("\n") == 1
        assert "hunter2" not in err


def test_every_page_but_sign_in_and_its_assets_needs_a_session(app):
    """Walks the dashboard's route table: a page added later is guarded too, or fails here."""
    from starlette.routing import Mount, Route

    board = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/dashboard")
    checked = []
    with TestClient(app, follow_redirects=False) as client:
        for route in board.routes:
            if isinstance(route, Mount) or route.path == "/sign-in":
                continue
            assert isinstance(route, Route)
            path = "/dashboard" + route.path.replace("{e164}", A)
            for method in route.methods - {"HEAD"}:
                response = client.request(method, path, data={"csrf": "x"})
                assert response.status_code == 303, (method, path)
                assert response.headers["location"] == "/dashboard/sign-in"
                checked.append((method, route.path))
    assert ("POST", "/numbers/{e164}/remove") in checked and len(checked) >= 14


def test_a_number_removed_with_force_mid_call_shows_as_retired_until_it_ends(client, app, clock):
    allocator = app.state.numsim.allocator
    lease = allocator.acquire("support", UK)  # C
    done = client.post(f"/dashboard/numbers/{C}/remove", data={"csrf": client.csrf, "force": "on"})
    assert done.status_code == 303
    clock.advance(2)
    assert f"{C} – 1 1 – retired" in text(client.get("/dashboard/live/fragment"))
    allocator.release(lease)
    clock.advance(2)
    assert C not in text(client.get("/dashboard/live/fragment"))


def test_serve_passes_the_dashboard_options_on(monkeypatch, tmp_path):
    import uvicorn

    from numsim.cli import main

    monkeypatch.setenv("NUMSIM_API_TOKEN", TOKEN)
    password = tmp_path / "password"
    password.write_text("dashboard-password-0123456789\n")
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    db = str(tmp_path / "n.db")
    assert main(["serve", "--db", db, "--dashboard-password-file", str(password)]) == 0
    assert main(["serve", "--db", db, "--no-dashboard"]) == 0
    with_password, without = served
    with TestClient(with_password, follow_redirects=False) as client:
        assert sign_in(client, "dashboard-password-0123456789").status_code == 303
    with TestClient(without, follow_redirects=False) as client:
        assert client.get("/dashboard/sign-in").status_code == 404


def test_a_session_holds_on_every_process_with_the_same_token_and_ends_with_it(registry):
    one, two = (create_app(registry, token=TOKEN, sync_interval=None) for _ in range(2))
    other = create_app(registry, token="another-token-0123456789", sync_interval=None)
    with TestClient(one, follow_redirects=False) as client:
        sign_in(client)
        cookie = client.cookies[COOKIE]
    for app, status in ((two, 200), (other, 303)):
        with TestClient(app, follow_redirects=False) as client:
            client.cookies.set(COOKIE, cookie, path="/dashboard")
            assert client.get("/dashboard/numbers").status_code == status


# -- NumberRegistry.page ------------------------------------------------------------------


def test_registry_pages_match_text_literally_and_count_all_matches(registry):
    registry.add(numsim.OutboundNumber(B, "exotel", label="50% off_peak"), templates=["t_1"])
    assert registry.page("50%")[1] == 1 and registry.page("5_%")[1] == 0  # no wildcards
    assert registry.page("_peak")[1] == 1 and registry.page("T_1")[1] == 1
    assert registry.page("EXOTEL")[0][0]["e164"] == B
    rows, total = registry.page(limit=1, offset=1)
    assert total == 3 and [row["e164"] for row in rows] == [B]
    assert rows[0]["templates"] == ["t_1"] and rows[0]["label"] == "50% off_peak"
    assert registry.page(template="sales")[1] == 2
    assert registry.page("+1 (415) 555-0100", template="sales")[0][0]["e164"] == A
    assert registry.page("4155550100", template="support")[1] == 0
    with pytest.raises(ValueError, match="limit must be a whole number between 1 and 10,000"):
        registry.page(limit=0)


def test_counters_are_the_snapshots_counters(clock):
    number = numsim.OutboundNumber(A, "twilio")
    with numsim.Allocator([number], {"t": [A]}, clock=clock) as allocator:
        lease = allocator.acquire("t", UK)
        with pytest.raises(numsim.NoNumberAvailable):
            allocator.acquire("t", UK)
        allocator.release(lease)
        assert allocator.counters() == allocator.snapshot().counters
        assert allocator.counters()["acquired"] == 1 and allocator.counters()["refused:busy"] == 1


# -- behind a proxy -----------------------------------------------------------------------


def sign_in_from(client, address, secret=TOKEN, *, via=""):
    """Sign in over HTTPS as a browser at `address` would, through a proxy that appends
    that address to X-Forwarded-For (`via`: what the browser itself put there)."""
    forwarded = {"x-forwarded-for": f"{via}, {address}" if via else address}
    headers = {**forwarded, "x-forwarded-proto": "https"}
    client.cookies.clear()  # a browser of its own
    page = client.get("/dashboard/sign-in", headers=headers)
    visit = re.match(f"{COOKIE}=([^;]+)", page.headers["set-cookie"])[1]
    data = {"csrf": csrf_of(page), "secret": secret}
    headers["cookie"] = f"{COOKIE}={visit}"  # sent back even if Secure (the proxy spoke TLS)
    return client.post("/dashboard/sign-in", data=data, headers=headers)


def test_behind_a_trusted_proxy_the_cookie_is_secure_and_each_client_is_throttled(registry):
    app = create_app(registry, token=TOKEN, sync_interval=None, trust_proxy=True)
    with TestClient(app, follow_redirects=False) as client:
        assert "Secure" in sign_in_from(client, "198.51.100.7").headers["set-cookie"]
        for attempt in range(MAX_FAILURES):  # what the browser adds itself changes nothing
            wrong = sign_in_from(client, "203.0.113.5", "wrong-token-0123456789", via=f"{attempt}")
            assert wrong.status_code == 401
        assert sign_in_from(client, "203.0.113.5", via="10.9.9.9").status_code == 429
        assert sign_in_from(client, "198.51.100.7").status_code == 303  # others sign in


def test_without_trust_proxy_forwarded_headers_are_ignored(app):
    with TestClient(app, follow_redirects=False) as client:
        assert "Secure" not in sign_in_from(client, "198.51.100.7").headers["set-cookie"]
        for attempt in range(MAX_FAILURES):
            sign_in_from(client, f"203.0.113.{attempt}", "wrong-token-0123456789")
        assert sign_in_from(client, "198.51.100.7").status_code == 429  # one address: ours
