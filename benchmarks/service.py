"""HTTP service benchmarks, over loopback with keep-alive connections.

- acquire+release over HTTP (POST /allocations, DELETE /allocations/{id}; memory
  backend) vs the same two requests to a minimal FastAPI app, both served by uvicorn
  in this process: the allocation must not be what makes the endpoint slow;
- two `numsim serve` processes on one Redis vs one, each driven by client processes
  (reported, no target: on 2 shared cores servers, clients and Redis compete).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

import numsim
from numsim.testing import RedisServer, free_port

from .harness import Case, Runner, in_processes, timed

TOKEN = "bench-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DESTINATIONS = [f"+1212555{i:04d}" for i in range(1000)]
NUMBERS = [f"+1415555{i:04d}" for i in range(10)]


def empty_app() -> FastAPI:
    """The baseline: a minimal FastAPI app with the same two routes, doing nothing."""
    app = FastAPI()

    @app.post("/allocations", status_code=201)
    async def take(body: dict[str, Any]) -> dict[str, Any]:
        return {"lease_id": "1", **body}

    @app.delete("/allocations/{lease_id}")
    async def give(lease_id: str) -> dict[str, bool]:
        return {"released": True}

    return app


def _registry(db: Path, channels: int) -> None:
    with numsim.NumberRegistry(db) as registry:
        for e164 in NUMBERS:
            number = numsim.OutboundNumber(
                e164, "plivo", max_concurrent_calls=channels, stir_shaken_attested=True
            )
            registry.add(number, templates=["t"])


@contextlib.contextmanager
def _servers(commands: list[list[str]]) -> Iterator[list[str]]:
    """Each command (given --port) as a process on a free loopback port, until the end."""
    environment = {**os.environ, "NUMSIM_API_TOKEN": TOKEN}
    processes, urls = [], []
    try:
        for command in commands:
            port = free_port()
            processes.append(
                subprocess.Popen(
                    [*command, "--port", str(port)],
                    env=environment,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            _wait_until_up(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(15)


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/openapi.json", headers=AUTH, timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no server came up at {url}")
        time.sleep(0.05)


def _cycles(client: httpx.Client) -> Runner:
    def loop(n: int) -> None:
        for i in range(n):
            lease = client.post(
                "/allocations", json={"template": "t", "destination": DESTINATIONS[i % 1000]}
            )
            if lease.status_code != 201:
                raise RuntimeError(f"acquire failed: {lease.status_code} {lease.text}")
            client.delete(f"/allocations/{lease.json()['lease_id']}")

    return timed(loop)


def _client_worker(url: str, token: str, operations: int, ready: Any) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        run = _cycles(client)
        run(5)
        ready.wait()
        run(operations)
        ready.wait()


def _clients(urls: list[str], count: int) -> Runner:
    """`count` client processes, spread over `urls`, doing n cycles in all."""
    return in_processes(count, _client_worker, lambda i: (urls[i % len(urls)], TOKEN))


def cases() -> Iterator[Case]:
    serve = [sys.executable, "-m", "numsim", "serve"]
    baseline = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.service:empty_app"]
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "numbers.db"
        _registry(db, channels=1)
        with (
            # like for like: numsim serve runs uvicorn at log level info, access log on
            _servers([[*serve, "--db", str(db)], [*baseline, "--log-level", "info"]]) as urls,
            httpx.Client(base_url=urls[0], headers=AUTH) as ours,
            httpx.Client(base_url=urls[1], headers=AUTH) as empty,
        ):
            yield Case(
                "service_vs_empty_route",
                "acquire+release over HTTP (numsim serve, memory backend) vs the same 2 "
                "requests to a minimal FastAPI app, each a uvicorn process on loopback with "
                "the same log settings (wall time: the servers are other processes)",
                _cycles(ours),
                _cycles(empty),
                ops=300,
                target=1.5,
            )
    if shutil.which("redis-server") is None:
        print("service Redis benchmark skipped: redis-server not found")
        return
    with RedisServer.started() as server, tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "numbers.db"
        _registry(db, channels=100)
        redis = ["--db", str(db), "--redis", server.url, "--namespace", f"b-{uuid.uuid4().hex}"]
        with _servers([[*serve, *redis], [*serve, *redis]]) as urls:
            yield Case(
                "service_redis_2_processes_vs_1",
                "time for acquire+release cycles over HTTP by 4 client processes against "
                "2 serve processes on one Redis vs against 1 (below 1: they scale)",
                _clients(urls, 4),
                _clients(urls[:1], 4),
                ops=800,
                rounds=3,
            )
