"""The dashboard in a real browser (Debian's chromium through Playwright) against a real
`numsim serve`: sign in, add a number, a bad number's error beside its field, assign to
a template, the live pool after an allocation over the API, sign out; no serious
accessibility violation (axe); a phone-width page without sideways scrolling."""

import re

import httpx
import pytest

from browser import AUTH, SAMPLE, TOKEN, launch, serve, sign_in
from conftest import require_browser

US = "+12125550143"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    logs = []
    db = tmp_path_factory.mktemp("dashboard") / "numbers.db"
    env = {"TWILIO_AUTH_TOKEN": "x" * 32, "DASHBOARD_TEST_TOKEN": "y" * 32}
    with serve(db, env=env, output=logs) as url:
        imported = httpx.post(
            f"{url}/numbers/import",
            content=SAMPLE.read_bytes(),
            headers={**AUTH, "Content-Type": "text/csv"},
        )
        assert imported.json()["added"] == 9
        yield url
    assert TOKEN not in logs[0]  # the token never reaches the log


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def expect():
    from playwright.sync_api import expect

    return expect


def test_sign_in_refuses_a_wrong_token_then_signs_in(server, page):
    page.goto(f"{server}/")
    assert page.url.endswith("/dashboard/sign-in")
    page.get_by_label("API token").fill("not-the-token-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect()(page.locator("#secret-error")).to_contain_text("not the API token")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect()(page.get_by_role("heading", name="Numbers")).to_be_visible()
    assert page.url.endswith("/dashboard/numbers")
    expect()(page.get_by_text("Showing 1–9 of 9 numbers")).to_be_visible()
    assert TOKEN not in page.url and TOKEN not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "numsim_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]


def test_add_a_number_and_a_bad_numbers_error_beside_its_field(server, page):
    sign_in(page, server)
    page.get_by_role("button", name="Add number").click()
    page.get_by_label("Number (E.164)").fill("+1415555")
    page.get_by_label("Provider").select_option("twilio")
    page.get_by_role("button", name="Save").click()
    field = page.get_by_label("Number (E.164)")
    expect()(field).to_have_attribute("aria-invalid", "true")
    # the API's words, announced with the field (its accessible description)
    expect()(field).to_have_accessible_description(re.compile("invalid outbound number"))
    expect()(page.locator("#e164-error")).to_contain_text("'+1415555': too short")
    field.fill("+14155550199")
    page.get_by_label("Account").fill("AC00000000000000000000000000000001")
    page.get_by_label("Credentials").fill("env:TWILIO_AUTH_TOKEN")
    page.get_by_label("Hourly cap").fill("20")
    page.get_by_label("STIR/SHAKEN attested").check()
    page.get_by_role("button", name="Save").click()
    expect()(page.get_by_role("status")).to_have_text("Added +14155550199.")
    added = httpx.get(f"{server}/numbers/+14155550199", headers=AUTH).json()
    assert added["max_calls_per_hour"] == 20 and added["stir_shaken_attested"]
    assert added["credentials"] == "env:TWILIO_AUTH_TOKEN"


def test_assign_to_a_template_then_the_live_pool_shows_an_api_allocation(server, page):
    sign_in(page, server)
    page.get_by_role("link", name="Templates").click()
    page.get_by_label("Template", exact=True).fill("dashboard-demo")
    page.get_by_label("Numbers (E.164)").fill("+12125550142")
    page.get_by_role("button", name="Add template").click()
    expect()(page.get_by_role("heading", name="Template dashboard-demo")).to_be_visible()
    expect()(page.get_by_role("row", name=re.compile(r"\+12125550142"))).to_be_visible()

    page.get_by_role("link", name="Live pool").click()
    live = page.locator("#live")
    expect()(live.get_by_text("No calls in progress.")).to_be_visible()
    lease = httpx.post(
        f"{server}/allocations",
        json={"template": "dashboard-demo", "destination": US},
        headers=AUTH,
    )
    assert lease.status_code == 201, lease.text
    refused = httpx.post(  # its one number is busy now
        f"{server}/allocations",
        json={"template": "dashboard-demo", "destination": US},
        headers=AUTH,
    )
    assert refused.status_code == 409
    try:
        # the page refreshes itself: no reload
        by_number = live.get_by_role("region", name="Calls now by number")
        row = by_number.get_by_role("row", name=re.compile(r"\+12125550142"))
        expect()(row).to_contain_text("1 / 1", timeout=15_000)
        expect()(row).to_contain_text("busy")
        by_template = live.get_by_role("region", name="Calls now by template")
        template = by_template.get_by_role("row", name=re.compile("^dashboard-demo"))
        expect()(template).to_contain_text("1 / 1")
        expect()(live.locator("svg title")).to_contain_text("busy 1")
    finally:
        lease_id = lease.json()["lease_id"]
        httpx.delete(f"{server}/allocations/{lease_id}", headers=AUTH)


def test_sign_out_sends_every_page_to_sign_in(server, page):
    sign_in(page, server)
    expect()(page.get_by_role("heading", name="Numbers")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect()(page.get_by_role("button", name="Sign in")).to_be_visible()
    for path in ("/dashboard/numbers", "/dashboard/templates", "/dashboard/live"):
        page.goto(server + path)
        assert page.url.endswith("/dashboard/sign-in"), path


def test_a_link_from_another_site_opens_its_page_and_keeps_the_session(server, page):
    """The cookie is SameSite=Strict, so the browser leaves it off a navigation from
    another site (an alert's link in a mail or a chat): the page must not take that
    for a visitor without a session."""
    sign_in(page, server)
    expect()(page.get_by_role("heading", name="Numbers")).to_be_visible()
    target = f"{server}/dashboard/numbers?q=collections"
    page.route(
        "http://elsewhere.test/**",
        lambda route: route.fulfill(
            body=f'<a href="{target}">An alert</a>', content_type="text/html"
        ),
    )
    for link in (target, f"{server}/dashboard/sign-in"):
        page.goto("http://elsewhere.test/alert")
        page.evaluate("href => { document.querySelector('a').href = href }", link)
        page.get_by_role("link", name="An alert").click()
        expect()(page.get_by_role("heading", name="Numbers")).to_be_visible()
    assert page.get_by_label("Search").input_value() == ""  # the sign-in page's /numbers
    page.goto(target)
    assert page.get_by_label("Search").input_value() == "collections"  # still signed in


def test_no_serious_accessibility_violations(server, page):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def serious():
        violations = axe.run(page).response["violations"]
        return [
            f"{v['id']}: {v['help']}" for v in violations if v["impact"] in ("serious", "critical")
        ]

    page.goto(f"{server}/")
    found = {"sign-in": serious()}
    sign_in(page, server)
    for path in (
        "/dashboard/numbers",
        "/dashboard/numbers/new",
        "/dashboard/numbers/%2B14155550100",
        "/dashboard/numbers/import",
        "/dashboard/templates",
        "/dashboard/template?id=collections",
        "/dashboard/live",
    ):
        page.goto(server + path)
        found[path] = serious()
    assert not {where: problems for where, problems in found.items() if problems}


def test_a_phone_reads_the_numbers_without_scrolling_sideways(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, server)
        expect()(page.get_by_role("heading", name="Numbers")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        row = page.locator("tbody tr").first  # each number is a card of labelled values
        assert row.evaluate("row => getComputedStyle(row).display") == "block"
        label = "cell => getComputedStyle(cell, '::before').content"
        assert row.locator("td").nth(3).evaluate(label) == '"Calls last hour: "'
    finally:
        context.close()
