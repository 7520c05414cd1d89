"""Shared fixtures: every allocator test runs against every backend, on a manual clock."""

import asyncio
import os
import re
import shutil
import subprocess
import threading
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings

import numsim
from numsim.testing import RedisServer, RedisServerCluster

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# 12:00 UTC: 07:00 in New York (before US calling hours), 17:30 in India.
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()

BACKENDS = ["memory", "redis"]
REDIS_HELP = "NUMSIM_REQUIRE_REDIS=1 makes this a failure instead of a skip"


def redis_server_problem():
    """Why the Redis tests cannot run here (None: they can): numsim needs a
    redis-server, 7.0 or newer (Redis Functions)."""
    binary = shutil.which("redis-server")
    if binary is None:
        return "redis-server not found: install it (apt-get install -y redis-server)"
    banner = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=(\d+)\.(\d+)", banner)
    if found and (int(found[1]), int(found[2])) < (7, 0):
        return f"redis-server {found[1]}.{found[2]} is too old: numsim needs Redis 7.0 or newer"
    return None


def require_redis():
    """Skip (or fail, with NUMSIM_REQUIRE_REDIS=1) a test that cannot run here."""
    problem = redis_server_problem()
    if problem is not None:
        if os.environ.get("NUMSIM_REQUIRE_REDIS") == "1":
            pytest.fail(f"{problem} ({REDIS_HELP})")
        pytest.skip(f"{problem} ({REDIS_HELP})")


BROWSER_HELP = "NUMSIM_REQUIRE_BROWSER=1 makes this a failure instead of a skip"


def browser_problem():
    """Why the browser tests cannot run here (None: they can): they drive the system's
    chromium through Playwright, and never download a browser."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install --group dev)"
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        return "chromium not found: install it (apt-get install -y chromium)"
    return None


def require_browser():
    """Skip (or fail, with NUMSIM_REQUIRE_BROWSER=1) a browser test that cannot run here."""
    problem = browser_problem()
    if problem is not None:
        if os.environ.get("NUMSIM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{problem} ({BROWSER_HELP})")
        pytest.skip(f"{problem} ({BROWSER_HELP})")


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on 127.0.0.1, on a free port, without persistence."""
    require_redis()
    with RedisServer.started() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster():
    """A real Redis Cluster of 3 masters on 127.0.0.1, without persistence."""
    require_redis()
    with RedisServerCluster.started() as cluster:
        yield cluster


@pytest.fixture(params=BACKENDS)
def backend_factory(request):
    """A callable making a fresh, empty backend of each kind (Redis: its own namespace,
    on the allocator's clock so tests can move time)."""
    if request.param == "memory":
        yield numsim.MemoryBackend
        return
    from numsim.allocator.redis import RedisBackend

    server = request.getfixturevalue("redis_server")
    made = []

    def make():
        backend = RedisBackend(
            server.url, namespace=f"test-{uuid.uuid4().hex}", clock="client", max_clock_skew=None
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def clock():
    return numsim.ManualClock(START)


@pytest.fixture
def front():
    """The allocator's front the tests drive: its synchronous calls, unless the module
    names FRONTS (see pytest_generate_tests)."""
    return "sync"


def pytest_generate_tests(metafunc):
    """A module with FRONTS = ("sync", "async") runs each test through both fronts,
    except a test marked own_loop (it drives asyncio itself)."""
    fronts = getattr(metafunc.module, "FRONTS", None)
    own_loop = metafunc.definition.get_closest_marker("own_loop") is not None
    if fronts and "front" in metafunc.fixturenames and not own_loop:
        metafunc.parametrize("front", fronts)


class AsyncFront:
    """An allocator whose acquire, release and renew go through aacquire, arelease and
    arenew, on an event loop of its own (in a thread), so synchronous tests drive the
    asyncio front unchanged: the rules are checked on both paths, as `limits` runs its
    strategy tests on its async storages. Everything else is the allocator's own."""

    def __init__(self, allocator):
        self.allocator = allocator
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def acquire(self, *args, **options):
        return self._run(self.allocator.aacquire(*args, **options))

    def release(self, lease):
        return self._run(self.allocator.arelease(lease))

    def renew(self, lease, **options):
        return self._run(self.allocator.arenew(lease, **options))

    def close(self):
        if self._loop.is_closed():  # closed by the test already
            return
        try:
            self._run(self.allocator.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def __getattr__(self, name):
        return getattr(self.allocator, name)


@pytest.fixture
def make_allocator(backend_factory, clock, front):
    """Allocators on the test's backend, driven through the test's front, closed when the
    test ends (so a thread still waiting in one ends too)."""
    made = []

    def make(numbers, templates, **options):
        options.setdefault("clock", clock)
        allocator = numsim.Allocator(numbers, templates, backend=backend_factory(), **options)
        made.append(allocator if front == "sync" else AsyncFront(allocator))
        return made[-1]

    yield make
    for allocator in made:
        allocator.close()


def twilio(i=0, **options):
    options.setdefault("stir_shaken_attested", True)
    return numsim.OutboundNumber(f"+1415555{i:04d}", "twilio", **options)


def plivo(i=0, channels=3, **options):
    options.setdefault("trai_registered", True)
    return numsim.OutboundNumber(
        f"+9122400{i:05d}", "plivo", max_concurrent_calls=channels, **options
    )


def exotel(i=0, channels=2, **options):
    options.setdefault("trai_registered", True)
    return numsim.OutboundNumber(
        f"+9180450{i:05d}", "exotel", max_concurrent_calls=channels, **options
    )


def pool(*numbers):
    return [n.e164 for n in numbers]


US = "+12125550143"  # New York
IN = "+919876543210"
UK = "+442079460018"


def us(i):
    return f"+1212555{i:04d}"


def india(i):
    return f"+9198765{i:05d}"
