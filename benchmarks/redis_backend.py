"""Redis backend benchmarks, against a redis-server of their own on loopback.

- acquire+release (two functions, two round trips) vs one `limits` moving-window hit
  (one script) on the same server: each of our functions should cost no more than theirs;
- a pool of 1,000 vs a pool of 10 (no key per pool member is sent: indexes in Redis);
- Lua server time per acquire+release vs per `limits` hit, from INFO commandstats
  (the server's own clock: no round trips, no client);
- acquire+release beside 32 idle worker processes on the namespace vs beside 1: with
  nobody waiting, a release wakes no one, so its cost does not grow with the workers;
- aggregate throughput with 1, 4 and 16 client processes (reported, no target: on
  2 shared cores the server and the clients compete for the same CPUs);
- acquire+release waiting for a replica's acknowledgment (replicas=1, WAIT) vs not:
  the latency a failover-safe lease costs;
- acquire+release on a Redis Cluster of 3 masters vs on one server (one round trip
  each: no COMMAND GETKEYS before each FCALL).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import redis
from limits import parse, storage, strategies

import numsim
from numsim.allocator.redis import RedisBackend
from numsim.testing import RedisServer, RedisServerCluster

from .harness import Case, Runner, cpu_timed, in_processes, timed

DESTINATIONS = [f"+1212555{i:04d}" for i in range(1000)]


def _allocator(url: str, size: int, namespace: str, **options: Any) -> numsim.Allocator:
    numbers = [
        numsim.OutboundNumber(f"+1415555{i:04d}", "twilio", stir_shaken_attested=True)
        for i in range(size)
    ]
    backend = RedisBackend(url, namespace=namespace, **options)
    return numsim.Allocator(numbers, {"t": [n.e164 for n in numbers]}, backend=backend)


def _cycles(allocator: numsim.Allocator):
    acquire, release = allocator.try_acquire, allocator.release

    def loop(n: int) -> None:
        for i in range(n):
            release(acquire("t", DESTINATIONS[i % 1000]))

    return loop


def _limits_hits(url: str) -> Runner:
    item = parse("100/hour")
    keys = [f"key-{i}" for i in range(1000)]
    limiter = strategies.MovingWindowRateLimiter(storage.RedisStorage(url))

    def run(n: int) -> float:
        limiter.storage.reset()  # empty windows, so every hit is an accepted one

        def loop(n: int) -> None:
            for i in range(n):
                limiter.hit(item, keys[i % 1000])

        return timed(loop)(n)

    return run


def _server_seconds(url: str, command: str, loop: Callable[[int], object]) -> Runner:
    """A runner that returns the Lua time the server spent on `loop`'s n operations,
    which run Lua through `command` (fcall, evalsha)."""
    client = redis.Redis.from_url(url)

    def lua_seconds() -> float:
        stats = client.info("commandstats").get(f"cmdstat_{command}", {})
        return float(stats.get("usec", 0)) / 1e6

    def run(n: int) -> float:
        before = lua_seconds()
        loop(n)
        return lua_seconds() - before

    return run


def _idle(url: str, namespace: str, ready: Any, stop: Any) -> None:
    """A worker with an allocator on the namespace (listening for frees), doing nothing."""
    allocator = _allocator(url, 10, namespace)
    ready.wait()
    stop.wait()
    allocator.backend.close()  # type: ignore[attr-defined]


@contextlib.contextmanager
def _idle_workers(url: str, namespace: str, count: int) -> Iterator[None]:
    """`count` idle worker processes on `namespace` while the block runs."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Barrier(count + 1), context.Event()
    workers = [
        context.Process(target=_idle, args=(url, namespace, ready, stop)) for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    try:
        ready.wait(timeout=120)
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)


def _worker(url: str, namespace: str, operations: int, ready: Any) -> None:
    allocator = _allocator(url, 100, namespace)
    cycles = _cycles(allocator)
    ready.wait()  # start together, once every process has set up
    cycles(operations)
    ready.wait()
    allocator.backend.close()  # type: ignore[attr-defined]


def _processes(url: str, count: int) -> Runner:
    """`count` processes sharing one pool do n acquire+release cycles in all; only
    the cycles are timed, not starting the processes."""
    namespace = f"bench-{uuid.uuid4().hex}"
    _allocator(url, 100, namespace).backend.close()  # type: ignore[attr-defined]
    return in_processes(count, _worker, lambda i: (url, namespace))


def cases() -> Iterator[Case]:
    if shutil.which("redis-server") is None:
        print("redis benchmarks skipped: redis-server not found")
        return
    with RedisServer.started() as server:
        url = server.url
        small = _allocator(url, 10, f"bench-{uuid.uuid4().hex}")
        yield Case(
            "redis_vs_limits",
            "Redis acquire+release (2 functions) vs one limits moving-window hit (1 script), "
            "same server",
            timed(_cycles(small)),
            _limits_hits(url),
            ops=2_000,
            target=2.0,
        )
        yield Case(
            "redis_lua_vs_limits",
            "Lua server time of an acquire+release vs of one limits hit (INFO commandstats)",
            _server_seconds(url, "fcall", _cycles(small)),
            _server_seconds(url, "evalsha", _limits_hits(url)),
            ops=2_000,
        )
        with contextlib.ExitStack() as workers:
            crowded, alone = f"bench-{uuid.uuid4().hex}", f"bench-{uuid.uuid4().hex}"
            subject, baseline = _allocator(url, 10, crowded), _allocator(url, 10, alone)
            workers.enter_context(_idle_workers(url, crowded, 31))
            workers.enter_context(_idle_workers(url, alone, 0))
            yield Case(
                "redis_release_32_vs_1_processes",
                "acquire+release with 32 processes on the namespace (31 idle) vs 1, "
                "nobody waiting: a release wakes no one",
                timed(_cycles(subject)),
                timed(_cycles(baseline)),
                ops=2_000,
                target=1.1,
            )
        large = _allocator(url, 1000, f"bench-{uuid.uuid4().hex}")
        yield Case(
            "redis_pool_1000_vs_10",
            "Redis acquire+release, pool of 1,000 vs pool of 10",
            timed(_cycles(large)),
            timed(_cycles(small)),
            ops=2_000,
            target=1.3,
        )
        with server.replica():
            safe = _allocator(url, 10, f"bench-{uuid.uuid4().hex}", replicas=1)
            yield Case(
                "redis_wait_1_replica_vs_plain",
                "Redis acquire+release that return once 1 replica has them (WAIT) vs "
                "without waiting, same primary",
                timed(_cycles(safe)),
                timed(_cycles(small)),
                ops=2_000,
            )
        if shutil.which("redis-cli") is not None:
            with RedisServerCluster.started() as cluster:
                clustered = _allocator(cluster.url, 10, f"bench-{uuid.uuid4().hex}")
                yield Case(
                    "redis_cluster_vs_single",
                    "Redis acquire+release on a 3-master Redis Cluster vs on one server "
                    "(client CPU time: redis-py's cluster routing is the difference)",
                    cpu_timed(_cycles(clustered)),
                    cpu_timed(_cycles(small)),
                    ops=2_000,
                )
        one = _processes(url, 1)
        for count in (4, 16):
            yield Case(
                f"redis_{count}_processes_vs_1",
                f"time for 4,000 acquire+release cycles shared by {count} processes vs 1 "
                "(below 1: they scale)",
                _processes(url, count),
                one,
                ops=4_000,
                rounds=3,
            )
