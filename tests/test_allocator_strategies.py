"""Selection strategies: least loaded, round robin, random, local presence, sticky."""

from collections import Counter

import pytest

import numsim
from conftest import IN, india, plivo, pool, twilio, us

FRONTS = ("sync", "async")  # every test here runs through both (conftest.AsyncFront)


def test_least_loaded_spreads_calls_across_channel_numbers(make_allocator):
    numbers = [plivo(i, channels=4) for i in range(3)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    taken = [allocator.acquire("t", india(i)).number for i in range(6)]
    assert Counter(taken) == {n.e164: 2 for n in numbers}


def test_least_loaded_prefers_the_longest_idle_among_equals(make_allocator):
    numbers = [twilio(i) for i in range(3)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    first = allocator.acquire("t", us(0))
    allocator.release(first)
    second = allocator.acquire("t", us(1))
    assert second.number != first.number  # the just-released number waits its turn


def test_round_robin_uses_the_pool_in_turn(make_allocator):
    numbers = [plivo(i, channels=5) for i in range(3)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)}, strategy="round_robin")
    taken = [allocator.acquire("t", india(i)).number for i in range(6)]
    assert taken == pool(*numbers) * 2


def test_round_robin_skips_busy_numbers(make_allocator):
    numbers = [twilio(i) for i in range(3)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)}, strategy="round_robin")
    held = allocator.acquire("t", us(0))
    for i in range(1, 5):
        lease = allocator.acquire("t", us(i))
        assert lease.number != held.number
        allocator.release(lease)


def test_random_is_seedable_and_covers_the_pool(make_allocator):
    numbers = [plivo(i, channels=100) for i in range(5)]

    def picks(seed):
        allocator = make_allocator(numbers, {"t": pool(*numbers)}, strategy="random", seed=seed)
        return [allocator.acquire("t", india(i)).number for i in range(60)]

    assert picks(7) == picks(7)
    assert picks(7) != picks(8)
    assert set(picks(7)) == set(pool(*numbers))


def test_local_presence_prefers_area_code_then_country(make_allocator):
    sf = [twilio(0), twilio(1)]  # +1 415
    ny = numsim.OutboundNumber("+12125550100", "twilio", stir_shaken_attested=True)
    uk = numsim.OutboundNumber("+442079460000", "twilio")
    numbers = [uk, *sf, ny]  # the UK number would come first in any other order
    allocator = make_allocator(
        numbers, {"t": pool(*numbers)}, strategy="local_presence", compliance=False
    )
    assert allocator.acquire("t", "+12125550143").number == ny.e164
    # New York's only local number is busy: another US number before the UK one.
    assert allocator.acquire("t", "+12125550144").number in pool(*sf)
    uk_call = allocator.acquire("t", "+442079460018")
    assert uk_call.number == uk.e164
    allocator.release(uk_call)
    assert allocator.acquire("t", "+12125550145").number in pool(*sf)
    assert allocator.acquire("t", "+12125550146").number == uk.e164  # then anyone


def test_local_presence_falls_back_to_the_whole_pool(make_allocator):
    india_number = plivo(0)
    allocator = make_allocator(
        [india_number], {"t": pool(india_number)}, strategy="local_presence", compliance=False
    )
    assert allocator.acquire("t", us(1)).number == india_number.e164


def test_sticky_caller_id_reuses_the_number_while_free(make_allocator, clock):
    numbers = [twilio(i) for i in range(4)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)}, strategy="sticky")
    first = allocator.acquire("t", us(7))
    allocator.release(first)
    for i in range(2):  # other calls move the order on: least loaded alone would not pick it
        allocator.release(allocator.acquire("t", us(i)))
    again = allocator.acquire("t", "+1 212 555 0007")
    assert again.number == first.number
    other = allocator.acquire("t", us(7))  # its number is busy: another one, no refusal
    assert other.number != again.number


def test_sticky_memory_expires(make_allocator, clock):
    numbers = [twilio(i) for i in range(3)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)}, strategy="sticky", sticky_ttl=100)
    first = allocator.acquire("t", us(7))
    allocator.release(first)
    allocator.release(allocator.acquire("t", us(1)))
    clock.advance(101)
    assert allocator.acquire("t", us(7)).number != first.number


def test_sticky_never_breaks_compliance(make_allocator):
    number = plivo(0, trai_registered=False)
    registered = plivo(1)
    allocator = make_allocator(
        [number, registered], {"t": pool(number, registered)}, strategy="sticky"
    )
    assert allocator.acquire("t", "+442079460018").number in pool(number, registered)
    assert allocator.acquire("t", IN).number == registered.e164


def test_a_custom_strategy_object(make_allocator):
    numbers = [plivo(i, channels=3) for i in range(2)]
    strategy = numsim.Strategy(order="round_robin", sticky=True)
    allocator = make_allocator(numbers, {"t": pool(*numbers)}, strategy=strategy)
    first = allocator.acquire("t", IN)
    assert allocator.acquire("t", IN).number == first.number
    with pytest.raises(ValueError, match="unknown order"):
        numsim.Strategy(order="cheapest")
