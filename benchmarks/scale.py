"""The service at 100,000 numbers: a PATCH, a /metrics scrape, and the event loop during
a 100,000-row import, each over HTTP against `numsim serve`'s app in this process
(uvicorn on loopback). One registry of 100,000 numbers is built once and used by all.

- PATCH at 100,000 numbers vs at 1,000 (CPU time, server and client: a sync costs what
  changed, so ~1); subject_us is the absolute figure (goal: under 20 ms);
- a /metrics scrape at 100,000 numbers vs 100 scrapes at 1,000 (~1: linear in the pool);
  subject_us is one scrape at 100,000 (goal: under 0.5 s), and `aggregated_scrape_s`
  the same without per-number series (per_number_metrics=False);
- the event loop's longest stall (a ticker task on the server's loop) during an HTTP
  import that updates every one of the 100,000 numbers, vs the same import straight
  into the registry from a thread: what the allocator's update adds to the loop's
  stalls. `stalls_s` are the absolute figures, the warm-up's first (goal: under 0.1 s).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import numsim
from numsim.service import AllocatorCollector, create_app
from numsim.testing import free_port

from .harness import Case, Runner, cpu_timed
from .registry import write_rows

ROWS, SMALL = 100_000, 1_000
TOKEN = "bench-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TICK = 0.005  # the ticker's sleep: a stall is how much later than this it wakes


class _Server:
    """An app served by uvicorn on a loopback port from a thread of its own, with a
    ticker task on its event loop recording the loop's longest stall."""

    def __init__(self, registry: numsim.NumberRegistry, **options: Any) -> None:
        self.app = create_app(registry, token=TOKEN, sync_interval=None, **options)
        self.port = free_port()
        self.longest = 0.0
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.01)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers=AUTH)

    async def _serve(self) -> None:
        ticking = asyncio.create_task(self._tick())
        try:
            await self._server.serve()
        finally:
            ticking.cancel()

    async def _tick(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK)
            self.longest = max(self.longest, time.perf_counter() - started - TICK)

    def stall_during(self, work: Any) -> float:
        """The loop's longest stall while `work()` runs (from this thread)."""
        time.sleep(0.2)  # let the loop settle
        self.longest = 0.0
        work()
        return self.longest

    def close(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(30)


def _registry(folder: Path, rows: int, csv: Path) -> Path:
    path = folder / f"{rows}.db"
    with numsim.NumberRegistry(path) as registry:
        report = registry.import_csv(str(csv))
    assert report.ok, report
    return path


def _patches(server: _Server, e164: str) -> Runner:
    def loop(n: int) -> None:
        for i in range(n):
            response = server.client.patch(f"/numbers/{e164}", json={"label": f"patch {i}"})
            if response.status_code != 200:
                raise RuntimeError(f"PATCH failed: {response.status_code} {response.text}")

    return cpu_timed(loop)


def _scrapes(server: _Server, times: int) -> Runner:
    def loop(n: int) -> None:
        for _ in range(n * times):
            if server.client.get("/metrics").status_code != 200:
                raise RuntimeError("scrape failed")

    return cpu_timed(loop)


def cases() -> Iterator[Case]:
    folder = Path(tempfile.mkdtemp(prefix="numsim-bench-scale-"))
    servers: list[_Server] = []
    registries: list[numsim.NumberRegistry] = []
    try:
        big_csv = write_rows(folder / f"{ROWS}.csv", ROWS)
        small_csv = write_rows(folder / f"{SMALL}.csv", SMALL)
        big_db, small_db = _registry(folder, ROWS, big_csv), _registry(folder, SMALL, small_csv)
        registries += [numsim.NumberRegistry(path) for path in (big_db, small_db)]
        registries.append(numsim.NumberRegistry(folder / "direct.db"))
        servers += [_Server(registries[0]), _Server(registries[1])]
        (ours, theirs) = servers
        e164 = next(iter(ours.app.state.numsim.allocator.numbers))
        yield Case(
            "patch_100000_vs_1000",
            f"PATCH /numbers/{{e164}} over HTTP with {ROWS:,} numbers registered vs with "
            f"{SMALL:,} (CPU time of server and client; subject_us: one PATCH at {ROWS:,})",
            _patches(ours, e164),
            _patches(theirs, e164),
            ops=20,
            rounds=3,
        )
        allocator = ours.app.state.numsim.allocator
        aggregated = AllocatorCollector(allocator, per_number=False)
        started = time.process_time()
        aggregated.exposition()
        yield Case(
            "metrics_100000_vs_1000",
            f"GET /metrics with {ROWS:,} numbers vs {ROWS // SMALL} scrapes with {SMALL:,} "
            f"(CPU time; subject_us: one scrape at {ROWS:,}, per-number series included)",
            _scrapes(ours, 1),
            _scrapes(theirs, ROWS // SMALL),
            ops=1,
            rounds=2,
            info={"aggregated_scrape_s": round(time.process_time() - started, 3)},
        )
        stalls: dict[str, Any] = {}
        yield Case(
            "import_100000_loop_stall",
            f"the event loop's longest stall during an HTTP import updating all {ROWS:,} "
            "numbers vs during the same import straight into the registry from a thread "
            "(the runners return the stall, not the time; stalls_s: each import's, warm-up first)",
            _stall(ours, big_csv, stalls),
            _stall(ours, big_csv, {}, direct=registries[2]),
            ops=1,
            rounds=1,
            info=stalls,
        )
    finally:
        for server in servers:
            server.close()
        for registry in registries:
            registry.close()
        shutil.rmtree(folder, ignore_errors=True)


def _stall(
    server: _Server,
    csv: Path,
    record: dict[str, Any],
    direct: numsim.NumberRegistry | None = None,
) -> Runner:
    """Each run imports a version of `csv` whose labels differ from the last run's (so
    every number changes), over HTTP, or into `direct` from a thread; returns the loop's
    longest stall meanwhile."""
    text = csv.read_text()
    versions = [text.replace(",row ", f",{tag} row ") for tag in ("even", "odd")]
    runs = iter(range(1_000_000))
    if direct is not None:
        direct.import_csv(str(csv))

    def run(n: int) -> float:
        body = versions[next(runs) % 2]

        def over_http() -> None:
            response = httpx.post(
                f"http://127.0.0.1:{server.port}/numbers/import?on_existing=update",
                content=body.encode(),
                headers={**AUTH, "content-type": "text/csv"},
                timeout=600,
            )
            if response.status_code != 200:
                raise RuntimeError(f"import failed: {response.status_code}")

        def from_thread() -> None:
            assert direct is not None
            worker = threading.Thread(
                target=direct.import_csv,
                args=(io.StringIO(body),),
                kwargs={"on_existing": "update"},
            )
            worker.start()
            worker.join()

        stall = server.stall_during(over_http if direct is None else from_thread)
        record.setdefault("stalls_s", []).append(round(stall, 3))  # the warm-up's first
        return stall

    return run
