"""/docs in a real browser (Debian's chromium through Playwright), with every request
off this host refused: the page renders from the package's own files, shows the
Authorize button, and "Try it out" sends the token."""

import threading
import time

import pytest
import uvicorn

import numsim
from browser import launch
from conftest import require_browser
from numsim.service import create_app
from numsim.testing import free_port

TOKEN = "test-token-0123456789abcdef"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def base_url():
    require_browser()
    registry = numsim.NumberRegistry()
    registry.add(numsim.OutboundNumber("+14155550100", "twilio"), templates=["sales"])
    port = free_port()
    app = create_app(registry, token=TOKEN, sync_interval=None)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_docs_render_offline_and_try_it_out_sends_the_token(base_url):
    elsewhere = []
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.set_default_timeout(10_000)

        def only_this_host(route):
            if route.request.url.startswith(base_url):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_host)
        page.goto(f"{base_url}/docs")
        page.get_by_role("button", name="Authorize").first.wait_for(timeout=15_000)
        page.get_by_text("/templates/{template}/numbers/{e164}").first.wait_for()
        page.get_by_role("button", name="Authorize").first.click()
        page.locator(".modal-ux input").first.fill(TOKEN)
        page.locator(".modal-ux button.authorize").click()  # its label: Apply credentials
        page.locator(".modal-ux button.btn-done").click()
        page.locator("#operations-operations-pool_pool_get").click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        status = page.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for()
        assert status.inner_text().strip() == "200"  # 401 had the token not been sent
        browser.close()
    assert elsewhere == []
