"""`numsim serve` as a real process on loopback, for the tests that drive it over the
network (and docs/screenshots/make.py)."""

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from numsim.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "numbers.csv"
TOKEN = "served-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def serve(db, *options, env=None, output=None):
    """A `numsim serve` process on a free 127.0.0.1 port, until the block ends; its log
    is appended to the list `output` when it stops, and must not hold the token."""
    port = free_port()
    command = [sys.executable, "-m", "numsim", "serve", "--db", str(db), "--port", str(port)]
    environment = {**os.environ, "NUMSIM_API_TOKEN": TOKEN, **(env or {})}
    process = subprocess.Popen(
        [*command, "--sync-interval", "0.2", *options],
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
    assert TOKEN not in log  # no credential in the logs
