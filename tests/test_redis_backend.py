"""Redis specifics, against a real redis-server: many processes, crashes, restarts,
the server's clock, key expiry. The shared behaviour tests run on Redis too
(conftest.BACKENDS)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

import allocator_model as model
import numsim
from conftest import pool, twilio, us
from numsim import BackendUnavailable, NoNumberAvailable
from numsim.allocator.redis import RedisBackend
from numsim.testing import RedisServer
from redis_worker import POOL, TEMPLATES

WORKER = str(Path(__file__).with_name("redis_worker.py"))
HOUR_US = 3600 * 1_000_000


def namespace():
    return f"test-{uuid.uuid4().hex}"


class FaultyClient(redis.Redis):
    """A real client whose next acquire script can lose its reply after running, have
    its caller cancelled then, or run twice (a retry of a command that reached the
    server)."""

    fault = None
    target = None  # the name of the function to break
    black_hole = False  # every function call fails, unanswered (Redis silent)

    def fcall(self, function, *args):
        if self.black_hole:
            raise redis.TimeoutError("Redis is silent (injected black-hole)")
        reply = super().fcall(function, *args)  # a lost library raises here, and is reloaded
        if function != self.target:
            return reply
        fault, self.fault = self.fault, None
        if fault == "lost":
            raise redis.ConnectionError("the reply was lost (injected)")
        if fault == "cancelled":  # the caller's task was cancelled while the reply was due
            raise asyncio.CancelledError
        if fault == "twice":
            reply = super().fcall(function, *args)
        return reply


def test_the_state_machine_holds_on_redis_through_lost_replies_retries_and_key_loss(
    redis_server,
):
    class RedisMachine(model.AllocatorMachine):
        def make_backend(self):
            self.client = FaultyClient.from_url(redis_server.url)
            self.space = namespace()
            backend = RedisBackend(
                self.client, namespace=self.space, clock="client", max_clock_skew=None
            )
            self.client.target = backend._functions["acquire"].name
            return backend

        @rule(
            template=st.sampled_from(sorted(model.TEMPLATES)),
            who=st.sampled_from(model.DESTINATIONS),
            fault=st.sampled_from(["lost", "cancelled", "twice"]),
        )
        def acquire_with_a_fault(self, template, who, fault):
            """The acquire runs on the server; its reply is lost, or it runs twice."""
            self.expire()
            self.client.fault = fault
            try:
                lease = self.allocator.acquire(template, who)
            except (BackendUnavailable, asyncio.CancelledError):
                assert fault in ("lost", "cancelled")
                self.account_for_orphan()
                return
            except NoNumberAvailable:
                return
            assert fault == "twice"
            self.calls[lease.number].append(self.now())
            self.dials[model.canonical(who)].append(self.now())
            self.live[lease.id] = lease

        def account_for_orphan(self):
            """The lost acquire took a channel that goes back on the next call; its
            call still counts in the windows, as a call that was dialled would."""
            (orphan,) = self.allocator.backend._orphans
            raw = redis.Redis.from_url(redis_server.url)
            for number in model.NUMBERS:
                if raw.zscore(f"{{{self.space}}}:h:{number.e164}", orphan) is not None:
                    self.calls[number.e164].append(self.now())
            for who in model.DESTINATIONS:
                key = f"{{{self.space}}}:dst:{model.canonical(who)}"
                if raw.zscore(key, orphan) is not None:
                    self.dials[model.canonical(who)].append(self.now())

        @rule(
            template=st.sampled_from(sorted(model.TEMPLATES)),
            who=st.sampled_from(model.DESTINATIONS),
            wait=st.sampled_from([10.0, 600.0, 5000.0]),
        )
        def wait_through_a_black_hole(self, template, who, wait):
            """A call waits; Redis goes silent around its deadline, so the deadline's try
            fails in the clock's thread, not the caller's: the wait ends with the error at
            its deadline, took nothing, and leaves nothing queued or unscheduled."""
            self.expire()
            request = self.allocator.request(template, who, timeout=wait)
            if request.done:  # served or refused at once: a plain acquire, given back
                if request.lease is not None:
                    self.calls[request.lease.number].append(self.now())
                    self.dials[model.canonical(who)].append(self.now())
                    self.allocator.release(request.lease)
                return
            self.client.black_hole = True
            try:
                self.clock.advance(wait)
            finally:
                self.client.black_hole = False
            assert request.done, "the wait outlived its deadline"
            assert isinstance(request.error, BackendUnavailable), request.error
            assert self.allocator.waiting == 0

        @rule(index=st.integers(0, len(model.NUMBERS) - 1))
        def lose_a_number_key(self, index):
            """A key evicted or deleted (a removed number's too): check() restores it
            from the allocator's view."""
            e164 = model.NUMBERS[index].e164
            raw = redis.Redis.from_url(redis_server.url)
            raw.delete(f"{{{self.space}}}:n:{e164}")
            findings = self.allocator.check()
            assert findings and all(f.repaired for f in findings), findings

    run_state_machine_as_test(
        RedisMachine, settings=settings(max_examples=150, stateful_step_count=50, deadline=None)
    )


def test_server_clock_is_the_default_and_leases_expire_on_it(redis_server):
    number = twilio(0)
    backend = RedisBackend(redis_server.url, namespace=namespace())
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend, lease_ttl=0.3)
    lease = allocator.acquire("t", us(1))
    server_now = redis.Redis.from_url(redis_server.url).time()
    assert abs(lease.expires_at - (server_now[0] + server_now[1] / 1e6 + 0.3)) < 0.1
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", us(2))
    time.sleep(0.4)
    assert allocator.acquire("t", us(2)).number == number.e164
    assert allocator.snapshot().counters["expired"] == 1
    backend.close()


def test_numsim_exports_the_redis_backend():
    assert numsim.RedisBackend is RedisBackend
    with pytest.raises(ValueError, match="namespace"):
        RedisBackend("redis://127.0.0.1:1/0", namespace="{bad}")
    with pytest.raises(ValueError, match="clock"):
        RedisBackend("redis://127.0.0.1:1/0", clock="sundial")


def test_many_processes_hammer_one_scarce_pool(redis_server):
    """8 processes, 100 granted calls each among many refused tries; the audit stream
    (written atomically with every change) is checked independently: capacity, hourly
    caps, all free."""
    space = namespace()
    RedisBackend(redis_server.url, namespace=space)  # nothing configured yet: workers do it
    workers = [
        subprocess.Popen(
            [sys.executable, WORKER, "hammer", redis_server.url, space, "100", str(seed)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(8)
    ]
    granted = sum(json.loads(w.communicate(timeout=300)[0])["granted"] for w in workers)
    assert all(w.returncode == 0 for w in workers)
    time.sleep(0.1)  # let the last unreleased leases pass their 50 ms TTL
    checker = numsim.Allocator(  # the workers' policy: a namespace has one
        POOL,
        TEMPLATES,
        backend=RedisBackend(redis_server.url, namespace=space, audit=True),
        lease_ttl=0.05,
    )
    assert all(checker.in_use(n.e164) == 0 for n in POOL)  # every channel free at the end
    log = checker.backend.audit_log()
    capacity = {n.e164: n.capacity for n in POOL}
    caps = {n.e164: n.max_calls_per_hour for n in POOL}
    busy = defaultdict(int)
    starts = defaultdict(list)
    live = set()
    for entry in log:  # stream order is execution order: Redis runs one script at a time
        number, lease = entry["number"], entry["lease"]
        if entry["op"] == "acquire":
            busy[number] += 1
            assert busy[number] <= capacity[number], entry
            assert lease not in live
            live.add(lease)
            starts[number].append(int(entry["t"]))
        else:
            busy[number] -= 1
            live.remove(lease)  # each lease ends exactly once
    assert not live and all(v == 0 for v in busy.values())
    assert sum(len(times) for times in starts.values()) == granted > 500
    for number, times in starts.items():
        if caps[number]:
            first = 0
            for last, t in enumerate(times):
                while times[first] + HOUR_US <= t:
                    first += 1
                assert last - first + 1 <= caps[number]
    assert len(starts["+14155550101"]) == 40  # the capped number hit its cap exactly
    assert {"expired", "released"} <= {e["op"] for e in log}


def test_a_killed_worker_leaks_nothing_beyond_its_ttl(redis_server):
    space = namespace()
    worker = subprocess.Popen(
        [sys.executable, WORKER, "hold", redis_server.url, space, "3", "2.0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    held = json.loads(worker.stdout.readline())
    killed_at = time.monotonic()
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    watcher = numsim.Allocator(  # the worker's policy: a namespace has one
        POOL,
        TEMPLATES,
        backend=RedisBackend(redis_server.url, namespace=space, audit=True),
        lease_ttl=2.0,
    )
    assert sum(watcher.in_use(e) for e in set(held)) == 3
    time.sleep(max(0.0, 1.5 - (time.monotonic() - killed_at)))
    assert sum(watcher.in_use(e) for e in set(held)) == 3  # not before the TTL
    time.sleep(max(0.0, 2.6 - (time.monotonic() - killed_at)))
    assert sum(watcher.in_use(e) for e in set(held)) == 0  # and back after it
    watcher.backend.close()


def test_a_redis_restart_is_survived(redis_server, tmp_path):
    server = RedisServer(directory=tmp_path)  # its own: this test stops it
    server.start()
    number = twilio(0)
    backend = RedisBackend(server.url, namespace=namespace())
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    lease = allocator.acquire("t", us(1))
    server.stop()
    with pytest.raises(BackendUnavailable, match="unreachable"):
        allocator.acquire("t", us(2))
    with pytest.raises(BackendUnavailable):
        allocator.release(lease)
    server.start()  # no persistence: the namespace comes back empty
    again = allocator.acquire("t", us(3))  # the pool is restored by the allocator itself
    assert again.number == number.e164
    assert allocator.release(again) is True
    assert allocator.release(lease) is False  # forgotten by the restart, as documented
    backend.close()
    server.stop()


def test_an_acquire_whose_reply_was_lost_is_given_back(redis_server, monkeypatch):
    number = twilio(0)
    backend = RedisBackend(redis_server.url, namespace=namespace())
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    script = backend._functions["acquire"]

    class LostReply:
        def __call__(self, keys, args):
            script(keys=keys, args=args)  # it ran on the server...
            raise redis.exceptions.ConnectionError("connection reset")  # ...the reply is lost

    monkeypatch.setitem(backend._functions, "acquire", LostReply())
    with pytest.raises(BackendUnavailable):
        allocator.acquire("t", us(1))
    monkeypatch.setitem(backend._functions, "acquire", script)
    assert allocator.in_use(number.e164) == 0  # the next call gave the orphan back
    assert allocator.acquire("t", us(2)).number == number.e164
    backend.close()


def test_idle_keys_expire_and_memory_follows_live_calls(redis_server):
    space = namespace()
    client = redis.Redis.from_url(redis_server.url)
    backend = RedisBackend(client, namespace=space, clock="client", max_clock_skew=None)
    clock = numsim.ManualClock(1_800_000_000)
    numbers = [twilio(i) for i in range(3)]
    allocator = numsim.Allocator(
        numbers,
        {"t": pool(*numbers)},
        backend=backend,
        clock=clock,
        destination_limit=numsim.DestinationLimit(1, 60),
    )
    for i in range(50):
        allocator.release(allocator.acquire("t", us(i)))
    keys = {k.decode() for k in client.keys(f"{{{space}}}:*")}
    assert all(client.pttl(k) > 0 for k in keys if ":dst:" in k or ":h:" in k)
    assert client.hlen(f"{{{space}}}:l") == 0
    assert client.zcount(f"{{{space}}}:leases", 0, "+inf") == 0  # no live lease: ended ones
    assert client.zcard(f"{{{space}}}:leases") == 50  # are remembered for a while (below 0)
    assert all(k.startswith(f"{{{space}}}:") for k in keys)  # one hash tag: one cluster slot
    backend.close()


def test_waiters_in_another_process_are_woken_by_a_release(redis_server):
    space = namespace()
    number = twilio(0)
    holder = numsim.Allocator(
        [number], {"t": pool(number)}, backend=RedisBackend(redis_server.url, namespace=space)
    )
    waiter_backend = RedisBackend(redis_server.url, namespace=space)
    waiter_backend.wake_interval = 30.0  # only pub/sub can wake it in time
    waiter = numsim.Allocator([number], {"t": pool(number)}, backend=waiter_backend)
    lease = holder.acquire("t", us(1))
    result = {}

    def wait():
        started = time.monotonic()
        result["lease"] = waiter.acquire("t", us(2), timeout=20)
        result["took"] = time.monotonic() - started

    import threading

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    holder.release(lease)  # another allocator: the wake-up crosses Redis
    thread.join(10)
    assert result["lease"].number == number.e164 and result["took"] < 5
    holder.backend.close()
    waiter_backend.close()


def _freed_messages(pubsub):
    """The messages published on the freed channel since the last read."""
    messages, until = [], time.monotonic() + 0.3
    while time.monotonic() < until:  # None also stands for a subscribe confirmation
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            messages.append(message)
    return messages


def _listened(redis_server):
    """A namespace with one allocator (one Twilio number), and a subscriber to its
    freed channel."""
    space = namespace()
    client = redis.Redis.from_url(redis_server.url)
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(f"{{{space}}}:freed")
    number = twilio(0)
    backend = RedisBackend(redis_server.url, namespace=space)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    return space, client, listener, allocator


def test_a_release_is_published_only_while_some_process_waits(redis_server):
    space, client, listener, allocator = _listened(redis_server)
    number, backend = twilio(0), allocator.backend
    allocator.release(allocator.acquire("t", us(1)))
    assert _freed_messages(listener) == []  # nobody waits: no wake-up storm

    waiter_backend = RedisBackend(redis_server.url, namespace=space)
    waiter = numsim.Allocator([number], {"t": pool(number)}, backend=waiter_backend)
    waiter.release(waiter.acquire("t", us(2), timeout=30))  # served at once: no mark
    assert client.zcard(f"{{{space}}}:waiters") == 0
    lease = allocator.acquire("t", us(1))
    request = waiter.request("t", us(2), timeout=30)  # waits: marks its process
    assert client.zcard(f"{{{space}}}:waiters") == 1
    allocator.release(lease)
    assert len(_freed_messages(listener)) == 1
    assert request.result().number == number.e164
    waiter.release(request.result())
    assert len(_freed_messages(listener)) == 1  # still marked: it may wait again soon

    waiter_backend.close()  # a clean exit takes its mark off
    assert client.zcard(f"{{{space}}}:waiters") == 0
    allocator.release(allocator.acquire("t", us(3)))
    assert _freed_messages(listener) == []
    backend.close()


def test_the_waiting_mark_of_a_crashed_process_runs_out(redis_server):
    space, client, listener, allocator = _listened(redis_server)
    backend = allocator.backend
    crashed = RedisBackend(redis_server.url, namespace=space)
    crashed.expect_frees(time.time(), lambda: True)  # and never takes it off
    allocator.release(allocator.acquire("t", us(1)))
    assert len(_freed_messages(listener)) == 1
    seconds, micros = client.time()
    past = (seconds - 1) * 1_000_000 + micros  # as if its mark's time ran out
    client.zadd(f"{{{space}}}:waiters", {crashed._token: past})
    client.hset(f"{{{space}}}:cfg", "wake", past)
    allocator.release(allocator.acquire("t", us(2)))
    assert _freed_messages(listener) == []
    backend.close()


def test_aacquire_uses_the_asyncio_client(redis_server):
    number = twilio(0)
    backend = RedisBackend(redis_server.url, namespace=namespace())
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    calls = []
    original = backend.aacquire

    async def counting(*args, **kwargs):
        calls.append(1)
        return await original(*args, **kwargs)

    backend.aacquire = counting

    async def main():
        lease = await allocator.aacquire("t", us(1))
        with pytest.raises(NoNumberAvailable):
            await allocator.aacquire("t", us(2))
        waiting = asyncio.create_task(allocator.aacquire("t", us(3), timeout=10))
        await asyncio.sleep(0.2)
        assert await allocator.arelease(lease)
        return await asyncio.wait_for(waiting, 10)

    got = asyncio.run(main())
    assert got.number == number.e164 and len(calls) == 2  # the waiting one queued
    backend.close()


def test_leases_expire_on_time_although_most_scripts_skip_the_reclaim_scan(redis_server):
    clock = numsim.ManualClock(1_800_000_000)
    backend = RedisBackend(
        redis_server.url, namespace=namespace(), clock="client", max_clock_skew=None
    )
    numbers = [twilio(0), twilio(1), twilio(2)]
    allocator = numsim.Allocator(
        numbers, {"t": pool(*numbers)}, backend=backend, clock=clock, lease_ttl=100
    )
    long = allocator.acquire("t", us(1))  # due: its expiry, 100 s away
    short = allocator.acquire("t", us(2))
    assert allocator.renew(short, ttl=1)  # a renewal can bring the next expiry closer
    late = allocator.acquire("t", us(3), ttl=50)
    clock.advance(2)
    assert allocator.in_use(short.number) == 0
    assert allocator.in_use(long.number) == allocator.in_use(late.number) == 1
    clock.advance(49)
    assert allocator.in_use(late.number) == 0 and allocator.in_use(long.number) == 1
    clock.advance(50)
    assert allocator.in_use(long.number) == 0
    assert allocator.snapshot().counters["expired"] == 3
    backend.close()


def _calls(client, command):
    """How many times the server ran `command`, scripts' own calls included."""
    return client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def test_call_windows_and_ended_lease_ids_are_pruned_in_batches_not_on_every_call(redis_server):
    space, client = namespace(), redis.Redis.from_url(redis_server.url)
    clock = numsim.ManualClock(1_800_000_000)
    backend = RedisBackend(client, namespace=space, clock="client", max_clock_skew=None)
    number = twilio(0)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend, clock=clock)
    window, leases = f"{{{space}}}:h:{number.e164}", f"{{{space}}}:leases"
    before = _calls(client, "zremrangebyscore")
    for i in range(10):
        allocator.release(allocator.acquire("t", us(i)))
        clock.advance(0.001)
    # the first acquire pruned the window, the first release the ended ids: nothing since
    assert _calls(client, "zremrangebyscore") - before == 2
    assert client.zcard(window) == 10 and client.zcount(leases, "-inf", "(0") == 10
    assert client.pttl(window) > 3600 * 1000  # the window outlives its entries
    clock.advance(3600)  # every entry stopped counting; the next prune drops them
    allocator.release(allocator.acquire("t", us(11)))
    assert client.zcard(window) == 1 and client.zcount(leases, "-inf", "(0") == 1
    assert client.pttl(window) > 3600 * 1000
    backend.close()


def test_a_number_given_a_daily_cap_gets_a_daily_window_that_expires(redis_server):
    space, client = namespace(), redis.Redis.from_url(redis_server.url)
    number = twilio(0)
    allocator = numsim.Allocator(
        [number], {"t": pool(number)}, backend=RedisBackend(client, namespace=space)
    )
    allocator.release(allocator.acquire("t", us(1)))  # pruned now, without a daily window
    allocator.remove_number(number.e164)
    allocator.add_number(twilio(0, max_calls_per_day=100), templates=["t"])
    allocator.release(allocator.acquire("t", us(2)))  # within the minute
    assert client.pttl(f"{{{space}}}:d:{number.e164}") > 86_400 * 1000
    allocator.close()


def test_on_a_client_clock_every_call_renews_its_windows_ttl(redis_server):
    """A client clock slower than the server's: the window's TTL (server time) must not
    run out under calls that still count."""
    space, client = namespace(), redis.Redis.from_url(redis_server.url)
    clock = numsim.ManualClock(1_800_000_000)
    backend = RedisBackend(client, namespace=space, clock="client", max_clock_skew=None)
    number = twilio(0, max_calls_per_hour=3)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend, clock=clock)
    allocator.release(allocator.acquire("t", us(1)))
    window = f"{{{space}}}:h:{number.e164}"
    client.pexpire(window, 3000)  # as if an hour of server time had nearly passed
    clock.advance(10)
    allocator.release(allocator.acquire("t", us(2)))
    assert client.pttl(window) > 3600 * 1000
    allocator.close()


def test_client_clocks_a_little_apart_do_not_prune_on_every_release(redis_server):
    space, client = namespace(), redis.Redis.from_url(redis_server.url)
    clocks = [numsim.ManualClock(1_800_000_000), numsim.ManualClock(1_800_000_000.5)]
    number = twilio(0)
    allocators = [
        numsim.Allocator(
            [number],
            {"t": pool(number)},
            backend=RedisBackend(client, namespace=space, clock="client", max_clock_skew=None),
            clock=clock,
        )
        for clock in clocks
    ]
    before = _calls(client, "zremrangebyscore")
    for i in range(50):
        for allocator in allocators:
            allocator.release(allocator.acquire("t", us(i)))
        for clock in clocks:
            clock.advance(0.001)
    assert _calls(client, "zremrangebyscore") - before <= 4
    for allocator in allocators:
        allocator.close()


def test_reading_every_number_never_holds_redis_for_the_whole_pool(redis_server, monkeypatch):
    """One Redis function over every number blocks Redis for all of it (100,000 numbers:
    ~1.2 s, and another worker's acquire waited 0.63 s). A full read is made of calls
    over at most READ_CHUNK numbers each, and gives what one call gave."""
    from numsim.allocator import redis as redis_module

    monkeypatch.setattr(redis_module, "READ_CHUNK", 3)
    numbers = [twilio(i) for i in range(10)]
    backend = RedisBackend(redis_server.url, namespace=namespace())
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)
    for i in range(4):
        allocator.acquire("t", us(i))
    calls = []
    call = backend._call

    def counted(function, *args):
        calls.append((function, args))
        return call(function, *args)

    monkeypatch.setattr(backend, "_call", counted)
    now = time.time()
    everything = backend.numbers(now)
    read = [len(args) - 1 for function, args in calls if function == "numbers"]
    assert read == [0, 3, 3, 3, 1]  # none (restores a lost namespace), then 3 at a time
    assert everything == backend.numbers(now, [n.e164 for n in numbers])
    assert sorted(everything) == sorted(n.e164 for n in numbers)
    assert sum(state.in_use for state in everything.values()) == 4
    backend.close()


def test_a_refusal_itemizes_a_sample_of_a_big_pool(redis_server):
    """Itemizing every number of a fully busy pool held Redis 63 ms per refused call at
    10,000 numbers: a refusal names at most EXPLAIN_LIMIT of them, all really busy; a
    pool that small or smaller is itemized whole, as in memory."""
    from numsim.allocator.protocol import EXPLAIN_LIMIT

    numbers = [twilio(i) for i in range(EXPLAIN_LIMIT + 20)]
    backend = RedisBackend(redis_server.url, namespace=namespace())
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)
    for i in range(len(numbers)):
        allocator.try_grant("t", us(i % 50))
    refused = allocator.try_acquire("t", us(0), explain=True)
    assert refused.reason == "busy" and len(refused.reasons) == EXPLAIN_LIMIT
    assert f"(a sample of {EXPLAIN_LIMIT} of its {len(numbers)} numbers: " in str(refused)
    assert set(refused.reasons) <= {n.e164 for n in numbers}
    assert set(refused.reasons.values()) == {"busy"}
    small = numbers[:3]
    allocator.assign("small", [n.e164 for n in small])
    whole = allocator.try_acquire("small", us(0), explain=True)
    assert set(whole.reasons) == {n.e164 for n in small} and "(3 busy)" in str(whole)
    backend.close()


def test_reading_every_number_through_a_restart(tmp_path):
    """The chunked read of every number: Redis down is BackendUnavailable (a 503 over
    HTTP, not a 500), and after a restart that lost everything it restores the namespace
    and reads every number, as any other call does."""
    server = RedisServer(directory=tmp_path)  # its own: this test stops it
    server.start()
    numbers = [twilio(i) for i in range(5)]
    backend = RedisBackend(server.url, namespace=namespace())
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)
    assert len(allocator.states()[1]) == 5
    server.stop()
    with pytest.raises(BackendUnavailable, match="unreachable"):
        allocator.states()
    server.start()  # no persistence: the namespace comes back empty
    assert sorted(allocator.states()[1]) == sorted(n.e164 for n in numbers)
    backend.close()
    server.stop()
