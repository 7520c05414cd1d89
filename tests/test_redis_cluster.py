"""RedisBackend on a real Redis Cluster of 3 masters on loopback: every namespace works
whichever master serves its slot, through a URL or a client, sync and async, and so do
the function library's loads, `numsim check`, `numsim serve`, the call map and pacer."""

import asyncio
import threading
import time
import uuid

import httpx
import pytest
import redis
import redis.asyncio.cluster
from redis.cluster import RedisCluster

import numsim
from conftest import pool, twilio, us
from numsim.allocator.redis import _LIBRARY, RedisBackend
from numsim.cli import main
from numsim.providers import RedisPacer
from numsim.testing import RedisServerCluster, free_port
from test_service_process import AUTH, SAMPLE, serve

pytestmark = pytest.mark.redis


def run_async(coroutine_function):
    """A coroutine function, called synchronously (on an event loop of its own)."""
    return lambda *args: asyncio.run(coroutine_function(*args))


def client_of(cluster):
    return RedisCluster.from_url(f"redis://127.0.0.1:{cluster.nodes[0].port}")


def spread_namespaces(cluster):
    """Three fresh namespaces, each served by another master (the test is about 'any
    namespace', so one per master)."""
    client = client_of(cluster)
    found = {}
    prefix = uuid.uuid4().hex[:8]
    for i in range(1000):
        name = f"c-{prefix}-{i}"
        found.setdefault(client.get_node_from_key(f"{{{name}}}:cfg").name, name)
        if len(found) == 3:
            client.close()
            return list(found.values())
    raise AssertionError("no namespace found for some master")


def allocator_on(backend, count=1):
    numbers = [twilio(i) for i in range(count)]
    return numsim.Allocator(numbers, {"t": pool(*numbers)}, backend=backend)


def exercise(allocator):
    """Acquire, refuse, renew, release, read and check: the namespace works."""
    acquired = allocator.snapshot().counters["acquired"]
    lease = allocator.acquire("t", us(1))
    assert isinstance(allocator.try_acquire("t", us(2)), numsim.NoNumberAvailable)
    assert allocator.renew(lease)
    assert allocator.in_use(lease.number) == 1
    assert allocator.release(lease) and allocator.in_use(lease.number) == 0
    assert allocator.snapshot().counters["acquired"] == acquired + 1
    assert allocator.check() == []


def test_a_plain_url_to_one_node_names_the_cluster_url(redis_cluster):
    client = client_of(redis_cluster)
    elsewhere = [
        name
        for name in spread_namespaces(redis_cluster)
        if client.get_node_from_key(f"{{{name}}}:cfg").port != redis_cluster.nodes[0].port
    ]
    client.close()
    backend = RedisBackend(redis_cluster.nodes[0].url, namespace=elsewhere[0])
    with pytest.raises(numsim.BackendMisconfigured, match=r"redis\+cluster://host:port"):
        allocator_on(backend)
    backend.close()


@pytest.mark.parametrize("form", ["url", "client"])
def test_every_namespace_works_whichever_master_serves_it(redis_cluster, form):
    for name in spread_namespaces(redis_cluster):
        source = redis_cluster.url if form == "url" else client_of(redis_cluster)
        backend = RedisBackend(source, namespace=name)
        allocator = allocator_on(backend)
        exercise(allocator)
        allocator.close()


def test_a_url_names_several_seed_nodes_and_the_first_may_be_down(redis_cluster):
    ports = [node.port for node in redis_cluster.nodes]
    url = f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{ports[1]}"
    for name in spread_namespaces(redis_cluster):
        allocator = allocator_on(RedisBackend(url, namespace=name))
        exercise(allocator)
        allocator.close()


def test_a_bad_cluster_url_is_refused_with_the_forms_that_work():
    with pytest.raises(ValueError, match=r"redis\+cluster://"):
        RedisBackend("cluster://127.0.0.1:7000")
    with pytest.raises(ValueError, match="host:port"):
        RedisBackend("redis+cluster://127.0.0.1:7000,nowhere")
    with pytest.raises(ValueError, match="database"):
        RedisBackend("redis+cluster://127.0.0.1:7000/3")
    with pytest.raises(ValueError, match="got http://") as refused:
        RedisBackend("http://user:secret@127.0.0.1:7000")
    assert "secret" not in str(refused.value)


def test_a_cluster_no_node_of_which_answers_is_unavailable(capsys):
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    with pytest.raises(numsim.BackendUnavailable, match="no node of the Redis Cluster"):
        RedisBackend(url)
    assert main(["check", "--redis", url]) == 1
    assert "no node of the Redis Cluster answers" in capsys.readouterr().err


@pytest.mark.parametrize("form", ["url", "client"])
def test_async_operations_work_on_every_master(redis_cluster, form):
    async def run(name):
        if form == "url":
            backend = RedisBackend(redis_cluster.url, namespace=name)
        else:
            seed = f"redis://127.0.0.1:{redis_cluster.nodes[0].port}"
            backend = RedisBackend(
                client_of(redis_cluster),
                namespace=name,
                async_client=redis.asyncio.cluster.RedisCluster.from_url(seed),
            )
        allocator = allocator_on(backend)
        lease = await allocator.aacquire("t", us(1))
        with pytest.raises(numsim.NoNumberAvailable):
            await allocator.aacquire("t", us(2))
        assert await allocator.arenew(lease)
        waiting = asyncio.create_task(allocator.aacquire("t", us(3), timeout=10))
        await asyncio.sleep(0.2)
        assert await allocator.arelease(lease)
        second = await asyncio.wait_for(waiting, 10)
        assert second.number == lease.number
        assert await allocator.arelease(second)
        await allocator.aclose()

    for name in spread_namespaces(redis_cluster):
        asyncio.run(run(name))


def test_async_operations_without_an_async_client_name_the_fix(redis_cluster):
    name = spread_namespaces(redis_cluster)[0]
    allocator = allocator_on(RedisBackend(client_of(redis_cluster), namespace=name))
    with pytest.raises(numsim.BackendMisconfigured, match=r"redis\.asyncio\.cluster"):
        asyncio.run(allocator.aacquire("t", us(1)))
    allocator.close()


def library_on(cluster):
    """Whether each master has numsim's function library."""
    found = []
    for node in cluster.nodes:
        client = redis.Redis(port=node.port)
        found.append(bool(client.function_list(library=_LIBRARY.name)))
        client.close()
    return found


def test_the_library_is_loaded_on_every_master_though_one_has_it():
    # A cluster of its own: the test empties the masters' libraries.
    with RedisServerCluster.started() as cluster:
        client = client_of(cluster)
        first = client.get_primaries()[0]  # redis-py loads on this one first
        redis.Redis(port=first.port).function_load(_LIBRARY.source)
        assert library_on(cluster).count(True) == 1
        names = spread_namespaces(cluster)
        for name in names:
            exercise(allocator_on(RedisBackend(client, namespace=name)))
        assert library_on(cluster) == [True, True, True]

        # FUNCTION FLUSH on every master: each reloads it, sync and async alike.
        for node in cluster.nodes:
            redis.Redis(port=node.port).function_flush()
        for name in names:
            allocator = allocator_on(RedisBackend(cluster.url, namespace=name))
            exercise(allocator)
            for node in cluster.nodes:
                redis.Redis(port=node.port).function_flush()

            async def twice(allocator=allocator):
                await allocator.arelease(await allocator.aacquire("t", us(1)))
                for node in cluster.nodes:
                    redis.Redis(port=node.port).function_flush()
                await allocator.arelease(await allocator.aacquire("t", us(2)))
                await allocator.aclose()

            asyncio.run(twice())


def test_a_restarted_master_comes_back_empty_and_is_restored():
    with RedisServerCluster.started() as cluster:
        names = spread_namespaces(cluster)
        allocators = [allocator_on(RedisBackend(cluster.url, namespace=n), 2) for n in names]
        leases = [a.acquire("t", us(1)) for a in allocators]
        for node in cluster.nodes:  # each master in turn loses its data and library
            node.stop()
            node.start()
        cluster.wait_ready()  # each process's listener may restore its namespace first
        for i, (allocator, lease) in enumerate(zip(allocators, leases, strict=True)):
            acquire = allocator.acquire if i else run_async(allocator.aacquire)
            deadline = time.monotonic() + 30  # the clients learn the node is back
            while True:
                try:
                    taken = acquire("t", us(2))
                    break
                except numsim.BackendUnavailable:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            assert allocator.in_use(taken.number) == 1  # pools restored, leases forgotten
            allocator.release(lease)
            allocator.release(taken)
            allocator.close()
        assert library_on(cluster) == [True, True, True]


def test_numsim_check_takes_a_cluster_url(redis_cluster, capsys):
    for name in spread_namespaces(redis_cluster):
        allocator = allocator_on(RedisBackend(redis_cluster.url, namespace=name))
        allocator.acquire("t", us(1))
        assert main(["check", "--redis", redis_cluster.url, "--namespace", name]) == 0
        assert f"namespace {name}: healthy" in capsys.readouterr().out
        allocator.close()
    plain = ["check", "--redis", redis_cluster.nodes[0].url, "--namespace"]
    outcomes = {main([*plain, name]) for name in spread_namespaces(redis_cluster)}
    assert outcomes == {1}  # empty namespaces: "no configuration", or the cluster URL
    assert "redis+cluster://" in capsys.readouterr().err


def test_numsim_serve_takes_a_cluster_url(redis_cluster, tmp_path):
    for name in spread_namespaces(redis_cluster):
        db = tmp_path / f"{name}.db"
        options = ("--redis", redis_cluster.url, "--namespace", name)
        with serve(db, *options) as url, httpx.Client(base_url=url, headers=AUTH) as http:
            imported = http.post(
                "/numbers/import",
                content=SAMPLE.read_bytes(),
                headers={"Content-Type": "text/csv"},
            )
            assert imported.json()["ok"]
            body = {"template": "us-appointments", "destination": us(1)}
            lease = http.post("/allocations", json=body)
            assert lease.status_code == 201
            ready = http.get("/readyz")  # degraded: the sample's credentials are not set here
            assert ready.status_code == 200 and ready.json()["backend"] == "ok"
            assert http.delete(f"/allocations/{lease.json()['lease_id']}").json()["released"]


def test_a_release_wakes_a_waiter_in_another_process_on_a_cluster(redis_cluster):
    for name in spread_namespaces(redis_cluster):
        holder = allocator_on(RedisBackend(redis_cluster.url, namespace=name))
        waiter_backend = RedisBackend(redis_cluster.url, namespace=name)
        waiter_backend.wake_interval = 30.0  # only pub/sub can wake it in time
        waiter = allocator_on(waiter_backend)
        lease = holder.acquire("t", us(1))
        result = {}

        def wait(waiter=waiter, result=result):
            started = time.monotonic()
            result["lease"] = waiter.acquire("t", us(2), timeout=20)
            result["took"] = time.monotonic() - started

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.3)
        holder.release(lease)
        thread.join(10)
        assert result["lease"].number == lease.number and result["took"] < 5
        holder.close()
        waiter.close()


def test_the_call_map_and_the_pacer_work_on_every_master(redis_cluster):
    client = client_of(redis_cluster)
    for name in spread_namespaces(redis_cluster):
        calls = RedisBackend(client, namespace=name).call_map()
        calls.put("CA1", {"lease": "l1"}, ttl=60, now=0)
        assert calls.update("CA1", {"number": "+14155550000"}, now=0)
        assert calls.get("CA1", now=0) == {"lease": "l1", "number": "+14155550000"}
        assert dict(calls.items(now=0)) == {"CA1": {"lease": "l1", "number": "+14155550000"}}
        assert calls.pop("CA1", now=0) == {"lease": "l1", "number": "+14155550000"}
        assert not calls.update("CA1", {"x": "y"}, now=0)
        pacer = RedisPacer(client, name)
        assert pacer.reserve("AC1", 1.0) == 0
        assert 0.9 < pacer.reserve("AC1", 1.0) <= 1.0
        pacer.hold("AC2", 5.0)
        assert 4.9 < pacer.reserve("AC2", 1.0) <= 5.0


def getkeys_calls(cluster):
    total = 0
    for node in cluster.nodes:
        client = redis.Redis(port=node.port)
        total += client.info("commandstats").get("cmdstat_command|getkeys", {}).get("calls", 0)
        client.close()
    return total


@pytest.mark.parametrize("form", ["sync", "async"])
def test_a_call_is_one_round_trip_to_the_slots_node(redis_cluster, form):
    """redis-py asks a node for an FCALL's keys (COMMAND GETKEYS) before sending it,
    unless told the node: that doubled the cost of every call."""
    name = spread_namespaces(redis_cluster)[0]
    allocator = allocator_on(RedisBackend(redis_cluster.url, namespace=name))
    allocator.release(allocator.acquire("t", us(1)))

    async def cycles():
        for i in range(20):
            await allocator.arelease(await allocator.aacquire("t", us(i)))

    before = getkeys_calls(redis_cluster)
    for i in range(20):
        if form == "sync":
            allocator.release(allocator.acquire("t", us(i)))
    if form == "async":
        asyncio.run(cycles())
    assert getkeys_calls(redis_cluster) == before
    allocator.close()


def test_a_master_that_may_evict_is_refused_whichever_it_is(redis_cluster):
    name = spread_namespaces(redis_cluster)[0]
    for node in redis_cluster.nodes:
        client = redis.Redis(port=node.port)
        client.config_set("maxmemory-policy", "allkeys-lru")
        try:
            with pytest.raises(numsim.BackendMisconfigured, match="allkeys-lru"):
                allocator_on(RedisBackend(redis_cluster.url, namespace=name))
        finally:
            client.config_set("maxmemory-policy", "noeviction")
            client.close()
