"""The Redis backend's failure paths, against a real redis-server that the tests stall
(SIGSTOP), stop, flush and damage: retries, lost replies, cancellations, outages,
key loss, eviction and clock skew. Every channel is back at the end."""

import asyncio
import contextlib
import threading
import time
import uuid

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

import numsim
from conftest import pool, twilio, us
from numsim import BackendMisconfigured, BackendUnavailable, NoNumberAvailable
from numsim.allocator import redis as redis_backend
from numsim.allocator.allocator import WAIT_GRACE
from numsim.allocator.backend import Finding
from numsim.allocator.redis import RedisBackend
from numsim.cli import main
from numsim.testing import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def server(redis_server):
    """A server of the test's own: these tests stall and stop it."""
    with RedisServer.started() as own:
        yield own


def retrying_clients(server, timeout=0.4):
    """redis-py clients that time out fast and retry, as a caller may configure them."""
    options = dict(host="127.0.0.1", port=server.port, socket_timeout=timeout)
    return (
        redis.Redis(**options, retry=Retry(NoBackoff(), 6)),
        redis.asyncio.Redis(**options, retry=AsyncRetry(NoBackoff(), 6)),
    )


def used(server, space, e164):
    """The number's calls in progress as Redis counts them, read around the backend."""
    raw = redis.Redis(port=server.port).hget(f"{{{space}}}:n:{e164}", "used")
    return int(raw or 0)


def resume_after(server, seconds):
    timer = threading.Timer(seconds, server.resume)
    timer.start()
    return timer


def test_a_retried_acquire_takes_one_channel(server):
    number = twilio(0)
    client, aclient = retrying_clients(server)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(client, namespace=space, async_client=aclient)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend, lease_ttl=2)
    allocator.release(allocator.acquire("t", us(0)))  # scripts loaded: a retry re-runs one
    server.pause()
    resume_after(server, 0.9)  # two timed-out tries queue on the server, a third answers
    lease = allocator.acquire("t", us(1))
    assert used(server, space, number.e164) == 1
    assert allocator.snapshot().counters["acquired"] == 2
    assert allocator.release(lease)
    assert used(server, space, number.e164) == 0
    time.sleep(2.1)  # past the TTL: nothing was left behind to expire
    assert allocator.in_use(number.e164) == 0
    assert allocator.acquire("t", us(2)).number == number.e164
    backend.close()


def test_a_retried_async_acquire_takes_one_channel(server):
    number = twilio(0)
    client, aclient = retrying_clients(server)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(client, namespace=space, async_client=aclient)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)

    async def main():
        await allocator.arelease(await allocator.aacquire("t", us(0)))
        server.pause()
        resume_after(server, 0.9)
        lease = await allocator.aacquire("t", us(1))
        assert used(server, space, number.e164) == 1
        assert await allocator.arelease(lease)
        assert await allocator.arelease(lease) is False

    asyncio.run(main())
    assert used(server, space, number.e164) == 0
    assert allocator.snapshot().counters["acquired"] == 2
    backend.close()


def test_a_cancelled_aacquire_gives_its_channel_back(server):
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)

    async def main():
        await allocator.arelease(await allocator.aacquire("t", us(0)))  # scripts loaded
        server.pause()
        resume_after(server, 1.0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(allocator.aacquire("t", us(1)), 0.3)
        await asyncio.sleep(1.5)  # the server runs the acquire, then the give-back
        return used(server, space, number.e164)

    assert asyncio.run(main()) == 0  # given back without another call of ours
    stats = allocator.snapshot().counters
    assert stats["acquired"] == 2 and stats["released"] == 2  # it did take, then gave back
    assert allocator.acquire("t", us(2)).number == number.e164
    backend.close()


class LagProbe:
    """Ticks every 10 ms on the event loop and keeps the longest gap: a loop blocked by
    a synchronous network call shows as a long gap."""

    def __init__(self):
        self.worst = 0.0
        self._task = None

    async def _tick(self):
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.worst = max(self.worst, now - last)
            last = now

    def __enter__(self):
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc):
        self._task.cancel()


def test_a_waiting_aacquire_never_blocks_the_loop_while_redis_stalls(server):
    number = twilio(0)
    backend = RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}")
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)

    async def main():
        with LagProbe() as probe:
            server.pause()
            resume_after(server, 1.5)
            lease = await allocator.aacquire("t", us(1), timeout=2)  # submitted in a stall
            held = asyncio.create_task(allocator.aacquire("t", us(2), timeout=2))
            await asyncio.sleep(0.2)
            server.pause()  # stalls the waiter's timed re-checks and its deadline
            resume_after(server, 1.5)
            await asyncio.sleep(1.0)
            with pytest.raises(NoNumberAvailable):
                await held
            await allocator.arelease(lease)
        return probe.worst

    worst = asyncio.run(main())
    assert worst < 0.3, f"the event loop was blocked for {worst:.2f} s"
    assert allocator.in_use(number.e164) == 0
    backend.close()


@pytest.mark.parametrize("change", ["remove_number", "unassign"])
def test_a_pool_change_that_failed_in_an_outage_can_be_retried(server, change):
    kept, leaving = twilio(0), twilio(1)
    backend = RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}")
    allocator = numsim.Allocator([kept, leaving], {"t": pool(kept, leaving)}, backend=backend)

    def apply():
        if change == "remove_number":
            allocator.remove_number(leaving.e164)
        else:
            allocator.unassign("t", [leaving.e164])

    server.stop()
    with pytest.raises(BackendUnavailable):
        apply()
    assert leaving.e164 in allocator.templates["t"]  # nothing changed here either
    server.start()  # without persistence: the namespace is gone and gets restored
    apply()
    assert allocator.templates["t"] == (kept.e164,)
    assert allocator.acquire("t", us(1)).number == kept.e164
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", us(2))  # the removed number is not handed out
    backend.close()


def two_processes(server, *numbers):
    """Two allocators on one namespace, as two worker processes would have them."""
    space = f"t-{uuid.uuid4().hex}"
    return tuple(
        numsim.Allocator(
            numbers, {"t": pool(*numbers)}, backend=RedisBackend(server.url, namespace=space)
        )
        for _ in range(2)
    )


def drain(allocator, start):
    """Every number the allocator can be handed now, each held until the pool runs out."""
    leases = []
    with contextlib.suppress(NoNumberAvailable):
        for i in range(10):
            leases.append(allocator.acquire("t", us(start + i)))
    for lease in leases:
        allocator.release(lease)
    return [lease.number for lease in leases]


@pytest.mark.parametrize("stale_changes_too", [False, True])
def test_after_a_namespace_loss_a_stale_view_cannot_bring_back_a_removed_number(
    server, stale_changes_too
):
    """a removes x; Redis restarts empty; b, whose view still has x, restores first (and
    may make a pool change of its own, which used to hide a's newer view); a's removal
    wins all the same, and b learns it."""
    x, y, z = twilio(0), twilio(1), twilio(2)
    a, b = two_processes(server, x, y)
    a.remove_number(x.e164)  # b's view still has x
    redis.Redis(port=server.port).flushall()
    held = b.acquire("t", us(1))  # b restores its (older) view first
    if stale_changes_too:
        b.add_number(z)
        b.assign("t", [z.e164])
    b.release(held)
    assert x.e164 not in drain(a, 10)  # a's removal wins over b's view
    assert x.e164 not in drain(b, 20)
    a.close()
    redis.Redis(port=server.port).flushall()  # again, with only b left to restore
    expected = {y.e164, z.e164} if stale_changes_too else {y.e164}
    assert set(drain(b, 30)) == expected  # b has learnt the removal (and kept its own z)
    b.close()


def test_after_a_namespace_loss_the_newest_change_of_each_number_wins_everywhere(server):
    """b gave y a third channel; a, whose view has two, restores first. b's newer change
    replaces a's on b's next call, and a learns it: after a second loss a alone restores
    three channels."""
    two, three = (
        numsim.OutboundNumber(
            "+14155550100", "plivo", max_concurrent_calls=n, stir_shaken_attested=True
        )
        for n in (2, 3)
    )
    space = f"t-{uuid.uuid4().hex}"
    a, b = (
        numsim.Allocator(
            [two], {"t": [two.e164]}, backend=RedisBackend(server.url, namespace=space)
        )
        for _ in range(2)
    )
    b.remove_number(two.e164)
    b.add_number(three)
    b.assign("t", [three.e164])
    redis.Redis(port=server.port).flushall()
    assert len(drain(a, 10)) == 2  # a restored its older view first
    assert len(drain(b, 20)) == 3  # b's newer change wins
    assert len(drain(a, 30)) == 3
    b.close()
    redis.Redis(port=server.port).flushall()
    assert len(drain(a, 40)) == 3  # a learnt b's change
    a.close()


@pytest.mark.parametrize("changes_after_restart", [0, 3])
def test_redis_back_from_an_older_snapshot_does_not_lose_a_pool_change(
    server, changes_after_restart
):
    """A restart from an older snapshot (RDB, or AOF everysec losing its last second) keeps
    the namespace but not a's later removal of x, even once others made pool changes of
    their own. a's listener notices that Redis holds fewer of a's changes than a made, and
    a's next call writes the removal back."""
    x, y, z = twilio(0), twilio(1), twilio(2)
    a, b = two_processes(server, x, y)
    redis.Redis(port=server.port).save()
    a.remove_number(x.e164)
    server.stop()
    server.start()  # from the snapshot, which still has x
    for _ in range(changes_after_restart):  # b's changes must not hide a's loss
        b.add_number(z, templates=["t"])
    deadline = time.monotonic() + 10
    while x.e164 in drain(a, 10):
        assert time.monotonic() < deadline, "a never wrote its removal back"
        time.sleep(0.2)
    assert x.e164 not in drain(b, 20)
    a.close()
    b.close()


def test_after_a_rollback_a_process_that_only_changes_pools_writes_its_change_back(server):
    """The admin never acquires: once its listener has noticed the rollback, its next pool
    change syncs first (it used to go out unchecked and turn the check off for good)."""
    x, y, z = twilio(0), twilio(1), twilio(2)
    admin, worker = two_processes(server, x, y)
    redis.Redis(port=server.port).save()
    admin.remove_number(x.e164)
    server.stop()
    server.start()  # from the snapshot, which still has x
    deadline = time.monotonic() + 10
    while admin.backend._era:  # the listener marks the view stale
        assert time.monotonic() < deadline, "the listener never noticed the rollback"
        time.sleep(0.1)
    admin.add_number(z, templates=["t"])
    assert sorted(drain(worker, 0)) == [y.e164, z.e164]
    admin.close()
    worker.close()


def test_a_client_clock_before_1970_is_refused(server):
    clock = numsim.ManualClock(-100.0)
    backend = RedisBackend(
        server.url, namespace=f"t-{uuid.uuid4().hex}", clock="client", max_clock_skew=None
    )
    with pytest.raises(BackendMisconfigured, match="before 1970"):
        numsim.Allocator([twilio(0)], {"t": pool(twilio(0))}, backend=backend, clock=clock)
    backend.close()


def test_an_acquire_outlives_another_process_syncing_while_it_syncs(server):
    """b restores first; while b's acquire syncs, a's sync writes a's newer view and moves
    the pools to a new era: b syncs again and acquires (it raised IndexError)."""
    x, y = twilio(0), twilio(1)
    a, b = two_processes(server, x, y)
    a.remove_number(x.e164)
    redis.Redis(port=server.port).flushall()
    real, syncs = b.backend._sync, []

    def and_then_a_syncs(now):
        real(now)
        syncs.append(now)
        if len(syncs) == 1:
            assert drain(a, 10) == [y.e164]

    b.backend._sync = and_then_a_syncs
    assert b.acquire("t", us(1)).number == y.e164
    assert len(syncs) == 2
    a.close()
    b.close()


def test_a_number_one_process_restores_is_learnt_by_the_others(server):
    """a added z, which b never knew; after a loss b restores first and a writes z back.
    b learns z: after a stops and a second loss, b alone restores it."""
    x, y, z = twilio(0), twilio(1), twilio(2)
    a, b = two_processes(server, x, y)
    a.add_number(z, templates=["t"])
    redis.Redis(port=server.port).flushall()
    assert sorted(drain(b, 0)) == [x.e164, y.e164]  # b restores first, without z
    assert sorted(drain(a, 10)) == [x.e164, y.e164, z.e164]
    assert sorted(drain(b, 20)) == [x.e164, y.e164, z.e164]
    a.close()
    redis.Redis(port=server.port).flushall()
    assert sorted(drain(b, 30)) == [x.e164, y.e164, z.e164]
    b.close()


def test_a_process_that_only_changes_pools_syncs_after_a_loss(server):
    """a makes pool changes but never acquires: its first change after the loss syncs, so
    its earlier removal of x is written back."""
    x, y, z = twilio(0), twilio(1), twilio(2)
    a, b = two_processes(server, x, y)
    a.remove_number(x.e164)
    redis.Redis(port=server.port).flushall()
    assert sorted(drain(b, 0)) == [x.e164, y.e164]  # b restores its stale view first
    a.add_number(z, templates=["t"])
    assert sorted(drain(b, 10)) == [y.e164, z.e164]
    a.close()
    b.close()


def test_check_repairs_the_lost_record_of_a_removed_number(server):
    x, y = twilio(0), twilio(1)
    space = f"t-{uuid.uuid4().hex}"
    allocator = numsim.Allocator(
        [x, y], {"t": pool(x, y)}, backend=RedisBackend(server.url, namespace=space)
    )
    allocator.remove_number(x.e164)
    redis.Redis(port=server.port).delete(f"{{{space}}}:n:{x.e164}")
    assert allocator.check(repair=False) == [Finding(x.e164, "settings lost", False)]
    assert allocator.check(repair=True) == [Finding(x.e164, "settings lost", True)]
    assert allocator.check(repair=False) == []
    assert drain(allocator, 0) == [y.e164]
    allocator.close()


def test_a_lost_index_of_numbers_is_restored_by_the_next_sync(server):
    """Without {ns}:numbers (and {ns}:cfg) a sync saw no number, and every write it made
    back was refused as not newer: every call failed from then on."""
    numbers = [twilio(i) for i in range(3)]
    space = f"t-{uuid.uuid4().hex}"
    allocator = numsim.Allocator(
        numbers, {"t": pool(*numbers)}, backend=RedisBackend(server.url, namespace=space)
    )
    raw = redis.Redis(port=server.port)
    raw.delete(f"{{{space}}}:numbers", f"{{{space}}}:cfg")
    assert sorted(drain(allocator, 0)) == pool(*numbers)
    assert raw.scard(f"{{{space}}}:numbers") == 3
    allocator.close()


def test_a_repair_from_a_stale_view_is_undone_by_the_newer_one(server):
    """b removed x; x's key is lost; a, whose view still has x, repairs it from that view.
    The repair moves the pools to a new era, so b writes its newer removal back."""
    x, y = twilio(0), twilio(1)
    a, b = two_processes(server, x, y)
    b.remove_number(x.e164)
    redis.Redis(port=server.port).delete(f"{{{a.backend.namespace}}}:n:{x.e164}")
    assert [f.repaired for f in a.check(repair=True)] == [True]
    assert drain(b, 0) == [y.e164]
    assert drain(a, 10) == [y.e164]
    a.close()
    b.close()


def test_threads_that_find_the_namespace_lost_sync_it_once(server):
    numbers = [twilio(i) for i in range(1000)]
    allocator = numsim.Allocator(
        numbers,
        {"t": pool(*numbers)},
        backend=RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}"),
    )
    backend = allocator.backend
    real, syncs = backend._sync, []
    backend._sync = lambda now: (syncs.append(now), real(now))
    redis.Redis(port=server.port).flushall()
    leases = []
    threads = [
        threading.Thread(target=lambda i=i: leases.append(allocator.acquire("t", us(i))))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(leases) == 8
    assert len(syncs) == 2  # the restore, then the pull of what it wrote
    allocator.close()


def test_a_lost_lease_index_is_found_and_repaired_by_check(server):
    """Without {ns}:l a release frees nothing and the number stayed busy for good; check()
    rebuilds an outbound call's record from its hourly window, and frees an inbound
    call's channel (nothing names its number any more), saying so."""
    number = numsim.OutboundNumber(
        "+912240000011", "plivo", max_concurrent_calls=2, trai_registered=True
    )
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    outbound = allocator.acquire("t", "+919876500001")
    allocator.acquire_inbound(number.e164)
    redis.Redis(port=server.port).delete(f"{{{space}}}:l")
    assert allocator.release(outbound) is False  # the record is gone
    assert allocator.in_use(number.e164) == 2  # the counter is not
    findings = allocator.check()
    assert sorted(f.repaired for f in findings) == [True, True, True]
    assert any("rebuilt" in f.problem for f in findings)
    assert any("counted free" in f.problem for f in findings)
    assert allocator.in_use(number.e164) == 1  # the outbound call goes on
    assert allocator.check() == []
    assert allocator.release(outbound) is True
    assert allocator.in_use(number.e164) == 0
    backend.close()


def test_a_lost_number_key_never_lets_a_twilio_number_take_two_calls(server):
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    lease = allocator.acquire("t", us(1))
    redis.Redis(port=server.port).delete(f"{{{space}}}:n:{number.e164}")
    allocator.release(lease)  # the counter would go to -1
    assert used(server, space, number.e164) == 0
    assert allocator.snapshot().counters["inconsistent"] == 1
    findings = allocator.check()
    assert any(f.problem == "settings lost" and f.repaired for f in findings)
    first = allocator.acquire("t", us(2))
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", us(3))  # one call at a time, as before the loss
    allocator.release(first)
    backend.close()


def test_check_repairs_a_counter_behind_a_live_lease(server):
    number = numsim.OutboundNumber(
        "+912240000011", "plivo", max_concurrent_calls=3, trai_registered=True
    )
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    leases = [allocator.acquire("t", f"+9198765{i:05d}") for i in range(2)]
    redis.Redis(port=server.port).hset(f"{{{space}}}:n:{number.e164}", "used", 0)
    assert [f.repaired for f in allocator.check(repair=False)] == [False]
    assert allocator.in_use(number.e164) == 0
    assert [f.repaired for f in allocator.check()] == [True]
    assert allocator.in_use(number.e164) == 2
    for lease in leases:
        assert allocator.release(lease)
    assert allocator.in_use(number.e164) == 0
    backend.close()


def test_a_server_that_evicts_keys_is_refused_with_the_fix(server):
    client = redis.Redis(port=server.port)
    client.config_set("maxmemory-policy", "allkeys-lru")
    number = twilio(0)
    with pytest.raises(BackendMisconfigured, match="noeviction"):
        numsim.Allocator(
            [number], {"t": pool(number)}, backend=RedisBackend(server.url, namespace="ev")
        )
    backend = RedisBackend(server.url, namespace="ev2", allow_eviction=True)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    assert allocator.acquire("t", us(1)).number == number.e164
    backend.close()


def test_a_server_without_redis_functions_is_refused_with_the_fix(redis_server, capsys):
    """As Redis 6 is: neither FUNCTION nor FCALL."""
    without = ("--rename-command", "FUNCTION", "", "--rename-command", "FCALL", "")
    number = twilio(0)
    with RedisServer.started(options=without) as old:
        with pytest.raises(BackendMisconfigured, match=r"needs Redis 7\.0 or newer"):
            numsim.Allocator(
                [number], {"t": pool(number)}, backend=RedisBackend(old.url, namespace="old")
            )
        assert main(["check", "--redis", old.url]) == 1  # it calls a function at once
    err = capsys.readouterr().err
    assert "needs Redis 7.0 or newer" in err and err.count("\n") == 1


def test_a_server_that_lost_the_function_library_gets_it_again(server):
    number = twilio(0)
    client = redis.Redis(port=server.port)
    backend = RedisBackend(server.url, namespace="lib")
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    client.function_flush()
    lease = allocator.acquire("t", us(1))
    client.function_flush()
    allocator.release(lease)
    assert allocator.in_use(number.e164) == 0
    client.function_flush()

    async def cycle():
        lease = await allocator.aacquire("t", us(2))
        client.function_flush()
        await allocator.arelease(lease)

    asyncio.run(cycle())
    assert allocator.in_use(number.e164) == 0
    assert len(client.function_list()) == 1  # loaded again, once: one library per version
    backend.close()


def test_a_full_redis_refuses_new_calls_but_still_frees_channels(server):
    """noeviction at maxmemory: taking a channel is refused, but a call that ends gives
    its channel back, and reads, renewals and checks go on."""
    client = redis.Redis(port=server.port)
    numbers = [twilio(0), twilio(1), twilio(2)]
    backend = RedisBackend(server.url, namespace="oom")
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)
    first, second = allocator.acquire("t", us(1)), allocator.acquire("t", us(2))
    client.config_set("maxmemory", 1)  # over the limit from now on
    try:
        with pytest.raises(BackendUnavailable, match="maxmemory"):
            allocator.acquire("t", us(3))
        assert allocator.renew(second, ttl=60)
        assert allocator.release(first)
        assert allocator.in_use(first.number) == 0
        assert allocator.check() == []
    finally:
        client.config_set("maxmemory", 0)
    assert allocator.acquire("t", us(3)).number != second.number  # taking works again
    backend.close()


def test_an_unreadable_policy_is_written_again_like_a_lost_one(server):
    client = redis.Redis(port=server.port)
    numbers = [twilio(0), twilio(1)]
    backend = RedisBackend(server.url, namespace="bad")
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)
    lease = allocator.acquire("t", us(1))
    client.hset("{bad}:cfg", "policy", "garbage")
    assert allocator.acquire("t", us(2)).number != lease.number  # the pools are intact
    assert client.hget("{bad}:cfg", "policy").startswith(b"least_loaded ")
    backend.close()


def test_the_library_is_written_to_the_aof_once_however_often_it_is_loaded(redis_server):
    """A load is persisted and replicated (35 KB) even when the library is unchanged:
    a backend loads it only if the server does not have it."""
    with RedisServer.started(options=("--appendonly", "yes")) as server:
        number = twilio(0)
        for i in range(4):
            backend = RedisBackend(server.url, namespace=f"aof{i}")
            numsim.Allocator([number], {"t": pool(number)}, backend=backend)
            backend.close()
        aof = b"".join(p.read_bytes() for p in server.directory.glob("**/*.aof"))
    assert aof.count(b"register_function") == len(redis_backend.SCRIPTS)


def test_a_namespace_given_a_new_policy_is_read_with_it_at_once(server):
    """The functions parse a namespace's policy once per server: a new one is not missed."""
    clock = numsim.ManualClock(1_800_000_000)
    numbers = [twilio(0), twilio(1)]

    def allocator(lease_ttl):
        backend = RedisBackend(
            server.url, namespace="pol", clock="client", max_clock_skew=None, replace_policy=True
        )
        return numsim.Allocator(
            numbers, {"t": pool(*numbers)}, backend=backend, clock=clock, lease_ttl=lease_ttl
        )

    first = allocator(100)
    assert first.acquire("t", us(1)).expires_at == clock() + 100
    allocator(50)  # the namespace's policy is now the second's
    assert first.acquire("t", us(2)).expires_at == clock() + 50
    first.backend.close()  # type: ignore[attr-defined]


def test_a_client_clock_far_from_the_servers_is_refused(server):
    number = twilio(0)
    ahead = numsim.ManualClock(time.time() + 5 * 3600)
    backend = RedisBackend(server.url, namespace="skew", clock="client", max_clock_skew=2)
    with pytest.raises(BackendMisconfigured, match="ahead of the Redis server"):
        numsim.Allocator([number], {"t": pool(number)}, backend=backend, clock=ahead)
    on_time = RedisBackend(server.url, namespace="skew2", clock="client", max_clock_skew=2)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=on_time)
    assert allocator.acquire("t", us(1)).number == number.e164
    for each in (backend, on_time):
        each.close()


def test_an_acquire_given_up_before_it_ran_takes_nothing_when_it_runs(server):
    """A cancelled caller's give-back may reach Redis before its acquire does (another
    connection): the id is voided, and the late acquire takes nothing."""
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    given_up = "given-up-lease"
    backend._orphans.add(given_up)
    assert allocator.in_use(number.e164) == 0  # the next call gives the orphan back
    late = backend._acquire_args("t", ["*+stir_shaken"], us(1), 0.0, given_up, None, False, False)
    reply = backend._call("acquire", *late)
    assert reply[:2] == [0, b"void"]
    assert used(server, space, number.e164) == 0
    assert allocator.acquire("t", us(2)).number == number.e164
    backend.close()


def test_an_acquire_given_up_takes_nothing_even_after_its_void_record_expired(server):
    """The void record expires like a lease; the id is then remembered as ended, so an
    acquire arriving later still (a long-stalled retry) takes nothing."""
    number = twilio(0)
    clock = numsim.ManualClock(1_800_000_000)
    backend = RedisBackend(
        server.url, namespace=f"t-{uuid.uuid4().hex}", clock="client", max_clock_skew=None
    )
    allocator = numsim.Allocator(
        [number], {"t": pool(number)}, backend=backend, clock=clock, lease_ttl=10
    )
    backend._orphans.add("given-up-lease")
    assert allocator.in_use(number.e164) == 0  # the give-back voids the id
    clock.advance(11)
    assert allocator.in_use(number.e164) == 0  # the void record has expired
    late = backend._acquire_args(
        "t", ["*+stir_shaken"], us(1), clock(), "given-up-lease", None, False, False
    )
    assert backend._call("acquire", *late)[:2] == [0, b"void"]
    assert allocator.in_use(number.e164) == 0
    backend.close()


def test_numsim_check_reports_then_repairs_a_damaged_namespace(server, capsys):
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    allocator.acquire("t", us(1))
    redis.Redis(port=server.port).delete(f"{{{space}}}:l")
    argv = ["check", "--redis", server.url, "--namespace", space]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert number.e164 in out and "not repaired" in out
    assert main([*argv, "--repair"]) == 0
    assert "(repaired)" in capsys.readouterr().out
    assert main(argv) == 0
    assert "healthy" in capsys.readouterr().out
    redis.Redis(port=server.port).config_set("maxmemory-policy", "volatile-lru")
    assert main(argv) == 1
    assert "noeviction" in capsys.readouterr().out
    backend.close()


def test_numsim_check_on_a_namespace_of_an_older_numsim_says_so(server, capsys):
    """Before the policy was one field, configure wrote its parts apart; this version
    reads such a namespace as unconfigured until one of its allocators configures it."""
    client = redis.Redis(port=server.port)
    older = {"order": "least_loaded", "ttl": "100000000", "dmax": "0", "dper": "0"}
    client.hset("{prev}:cfg", mapping={**older, "era": "e"})
    assert main(["check", "--redis", server.url, "--namespace", "prev"]) == 1
    assert "configured by an older numsim" in capsys.readouterr().out
    number = twilio(0)
    backend = RedisBackend(server.url, namespace="prev")
    numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    backend.close()
    assert main(["check", "--redis", server.url, "--namespace", "prev"]) == 0


def test_numsim_check_on_an_unreachable_redis_is_one_line(capsys):
    assert main(["check", "--redis", "redis://127.0.0.1:1/0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("numsim: error: Redis is unreachable") and err.count("\n") == 1


class LosingAsyncClient(redis.asyncio.Redis):
    """An asyncio client whose next script call runs on the server and loses its reply."""

    lose_next = False

    async def fcall(self, *args):
        reply = await super().fcall(*args)
        if self.lose_next:
            self.lose_next = False
            raise redis.ConnectionError("the reply was lost (injected)")
        return reply


def test_an_async_acquire_whose_reply_was_lost_is_given_back(server):
    number = numsim.OutboundNumber(
        "+912240000011", "plivo", max_concurrent_calls=2, trai_registered=True
    )
    space = f"t-{uuid.uuid4().hex}"
    aclient = LosingAsyncClient(host="127.0.0.1", port=server.port)
    backend = RedisBackend(server.url, namespace=space, async_client=aclient)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)

    async def main():
        await allocator.arelease(await allocator.aacquire("t", "+919876500000"))
        aclient.lose_next = True
        with pytest.raises(BackendUnavailable):
            await allocator.aacquire("t", "+919876500001")
        assert used(server, space, number.e164) == 1  # taken on the server, reply lost
        lease = await allocator.aacquire("t", "+919876500002")  # gives the orphan back first
        assert used(server, space, number.e164) == 1
        await allocator.arelease(lease)
        await allocator.aclose()

    asyncio.run(main())
    assert used(server, space, number.e164) == 0


def test_cancelling_a_waiter_while_redis_stalls_never_blocks_the_loop(server):
    number = twilio(0)
    backend = RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}")
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)

    async def main():
        held = await allocator.aacquire("t", us(0))
        waiter = asyncio.create_task(allocator.aacquire("t", us(1), timeout=30))
        await asyncio.sleep(0.3)
        server.pause()
        resume_after(server, 2.5)
        await asyncio.sleep(1.3)  # the waiter's re-check is now stuck on Redis, in the worker
        with LagProbe() as probe:
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)
        await allocator.arelease(held)
        await allocator.aclose()
        return probe.worst

    assert asyncio.run(main()) < 0.3
    assert allocator.in_use(number.e164) == 0


def test_a_pool_change_stuck_on_redis_never_blocks_the_loop(server):
    kept, leaving = twilio(0), twilio(1)
    backend = RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}")
    allocator = numsim.Allocator([kept, leaving], {"t": pool(kept, leaving)}, backend=backend)

    async def main():
        with LagProbe() as probe:
            server.pause()
            resume_after(server, 1.5)
            change = threading.Thread(target=allocator.remove_number, args=(leaving.e164,))
            change.start()  # holds the allocator's configuration lock across Redis
            await asyncio.sleep(0.2)
            lease = await allocator.aacquire("t", us(1), timeout=5)
            await allocator.arelease(lease)
        change.join()
        await allocator.aclose()
        return probe.worst

    assert asyncio.run(main()) < 0.3


def test_a_multi_number_unassign_cut_short_by_an_outage_can_be_retried(server):
    numbers = [twilio(i) for i in range(3)]
    backend = RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}")
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)
    real, puts = backend._run, []

    def flaky(name, args):
        if name == "put_number":
            puts.append(args)
            if len(puts) == 2:
                raise redis.ConnectionError("connection reset (injected)")
        return real(name, args)

    backend._run = flaky
    leaving = [numbers[1].e164, numbers[2].e164]
    with pytest.raises(BackendUnavailable):
        allocator.unassign("t", leaving)
    assert allocator.templates["t"] == tuple(pool(*numbers))  # nothing changed here
    allocator.unassign("t", leaving)
    assert allocator.templates["t"] == (numbers[0].e164,)
    allocator.close()


def test_a_restore_cut_short_is_done_again(server, monkeypatch):
    numbers = [twilio(i) for i in range(3)]
    backend = RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}")
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)
    monkeypatch.setattr(redis_backend, "_WRITE_CHUNK", 1)  # one number per pipeline
    real, pipelines = backend._client.pipeline, []

    def flaky(**options):
        pipe = real(**options)
        pipelines.append(pipe)
        if len(pipelines) == 2:
            pipe.execute = lambda: (_ for _ in ()).throw(
                redis.ConnectionError("connection reset mid-restore (injected)")
            )
        return pipe

    monkeypatch.setattr(backend._client, "pipeline", flaky)
    redis.Redis(port=server.port).flushall()  # a restart without persistence
    # The first restore (this call's, or the listener's on seeing the loss) is cut short.
    with contextlib.suppress(BackendUnavailable):
        allocator.release(allocator.acquire("t", us(0)))
    assert len(pipelines) >= 2
    got = {allocator.acquire("t", us(i)).number for i in range(1, 4)}
    assert got == set(pool(*numbers))  # every number is back
    allocator.close()


def test_a_release_is_not_failed_by_serving_someone_elses_wait(server):
    number = twilio(0)
    backend = RedisBackend(server.url, namespace=f"t-{uuid.uuid4().hex}")
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    held = allocator.acquire("t", us(0))
    waiter = threading.Thread(target=lambda: allocator.acquire("t", us(1), timeout=3))
    waiter.start()
    while not allocator.waiting:
        time.sleep(0.01)
    real = backend._call

    def blip(name, *args):
        if name == "acquire":
            raise BackendUnavailable("Redis is unreachable (acquire): injected blip")
        return real(name, *args)

    backend._call = blip
    assert allocator.release(held) is True  # the waiter's failed attempt is not ours
    backend._call = real
    waiter.join(10)
    allocator.close()


def test_a_refused_constructor_leaves_no_thread(server):
    def threads():
        return {t for t in threading.enumerate() if t.name.startswith("numsim")}

    before = threads()
    for _ in range(3):
        with pytest.raises(numsim.UnknownNumberError):
            numsim.Allocator(
                [twilio(0)],
                {"t": ["+14155559999"]},
                backend=RedisBackend(server.url, namespace="refused"),
            )
    time.sleep(0.1)
    assert not threads() - before


def test_an_idle_number_whose_key_was_lost_takes_no_call_and_check_restores_it(server):
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    redis.Redis(port=server.port).delete(f"{{{space}}}:n:{number.e164}")
    for i in range(3):  # the index still offers it; no call may go out on it unchecked
        with pytest.raises(NoNumberAvailable):
            allocator.acquire("t", us(i))
    assert used(server, space, number.e164) == 0
    assert allocator.snapshot().counters["inconsistent"] >= 1
    findings = allocator.check()
    assert any(f.problem == "settings lost" and f.repaired for f in findings)
    lease = allocator.acquire("t", us(5))
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", us(6))  # one call at a time
    allocator.release(lease)
    allocator.close()


def test_a_worker_that_restores_a_lost_number_key_keeps_its_live_calls(server):
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    first = numsim.Allocator(
        [number], {"t": pool(number)}, backend=RedisBackend(server.url, namespace=space)
    )
    lease = first.acquire("t", us(1))
    redis.Redis(port=server.port).delete(f"{{{space}}}:n:{number.e164}")
    second = numsim.Allocator(  # a worker starting now writes the number's settings again
        [number], {"t": pool(number)}, backend=RedisBackend(server.url, namespace=space)
    )
    with pytest.raises(NoNumberAvailable):
        second.acquire("t", us(2))  # the live call still holds the one channel
    assert first.release(lease)
    assert second.acquire("t", us(3)).number == number.e164
    for allocator in (first, second):
        allocator.close()


def test_an_acquire_run_again_after_its_lease_ended_takes_nothing(server):
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    args = backend._acquire_args("t", ["*+stir_shaken"], us(1), 0.0, "late-1", None, False, False)
    assert backend._call("acquire", *args)[0] == 1  # the try whose reply was lost
    backend._orphans.add("late-1")
    assert allocator.in_use(number.e164) == 0  # the next call gave the orphan back
    assert backend._call("acquire", *args)[:2] == [0, b"void"]  # the first try, late
    assert used(server, space, number.e164) == 0
    assert allocator.acquire("t", us(2)).number == number.e164
    allocator.close()


def test_a_give_back_repeated_after_the_lease_ended_leaves_no_record(server):
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    args = backend._acquire_args("t", ["*+stir_shaken"], us(1), 0.0, "twice-1", None, False, False)
    assert backend._call("acquire", *args)[0] == 1
    for _ in range(2):  # the give-back, and a repeat of it (both with no number)
        backend._call("release", "", "twice-1", "")
    assert redis.Redis(port=server.port).hlen(f"{{{space}}}:l") == 0  # no void record
    assert backend._call("acquire", *args)[:2] == [0, b"void"]  # still known as ended
    assert used(server, space, number.e164) == 0
    allocator.close()


def test_check_rebuilds_lost_lease_records_from_the_hourly_window(server):
    number = numsim.OutboundNumber(
        "+912240000011", "plivo", max_concurrent_calls=2, trai_registered=True
    )
    space = f"t-{uuid.uuid4().hex}"
    backend = RedisBackend(server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    leases = [allocator.acquire("t", f"+9198765{i:05d}") for i in range(2)]
    redis.Redis(port=server.port).delete(f"{{{space}}}:l")
    findings = allocator.check()
    assert len(findings) == 2 and all("rebuilt" in f.problem for f in findings)
    assert allocator.in_use(number.e164) == 2  # still busy: the calls go on
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", "+919876500009")
    assert all(allocator.release(lease) for lease in leases)  # the rebuilt records release
    assert allocator.in_use(number.e164) == 0 and allocator.check() == []
    allocator.close()


# -- waits that always end ----------------------------------------------------------------


def held_elsewhere(server, number):
    """A namespace whose only number a first worker holds; returns (its allocator, lease)."""
    space = f"t-{uuid.uuid4().hex}"
    holder = numsim.Allocator(
        [number], {"t": pool(number)}, backend=RedisBackend(server.url, namespace=space)
    )
    return space, holder, holder.acquire("t", us(0))


@pytest.mark.parametrize("client", ["from-url", "ordinary", "short-timeout"])
def test_a_waiting_acquire_ends_on_time_while_redis_stalls(server, client):
    """Redis stalls 5 s from 0.3 s into a 1 s wait: the wait still ends within its timeout
    and WAIT_GRACE, whatever the client (a URL's 5 s socket timeout; redis-py's defaults,
    which retry; a short timeout whose calls fail in the stall). The number freed after the
    stall goes to nobody: the caller that gave up got nothing."""
    number = twilio(0)
    space, holder, held = held_elsewhere(server, number)
    made = {
        "from-url": lambda: server.url,
        "ordinary": lambda: redis.Redis(host="127.0.0.1", port=server.port),
        "short-timeout": lambda: redis.Redis(port=server.port, socket_timeout=0.3),
    }[client]()
    waiter = numsim.Allocator(
        [number], {"t": pool(number)}, backend=RedisBackend(made, namespace=space)
    )
    threading.Timer(0.3, server.pause).start()
    resume_after(server, 5.3)
    started = time.monotonic()
    with pytest.raises((BackendUnavailable, NoNumberAvailable)):
        waiter.acquire("t", us(1), timeout=1.0)
    assert time.monotonic() - started < 1.0 + WAIT_GRACE + 0.5
    time.sleep(5.5 - (time.monotonic() - started))  # Redis answers again
    holder.release(held)
    time.sleep(1.5)  # a late grant would have taken the freed number by now
    assert used(server, space, number.e164) == 0
    assert waiter.waiting == 0
    waiter.close()
    holder.close()


def test_a_black_hole_around_a_waiters_deadline_ends_the_wait_with_the_error(server):
    """The deadline's try fails in the timer's thread (Redis silent from 0.5 s to 3 s, 0.3 s
    socket timeouts): the caller gets the error, and no lease long after its timeout when
    the number frees."""
    number = twilio(0)
    space, holder, held = held_elsewhere(server, number)
    client = redis.Redis(port=server.port, socket_timeout=0.3)
    waiter = numsim.Allocator(
        [number], {"t": pool(number)}, backend=RedisBackend(client, namespace=space)
    )
    threading.Timer(0.5, server.pause).start()
    resume_after(server, 3.0)
    outcome = {}

    def wait():
        started = time.monotonic()
        try:
            outcome["lease"] = waiter.acquire("t", us(1), timeout=1.0)
        except (BackendUnavailable, NoNumberAvailable) as error:
            outcome["error"] = error
        outcome["took"] = time.monotonic() - started

    thread = threading.Thread(target=wait)
    thread.start()
    thread.join(1.0 + WAIT_GRACE + 0.5)
    assert not thread.is_alive(), "the wait outlived its timeout"
    assert "error" in outcome and "lease" not in outcome
    time.sleep(2.6)
    holder.release(held)
    time.sleep(1.5)
    assert used(server, space, number.e164) == 0
    waiter.close()
    holder.close()


def test_a_removal_is_restored_by_its_remover_without_waiting_for_its_next_call(server):
    """a removes x; Redis loses the namespace; b, whose view still has x, restores it and
    hands it out. a makes no call: its listener sees Redis lost its change and restores
    its newer view by itself, within seconds."""
    x, y = twilio(0), twilio(1)
    a, b = two_processes(server, x, y)
    a.remove_number(x.e164)
    redis.Redis(port=server.port).flushall()
    assert x.e164 in drain(b, 1)  # b restored its older view
    deadline = time.monotonic() + 5
    while x.e164 in drain(b, 20):
        assert time.monotonic() < deadline, "the removed number is still handed out"
        time.sleep(0.2)
    a.close()
    b.close()


@pytest.mark.parametrize(
    "lost",
    [
        "g",  # the free numbers of a group: idle numbers were refused "busy"
        "gm",  # a group's members
        "p",  # a template's pool
        "c",  # capped numbers with a free channel
    ],
)
def test_check_verifies_every_index_against_the_numbers_and_repairs_it(server, capsys, lost):
    capped = twilio(2, max_calls_per_hour=1)
    numbers = [twilio(0), twilio(1), capped]
    space = f"t-{uuid.uuid4().hex}"
    allocator = numsim.Allocator(
        numbers, {"t": pool(*numbers)}, backend=RedisBackend(server.url, namespace=space)
    )
    allocator.release(allocator.acquire("t", us(9)))
    while capped.e164 not in drain(allocator, 0):  # the capped number called once: cooling
        pass
    raw = redis.Redis(port=server.port)
    raw.delete(*raw.keys(f"{{{space}}}:{lost}:*"))
    argv = ["check", "--redis", server.url, "--namespace", space]
    assert main(argv) == 1
    report = capsys.readouterr().out
    assert "not repaired" in report and "index" in report
    assert main([*argv, "--repair"]) == 0
    assert main(argv) == 0
    assert "healthy" in capsys.readouterr().out
    assert set(drain(allocator, 20)) == {numbers[0].e164, numbers[1].e164}
    allocator.close()


def test_check_removes_a_number_left_in_an_index_it_no_longer_belongs_to(server):
    x, y = twilio(0), twilio(1)
    space = f"t-{uuid.uuid4().hex}"
    allocator = numsim.Allocator(
        [x, y], {"t": pool(x, y)}, backend=RedisBackend(server.url, namespace=space)
    )
    allocator.remove_number(x.e164)
    raw = redis.Redis(port=server.port)
    raw.zadd(f"{{{space}}}:g:t|*", {x.e164: 1})  # a stray left in a free index
    problems = allocator.check(repair=False)
    assert [f.number for f in problems] == [x.e164] and not problems[0].repaired
    assert [f.repaired for f in allocator.check(repair=True)] == [True]
    assert allocator.check(repair=False) == []
    assert drain(allocator, 0) == [y.e164]
    allocator.close()


def test_a_worker_with_another_policy_is_refused_naming_what_differs(server):
    """Worker B with lease_ttl=60 and no destination limit used to replace A's policy
    silently: A's leases then expired under live calls and people got two calls."""
    number = twilio(0)
    space = f"t-{uuid.uuid4().hex}"

    def worker(**options):
        replace = options.pop("replace_policy", False)
        backend = RedisBackend(server.url, namespace=space, replace_policy=replace)
        return numsim.Allocator([number], {"t": pool(number)}, backend=backend, **options)

    a = worker(lease_ttl=15_000, destination_limit=numsim.DestinationLimit(1, 3600))
    with pytest.raises(BackendMisconfigured) as refused:
        worker(lease_ttl=60)
    message = str(refused.value)
    assert "lease_ttl: 60 s here, 15000 s in Redis" in message
    assert "destination_limit: none here, 1 call per 3600 s in Redis" in message
    assert "replace_policy=True" in message
    assert "order" not in message  # only the fields that differ
    same = worker(lease_ttl=15_000, destination_limit=numsim.DestinationLimit(1, 3600))
    lease = a.acquire("t", us(1))
    assert lease.expires_at - time.time() > 14_000  # A's policy stands
    a.release(lease)
    with pytest.raises(NoNumberAvailable, match="destination_limit"):
        same.acquire("t", us(1))
    b = worker(lease_ttl=60, replace_policy=True)  # a deliberate change
    assert b.acquire("t", us(2)).expires_at - time.time() < 61
    for allocator in (a, same, b):
        allocator.close()


def test_numsim_serve_with_another_policy_is_one_line_unless_told_to_replace_it(
    server, tmp_path, capsys, monkeypatch
):
    """A serve started with another destination limit than the namespace's is refused
    before it listens, naming the difference; --replace-policy replaces it."""
    import uvicorn

    monkeypatch.setenv("NUMSIM_API_TOKEN", "t" * 32)
    space = f"t-{uuid.uuid4().hex}"
    number = twilio(0)
    first = numsim.Allocator(
        [number],
        {"t": pool(number)},
        backend=RedisBackend(server.url, namespace=space),
        destination_limit=numsim.DestinationLimit(1, 3600),
    )
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    argv = ["serve", "--db", str(tmp_path / "n.db"), "--redis", server.url]
    assert main([*argv, "--namespace", space]) == 1
    err = capsys.readouterr().err
    assert "destination_limit: none here, 1 call per 3600 s in Redis" in err
    assert "numsim serve --replace-policy" in err
    assert "Traceback" not in err and not served
    assert main([*argv, "--namespace", space, "--replace-policy"]) == 0
    assert len(served) == 1
    first.close()
