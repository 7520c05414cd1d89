"""The dashboard in a real browser: Debian's chromium driven by Playwright (no browser
download), against a real `numsim serve` process. Shared by the browser tests and
docs/screenshots/make.py."""

import shutil

from served import AUTH, SAMPLE, TOKEN, serve

__all__ = ["AUTH", "SAMPLE", "TOKEN", "launch", "serve", "sign_in"]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def sign_in(page, url, secret=TOKEN):
    page.goto(f"{url}/")
    page.get_by_label("API token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
