"""Memory-backend specifics: what it keeps in memory, and what it shares."""

import threading

import pytest

import numsim
from conftest import india, plivo, pool
from numsim import DestinationLimit


def test_windows_keep_only_calls_inside_them(clock):
    number = plivo(0, channels=1)
    backend = numsim.MemoryBackend()
    allocator = numsim.Allocator(
        [number],
        {"t": pool(number)},
        backend=backend,
        clock=clock,
        destination_limit=DestinationLimit(1, 60),
        strategy="sticky",
        sticky_ttl=600,
    )
    for i in range(2000):
        allocator.release(allocator.acquire("t", india(i % 500)))
        clock.advance(30)
    # 16.7 hours of calls were made; only those inside each window are kept.
    assert len(dict(number_state(backend, number).windows)[3600.0]) == 120
    assert len(backend._destinations) == 2 and len(backend._destination_queue) == 2
    assert len(backend._sticky) == 20
    assert backend._leases == {}
    assert len(backend._lease_heap) <= 1024  # released leases' entries are compacted away


def number_state(backend, number):
    return backend._numbers[number.e164]


def test_a_memory_backend_serves_one_allocator():
    backend = numsim.MemoryBackend()
    numsim.Allocator([], {}, backend=backend)
    with pytest.raises(RuntimeError, match="already serves an allocator"):
        numsim.Allocator([], {}, backend=backend)


def test_check_repairs_a_counter_that_disagrees_with_the_leases():
    number = numsim.OutboundNumber("+14155550100", "twilio", stir_shaken_attested=True)
    backend = numsim.MemoryBackend()
    allocator = numsim.Allocator([number], {"t": [number.e164]}, backend=backend)
    lease = allocator.acquire("t", "+12125550143")
    backend._numbers[number.e164].in_use = 0  # a bug would do this
    findings = allocator.check(repair=False)
    assert [(f.number, f.repaired) for f in findings] == [(number.e164, False)]
    assert "1 leases" in str(findings[0])
    assert [f.repaired for f in allocator.check()] == [True]
    assert allocator.in_use(number.e164) == 1
    with pytest.raises(numsim.NoNumberAvailable):
        allocator.acquire("t", "+12125550144")
    assert allocator.release(lease) and allocator.check() == []


def test_an_index_kind_must_implement_every_operation():
    from numsim.allocator.memory import _Index

    class Partial(_Index):  # forgets first() and holds()
        def add(self, number, level):
            pass

        def discard(self, number, level):
            pass

    with pytest.raises(TypeError, match="abstract"):
        Partial()


def test_each_lease_is_counted_once_however_it_ends(clock):
    """A lease is one record (its heap entry): a release or a renewal leaves its old
    entry stale, and `expired` (taken - released - live) counts only real expiries."""
    number = plivo(0, channels=4)
    backend = numsim.MemoryBackend()
    allocator = numsim.Allocator(
        [number], {"t": pool(number)}, backend=backend, clock=clock, lease_ttl=60
    )
    released = allocator.acquire("t", india(1))
    renewed = allocator.acquire("t", india(2))
    allocator.acquire("t", india(3))  # expires at 60
    allocator.acquire_inbound(number.e164, ttl=30)
    assert allocator.release(released)
    clock.advance(50)
    assert allocator.renew(renewed)  # now expires at 110; its entry for 60 is stale
    clock.advance(20)
    assert allocator.in_use(number.e164) == 1
    counters = allocator.snapshot().counters
    assert (counters["acquired"], counters["acquired_inbound"]) == (3, 1)
    assert (counters["released"], counters["expired"]) == (1, 2)
    assert allocator.release(released) is False  # its stale entry frees nothing either
    clock.advance(40)
    assert allocator.in_use(number.e164) == 0
    assert allocator.snapshot().counters["expired"] == 3
    assert backend._leases == {} and backend.next_expiry(clock()) is None


def test_a_daily_window_stays_trimmed_once_its_cap_is_lifted(clock):
    capped = plivo(0, channels=1, max_calls_per_day=1000)
    backend = numsim.MemoryBackend()
    allocator = numsim.Allocator([capped], {"t": pool(capped)}, backend=backend, clock=clock)
    allocator.add_number(plivo(0, channels=1))  # the same number, no daily cap now
    for i in range(300):
        allocator.release(allocator.acquire("t", india(i)))
        clock.advance(600)
    # 50 hours of calls, one every 10 minutes: after the last, the day held 144 of them
    # and the hour 6; 10 minutes on, one fewer each.
    windows = dict(number_state(backend, capped).windows)
    assert (len(windows[86400.0]), len(windows[3600.0])) == (144, 6)
    row = allocator.snapshot().numbers[capped.e164]
    assert (row["calls_last_day"], row["calls_last_hour"]) == (143, 5)


class _CountingLock:
    """A lock that counts how often it is taken."""

    def __init__(self):
        self.taken = 0
        self._lock = threading.Lock()

    def acquire(self):
        self.taken += 1
        return self._lock.acquire()

    def release(self):
        self._lock.release()

    def __enter__(self):
        self.acquire()

    def __exit__(self, *exc):
        self.release()


def test_a_backend_for_one_thread_grants_as_the_default_without_taking_its_lock():
    """The simulator's backend (threads=False): the same leases and refusals, and its
    hottest operations, grant and release, take no lock."""
    outcomes, locks = {}, {}
    for threads in (True, False):
        numbers = [plivo(i, channels=2, max_calls_per_hour=3) for i in range(3)]
        backend = numsim.MemoryBackend(threads=threads)
        allocator = numsim.Allocator(
            numbers, {"t": pool(*numbers)}, backend=backend, clock=numsim.ManualClock(0.0)
        )
        locks[threads] = backend._lock = _CountingLock()
        seen = []
        for i in range(12):
            outcome = allocator.try_acquire("t", india(i), ttl=50.0)
            if isinstance(outcome, numsim.NoNumberAvailable):
                seen.append((outcome.reason, outcome.retry_after))
            else:
                seen.append(outcome.number)
                if i % 3 == 0:
                    allocator.release(outcome)
            allocator.clock.advance(20.0)
        outcomes[threads] = seen
    assert outcomes[False] == outcomes[True] and "hourly_cap" in str(outcomes[True])
    assert locks[True].taken >= 12 and locks[False].taken == 0
