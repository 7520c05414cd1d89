"""Threads racing for the last channel: exactly as many win as there are channels."""

import threading

import pytest

from conftest import india, plivo, pool, twilio, us
from numsim import NoNumberAvailable

THREADS = 16


def race(allocator, template, destinations):
    """All threads call try_acquire at once; returns the leases won."""
    barrier = threading.Barrier(len(destinations))
    results = [None] * len(destinations)

    def contend(i):
        barrier.wait()
        results[i] = allocator.try_acquire(template, destinations[i])

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(destinations))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if not isinstance(r, NoNumberAvailable)]


@pytest.mark.parametrize("rounds", [200])
def test_exactly_one_thread_wins_the_last_twilio_number(make_allocator, rounds):
    numbers = [twilio(i) for i in range(3)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    for _ in range(rounds):
        held = [allocator.acquire("t", us(900 + i)) for i in range(2)]  # one number left
        winners = race(allocator, "t", [us(i) for i in range(THREADS)])
        assert len(winners) == 1
        assert winners[0].number not in {lease.number for lease in held}
        for lease in [*held, *winners]:
            assert allocator.release(lease)
        assert all(allocator.in_use(n.e164) == 0 for n in numbers)


def test_channel_numbers_never_go_over_capacity_under_contention(make_allocator):
    numbers = [plivo(0, channels=3), plivo(1, channels=2)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    for _ in range(100):
        winners = race(allocator, "t", [india(i) for i in range(THREADS)])
        assert len(winners) == 5
        taken = {n.e164: sum(w.number == n.e164 for w in winners) for n in numbers}
        assert taken == {numbers[0].e164: 3, numbers[1].e164: 2}
        for lease in winners:
            allocator.release(lease)


def test_concurrent_releases_return_every_channel_once(make_allocator):
    numbers = [plivo(i, channels=4) for i in range(4)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    leases = [allocator.acquire("t", india(i)) for i in range(16)]
    released = []
    barrier = threading.Barrier(8)

    def release_all():  # every thread releases every lease; each must count once
        barrier.wait()
        released.append(sum(allocator.release(lease) for lease in leases))

    threads = [threading.Thread(target=release_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(released) == 16
    assert all(allocator.in_use(n.e164) == 0 for n in numbers)
