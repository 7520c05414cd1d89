"""Pacing: slots per account, shared by threads (memory) and by workers (Redis)."""

import threading
import uuid

import pytest

from numsim import ManualClock
from numsim.providers import MemoryPacer, RedisPacer


def test_slots_are_spaced_per_key():
    clock = ManualClock(0.0)
    pacer = MemoryPacer(clock=clock)
    assert [pacer.reserve("twilio:AC1", 1.0) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert pacer.reserve("twilio:AC2", 1.0) == 0.0  # another account has its own slots
    clock.advance(10)
    assert pacer.reserve("twilio:AC1", 1.0) == 0.0


def test_hold_pushes_every_slot_back():
    clock = ManualClock(0.0)
    pacer = MemoryPacer(clock=clock)
    pacer.hold("plivo:MA1", 30.0)
    assert pacer.reserve("plivo:MA1", 0.5) == 30.0
    assert pacer.reserve("plivo:MA1", 0.5) == 30.5


def test_threads_share_the_slots():
    pacer = MemoryPacer(clock=lambda: 0.0)
    waits = []

    def take():
        for _ in range(50):
            waits.append(pacer.reserve("k", 0.1))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.1, 6) for i in range(200)]


@pytest.mark.redis
def test_workers_on_one_redis_share_the_slots(redis_server):
    import redis

    namespace = f"pace-{uuid.uuid4().hex}"
    clients = [redis.Redis.from_url(redis_server.url) for _ in range(2)]
    first, second = (RedisPacer(client, namespace) for client in clients)
    waits = [first.reserve("exotel:acme", 0.3), second.reserve("exotel:acme", 0.3)]
    assert waits[0] == pytest.approx(0.0, abs=0.05)
    assert waits[1] == pytest.approx(0.3, abs=0.05)  # the other worker's slot counted
    second.hold("exotel:acme", 30)
    assert first.reserve("exotel:acme", 0.3) == pytest.approx(30.0, abs=0.1)
    for client in clients:
        client.close()
