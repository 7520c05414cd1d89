"""Failover to a replica, on a real primary and a real replica (--replicaof): what an
asynchronous replica loses, and RedisBackend(replicas=N), which waits (WAIT) until N
replicas have each acquire, release and renewal."""

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

import numsim
from conftest import pool, twilio, us
from numsim import BackendUnavailable, NoNumberAvailable
from numsim.allocator.redis import RedisBackend
from numsim.testing import RedisServer

pytestmark = pytest.mark.redis

NUMBER = twilio(0)


@pytest.fixture
def primary(redis_server):  # redis_server: skips where no redis-server runs
    with RedisServer.started() as server:
        yield server


def allocator_on(url, namespace, **options):
    backend = RedisBackend(url, namespace=namespace, **options)
    return numsim.Allocator([NUMBER], {"t": pool(NUMBER)}, backend=backend)


def run(coroutine_function):
    return lambda *args: asyncio.run(coroutine_function(*args))


def replicated(primary):
    """Wait until the replica has every write the primary made so far."""
    client = redis.Redis.from_url(primary.url)
    client.set("replicated", 1)  # WAIT counts from this connection's last write
    assert client.wait(1, 5000) == 1
    client.close()


def fail_over(primary, replica, namespace):
    """The primary crashes; the replica, cut off from it, becomes the primary: an
    allocator on it."""
    primary.kill()
    return allocator_on(replica.url, namespace)


def test_without_replicas_a_failover_to_a_lagging_replica_loses_a_lease(primary):
    space = f"t-{uuid.uuid4().hex}"
    with primary.replica() as replica:
        allocator = allocator_on(primary.url, space)
        replicated(primary)  # the replica has the pool
        replica.promote()  # cut off: it lags from here on
        lease = allocator.acquire("t", us(1))  # the primary still serves
        survivor = fail_over(primary, replica, space)
        assert survivor.in_use(lease.number) == 0  # the call goes on, its channel is free
        assert survivor.acquire("t", us(2)).number == lease.number  # handed out again
        survivor.close()
        allocator.close()


@pytest.mark.parametrize("front", ["sync", "async"])
def test_with_replicas_a_lease_survives_a_failover(primary, front):
    space = f"t-{uuid.uuid4().hex}"
    with primary.replica() as replica:
        allocator = allocator_on(primary.url, space, replicas=1, replica_timeout=4.0)
        acquire = allocator.acquire if front == "sync" else run(allocator.aacquire)
        with ThreadPoolExecutor(1) as pool_:
            with replica.stalled():
                lease = pool_.submit(acquire, "t", us(1))
                time.sleep(0.5)
                assert not lease.done()  # it waits for the replica
            lease = lease.result(timeout=10)
        replica.promote()  # cut off: whatever it had not received by now is lost
        survivor = fail_over(primary, replica, space)
        assert survivor.in_use(lease.number) == 1
        assert isinstance(survivor.try_acquire("t", us(2)), NoNumberAvailable)
        assert survivor.release(lease) and survivor.in_use(lease.number) == 0
        survivor.close()


@pytest.mark.parametrize("front", ["sync", "async"])
def test_an_acquire_the_replicas_do_not_acknowledge_raises_and_is_given_back(primary, front):
    space = f"t-{uuid.uuid4().hex}"
    with primary.replica() as replica:
        allocator = allocator_on(primary.url, space, replicas=1, replica_timeout=1.0)
        acquire = allocator.acquire if front == "sync" else run(allocator.aacquire)
        with replica.stalled(), pytest.raises(BackendUnavailable, match="only 0 of the 1"):
            acquire("t", us(1))
        replicated(primary)  # the replica caught up
        assert allocator.in_use(NUMBER.e164) == 0  # given back at the next call
        lease = allocator.acquire("t", us(2))
        with replica.stalled():  # a release or renewal took effect, but is not replicated
            with pytest.raises(BackendUnavailable, match="renew"):
                allocator.renew(lease)
            with pytest.raises(BackendUnavailable, match="release"):
                allocator.release(lease)
        replicated(primary)
        assert allocator.in_use(NUMBER.e164) == 0
        assert not allocator.release(lease)  # a retry is harmless
        allocator.close()


def test_replicas_on_a_cluster_wait_on_the_slots_node(redis_cluster):
    space = f"t-{uuid.uuid4().hex}"
    allocator = allocator_on(redis_cluster.url, space, replicas=1, replica_timeout=0.1)
    with pytest.raises(BackendUnavailable, match="only 0 of the 1 replicas"):
        allocator.acquire("t", us(1))  # the test cluster has no replicas
    allocator.close()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"replicas": -1}, "replicas"),
        ({"replicas": 1.5}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({"replica_timeout": 0}, "replica_timeout"),
        ({"replica_timeout": float("inf")}, "replica_timeout"),
    ],
)
def test_bad_replica_settings_are_refused(options, problem):
    with pytest.raises(ValueError, match=problem):
        RedisBackend("redis://127.0.0.1:1", **options)


def test_numsim_serve_waits_for_replicas_and_answers_503_without_them(primary, tmp_path):
    from test_service_process import AUTH, SAMPLE, serve

    options = ("--redis", primary.url, "--namespace", f"svc-{uuid.uuid4().hex}")
    options += ("--replicas", "1", "--replica-timeout", "2")  # loaded CI hosts lag
    with primary.replica() as replica, serve(tmp_path / "numbers.db", *options) as url:
        http = httpx.Client(base_url=url, headers=AUTH)
        csv = {"Content-Type": "text/csv"}
        assert http.post("/numbers/import", content=SAMPLE.read_bytes(), headers=csv).json()["ok"]
        body = {"template": "us-appointments", "destination": us(1)}
        lease = http.post("/allocations", json=body)
        assert lease.status_code == 201
        with replica.stalled():
            refused = http.post("/allocations", json={**body, "destination": us(2)})
        assert refused.status_code == 503 and "replicas" in refused.text
        http.close()


def test_numsim_serve_refuses_a_negative_replica_count(tmp_path, capsys, monkeypatch):
    from numsim.cli import main

    monkeypatch.setenv("NUMSIM_API_TOKEN", "t" * 32)
    db = str(tmp_path / "numbers.db")
    code = main(["serve", "--db", db, "--redis", "redis://127.0.0.1:1", "--replicas", "-1"])
    err = capsys.readouterr().err
    assert code == 1 and "replicas must be a whole number >= 0, got -1" in err
    assert "Traceback" not in err
