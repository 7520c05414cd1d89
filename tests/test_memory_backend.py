"""Memory-backend specifics: what it keeps in memory, and what it shares."""

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
    assert len(number_state(backend, number).hour) == 120
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
