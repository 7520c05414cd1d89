"""The dashboard in a real browser: Debian's chromium driven by Playwright (no browser
download), against a real `numsim serve` process. Shared by the browser tests and
docs/screenshots/make.py."""

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from numsim.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "numbers.csv"
TOKEN = "browser-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
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


@contextlib.contextmanager
def serve(db, *options, env=None, output=None):
    """A `numsim serve` process on a free 127.0.0.1 port, until the block ends; its log
    is appended to the list `output` when it stops."""
    port = free_port()
    command = [sys.executable, "-m", "numsim", "serve", "--db", str(db), "--port", str(port)]
    environment = {**os.environ, "NUMSIM_API_TOKEN": TOKEN, **(env or {})}
    process = subprocess.Popen(
        [*command, "--sync-interval", "0.5", *options],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "numsim serve did not start in 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            log = process.communicate(timeout=15)[0].decode()
        except subprocess.TimeoutExpired:
            process.kill()
            log = process.communicate()[0].decode()
        if output is not None:
            output.append(log)


def sign_in(page, url, secret=TOKEN):
    page.goto(f"{url}/")
    page.get_by_label("API token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
