"""Lifecycle: close() (or a with block) leaves no thread behind, sync and asyncio."""

import asyncio
import threading

import pytest

import numsim
from conftest import pool, twilio, us
from numsim.allocator.redis import RedisBackend


def numsim_threads():
    return {t for t in threading.enumerate() if t.name.startswith("numsim")}


def exercise(allocator):
    """Start every thread an allocator may start: a timed wake-up, the async worker."""
    held = allocator.acquire("t", us(0))
    with pytest.raises(numsim.NoNumberAvailable):
        allocator.acquire("t", us(1), timeout=0.05)  # schedules a timer

    async def waiting():
        with pytest.raises(numsim.NoNumberAvailable):
            await allocator.aacquire("t", us(2), timeout=0.05)

    asyncio.run(waiting())
    allocator.release(held)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_close_leaves_no_thread_behind(request, kind):
    before = numsim_threads()
    number = twilio(0)
    backend = None
    if kind == "redis":
        backend = RedisBackend(request.getfixturevalue("redis_server").url, namespace=kind)
    with numsim.Allocator([number], {"t": pool(number)}, backend=backend) as allocator:
        exercise(allocator)
        assert numsim_threads() - before  # it did start threads
    assert not numsim_threads() - before


def test_async_with_closes_the_asyncio_connections_too(redis_server):
    before = numsim_threads()
    number = twilio(0)

    async def main():
        backend = RedisBackend(redis_server.url, namespace="lifecycle-async")
        async with numsim.Allocator([number], {"t": pool(number)}, backend=backend) as a:
            lease = await a.aacquire("t", us(1))
            assert await a.arelease(lease)
            client = backend._owned_async_client
        pool_ = client.connection_pool
        assert not any(c.is_connected for c in pool_._available_connections)
        assert not pool_._in_use_connections

    asyncio.run(main())
    assert not numsim_threads() - before
