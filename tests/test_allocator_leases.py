"""Leases: idempotent release, TTL expiry, renewal, and pools changing under live calls."""

import asyncio

import pytest

import numsim
from conftest import IN, india, plivo, pool, twilio, us
from numsim import NoNumberAvailable

FRONTS = ("sync", "async")  # every test here runs through both (conftest.AsyncFront)


def test_release_is_idempotent_and_says_so(make_allocator):
    number = plivo(0, channels=2)
    allocator = make_allocator([number], {"t": pool(number)})
    first, second = allocator.acquire("t", IN), allocator.acquire("t", india(1))
    assert allocator.release(first) is True
    assert allocator.release(first) is False
    assert allocator.in_use(number.e164) == 1  # the second release took nothing more
    assert allocator.release(second) is True


def test_release_of_a_foreign_lease_changes_nothing(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.acquire("t", us(1))
    stranger = numsim.Lease("no-such-lease", number.e164, "t", us(1), None, 0.0)
    assert allocator.release(stranger) is False
    assert allocator.in_use(number.e164) == 1
    with pytest.raises(TypeError, match="Lease"):
        allocator.release("lease-1")
    with pytest.raises(TypeError, match="Lease"):
        allocator.renew("lease-1")


def test_default_ttl_outlasts_the_longest_provider_call(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    lease = allocator.acquire("t", us(1))
    assert lease.expires_at - clock() > 4 * 3600
    clock.advance(4 * 3600)
    assert allocator.in_use(number.e164) == 1


def test_an_expired_lease_gives_its_channel_back_then_and_not_before(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)}, lease_ttl=60)
    lease = allocator.acquire("t", us(1))
    assert lease.expires_at == pytest.approx(clock() + 60, abs=1e-3)
    clock.advance(59.999)
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", us(2))
    clock.advance(0.001)
    assert allocator.in_use(number.e164) == 0
    assert allocator.acquire("t", us(2)).number == number.e164
    assert allocator.release(lease) is False  # a late release changes nothing
    assert allocator.in_use(number.e164) == 1
    assert allocator.snapshot().counters["expired"] == 1


def test_renew_extends_a_live_call(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)}, lease_ttl=60)
    lease = allocator.acquire("t", us(1))
    clock.advance(50)
    assert allocator.renew(lease) is True
    assert lease.expires_at == pytest.approx(clock() + 60, abs=1e-3)
    clock.advance(50)  # 100 s after the start, 50 s after the renewal
    assert allocator.in_use(number.e164) == 1
    clock.advance(10)
    assert allocator.in_use(number.e164) == 0
    assert allocator.renew(lease) is False


def test_renew_with_a_ttl_of_its_own(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)}, lease_ttl=60)
    lease = allocator.acquire("t", us(1))
    assert allocator.renew(lease, ttl=600) is True
    assert lease.expires_at == pytest.approx(clock() + 600, abs=1e-3)
    clock.advance(599)
    assert allocator.in_use(number.e164) == 1
    clock.advance(2)
    assert allocator.in_use(number.e164) == 0


def test_removing_a_number_never_loses_its_live_lease(make_allocator):
    a, b = plivo(0, channels=2), plivo(1, channels=2)
    allocator = make_allocator([a, b], {"t": pool(a, b)}, strategy="round_robin")
    lease = allocator.acquire("t", IN)
    assert lease.number == a.e164
    allocator.remove_number(a.e164)
    assert allocator.in_use(a.e164) == 1  # the call goes on
    assert {allocator.acquire("t", india(i)).number for i in range(1, 3)} == {b.e164}
    assert allocator.release(lease) is True
    with pytest.raises(numsim.UnknownNumberError):
        allocator.in_use(a.e164)
    with pytest.raises(numsim.UnknownNumberError):
        allocator.remove_number(a.e164)


def test_readding_a_removed_number_keeps_its_live_calls_and_windows(make_allocator):
    number = plivo(0, channels=2, max_calls_per_hour=2)
    allocator = make_allocator([number], {"t": pool(number)})
    lease = allocator.acquire("t", IN)
    allocator.remove_number(number.e164)
    allocator.add_number(number, templates=["t"])
    assert allocator.in_use(number.e164) == 1
    allocator.acquire("t", india(1))
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", india(2))  # both channels are busy and the hour is full
    assert allocator.release(lease)


def test_assign_and_unassign_while_calls_are_live(make_allocator):
    a, b = twilio(0), twilio(1)
    allocator = make_allocator([a, b], {"x": pool(a), "y": pool(b)})
    lease = allocator.acquire("x", us(1))
    allocator.unassign("x", [a.e164])
    allocator.assign("x", [b.e164])
    assert allocator.templates == {"x": (b.e164,), "y": (b.e164,)}
    assert allocator.acquire("x", us(2)).number == b.e164
    assert allocator.release(lease) is True
    with pytest.raises(numsim.UnknownNumberError):
        allocator.assign("x", ["+14155559999"])
    with pytest.raises(numsim.UnknownNumberError):
        allocator.unassign("x", [a.e164])
    with pytest.raises(numsim.UnknownTemplateError):
        allocator.unassign("z", [a.e164])


def test_updating_a_number_applies_its_new_limits(make_allocator):
    number = plivo(0, channels=1)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.acquire("t", IN)
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", india(1))
    allocator.add_number(
        number.__class__(number.e164, "plivo", max_concurrent_calls=2, trai_registered=True)
    )
    assert allocator.acquire("t", india(1)).number == number.e164


def test_new_templates_can_be_added_live(make_allocator):
    number = twilio(0)
    allocator = make_allocator([], {})
    allocator.add_number(number, templates=["late"])
    assert allocator.acquire("late", us(1)).number == number.e164


def test_from_registry(tmp_path, clock):
    registry = numsim.NumberRegistry()
    registry.add(twilio(0), templates=["t"])
    registry.add(plivo(0), templates=["t", "india"])
    allocator = numsim.Allocator.from_registry(registry, clock=clock)
    assert set(allocator.templates) == {"t", "india"}
    assert allocator.acquire("india", IN).number == plivo(0).e164


def test_a_lease_of_another_allocator_frees_nothing_here(make_allocator):
    number = twilio(0)
    first = make_allocator([number], {"t": pool(number)})
    second = make_allocator([number], {"t": pool(number)})
    theirs = first.acquire("t", us(1))
    ours = second.acquire("t", us(2))
    assert theirs.id != ours.id
    assert second.release(theirs) is False
    assert second.in_use(number.e164) == 1
    assert second.renew(theirs) is False
    assert first.release(theirs) and second.release(ours)


def test_a_lease_rebuilt_from_its_stored_id_releases_but_not_under_another_number(
    make_allocator,
):
    a, b = twilio(0), twilio(1)
    allocator = make_allocator([a, b], {"t": pool(a, b)})
    lease = allocator.acquire("t", us(1))
    other = b.e164 if lease.number == a.e164 else a.e164
    stored = (lease.id, lease.number)  # what a service keeps to release on a callback
    wrong = numsim.Lease(stored[0], other, "t", us(1), None, 0.0)
    assert allocator.release(wrong) is False and allocator.renew(wrong) is False
    assert allocator.in_use(lease.number) == 1
    rebuilt = numsim.Lease(stored[0], stored[1], "t", us(1), None, 0.0)
    assert allocator.release(rebuilt) is True
    assert allocator.in_use(lease.number) == 0


def test_lease_ids_are_unique_across_backends_and_restarts():
    ids = set()
    for _ in range(3):  # a "restart": a new backend in a new allocator
        number = twilio(0)
        allocator = numsim.Allocator([number], {"t": pool(number)})
        lease = allocator.acquire("t", us(1))
        assert isinstance(lease.id, str)
        ids.add(lease.id)
    assert len(ids) == 3


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), True, 0, -1, "60"])
def test_every_entry_point_refuses_the_same_bad_ttl(make_allocator, bad):
    number = plivo(0)
    allocator = make_allocator([number], {"t": pool(number)})
    lease = allocator.acquire("t", IN)
    for attempt in (
        lambda: allocator.acquire("t", india(1), ttl=bad),
        lambda: allocator.try_acquire("t", india(1), ttl=bad),
        lambda: allocator.request("t", india(1), ttl=bad),
        lambda: allocator.acquire_inbound(number.e164, ttl=bad),
        lambda: allocator.renew(lease, ttl=bad),
    ):
        with pytest.raises(ValueError, match="ttl"):
            attempt()
    assert allocator.in_use(number.e164) == 1


def test_check_finds_nothing_wrong_in_a_healthy_pool(make_allocator, clock):
    a, b = plivo(0, channels=2), twilio(1)
    allocator = make_allocator([a, b], {"t": pool(a, b)})
    leases = [allocator.acquire("t", india(i)) for i in range(2)]
    allocator.acquire_inbound(b.e164)
    allocator.release(leases[0])
    clock.advance(60)
    assert allocator.check() == []


def test_a_grant_is_the_lease_without_the_object(make_allocator, clock):
    """The simulator reads the backend's Grant; every other caller gets it wrapped in a
    Lease: the same acquisition either way, on every backend."""
    numbers = [twilio(0), twilio(1)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    lease = allocator.try_acquire("t", us(1), call_id="call-1", ttl=30.0)
    assert isinstance(lease, numsim.Lease)
    assert (lease.template, lease.destination, lease.call_id) == ("t", us(1), "call-1")
    assert lease.expires_at == clock() + 30.0
    lease_id, number, destination, expires_at = allocator.try_grant("t", us(2), ttl=45.0)
    assert (destination, expires_at) == (us(2), clock() + 45.0)
    assert {number, lease.number} == set(pool(*numbers))
    refused = allocator.try_grant("t", us(3), ttl=45.0)
    assert isinstance(refused, NoNumberAvailable) and refused.reason == "busy"
    granted = numsim.Lease(lease_id, number, "t", destination, None, expires_at)
    assert allocator.release(granted) is True  # its id frees its channel, as a Lease's does
    assert allocator.in_use(number) == 0


class _Ticking:
    """A clock as a user may write one: an instance of a class with __call__."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Fixed:
    """A clock whose __call__ is a staticmethod: binding it to the instance would break it."""

    @staticmethod
    def __call__() -> float:
        return 1000.0


@pytest.mark.parametrize(
    "make_clock",
    [
        numsim.ManualClock,
        _Ticking,
        lambda start: lambda: start,
        lambda start: start.__float__,
        lambda start: _Fixed(),
    ],
    ids=["ManualClock", "callable-class", "function", "builtin-method", "staticmethod"],
)
def test_the_allocator_reads_the_clock_it_was_given(make_clock):
    """However the clock is called (an instance of a Python class through its bound
    __call__), the allocator reads its time anew each time, and keeps the clock itself."""
    number = twilio(0)
    clock = make_clock(1000.0)
    with numsim.Allocator([number], {"t": pool(number)}, clock=clock, lease_ttl=60) as allocator:
        assert allocator.clock is clock
        assert allocator.acquire("t", us(1)).expires_at == 1060.0
        if hasattr(clock, "advance"):
            clock.advance(60)
            assert allocator.in_use(number.e164) == 0  # the lease expired at the new time


def test_a_clock_that_reads_infinity_neither_crashes_nor_loses_a_channel():
    """ManualClock refuses to advance by infinity; a clock of the user's own may still
    read +inf, and a take then keeps its call in the window (and its lease)."""
    with pytest.raises(ValueError, match="finite seconds"):
        numsim.ManualClock(0.0).advance(float("inf"))
    number = plivo(0)  # two channels: the second take trims a window holding the first
    allocator = numsim.Allocator(
        [number], {"t": pool(number)}, clock=lambda: float("inf"), calling_hours=None
    )
    allocator.acquire("t", india(1))
    allocator.acquire("t", india(2))
    assert allocator.in_use(number.e164) == 2
    assert allocator.snapshot().counters["expired"] == 0


def test_a_backend_answers_acquire_as_the_lease_of_its_grant(make_allocator, clock):
    """Backends implement grant alone; acquire (theirs and the Allocator's) wraps it."""
    number = plivo(0)
    allocator = make_allocator([number], {"t": pool(number)}, calling_hours=None)
    groups = allocator._destination(india(1)).groups  # the groups it would try
    lease = allocator.backend.acquire("t", groups, india(1), clock(), call_id="c1", ttl=30)
    assert isinstance(lease, numsim.Lease)
    assert (lease.number, lease.template, lease.destination) == (number.e164, "t", india(1))
    assert (lease.call_id, lease.expires_at, lease.inbound) == ("c1", clock() + 30, False)
    assert allocator.in_use(number.e164) == 1
    assert allocator.release(lease)


@pytest.mark.own_loop
def test_a_lease_lives_at_most_a_day_whichever_way_it_is_asked_for(make_allocator):
    """A TTL of 9.3e12 s once came back from Redis as a negative expiry, a lease that never
    expired: every door refuses more than a day, naming the bound."""
    number = twilio(0)
    inbound = twilio(1)
    allocator = make_allocator([number, inbound], {"t": pool(number)})
    too_long = 86_400.5
    refusals = [
        lambda: allocator.acquire("t", us(1), ttl=too_long),
        lambda: allocator.acquire("t", us(1), ttl=9.3e12, timeout=5),
        lambda: allocator.try_acquire("t", us(1), ttl=too_long),
        lambda: allocator.request("t", us(1), ttl=too_long),
        lambda: allocator.acquire_inbound(inbound.e164, ttl=too_long),
        lambda: asyncio.run(allocator.aacquire("t", us(1), ttl=too_long)),
        lambda: numsim.Allocator([number], {"t": pool(number)}, lease_ttl=too_long),
    ]
    for refused in refusals:
        with pytest.raises(ValueError, match=r"ttl must be a finite number > 0 and <= 86,400"):
            refused()
    lease = allocator.acquire("t", us(1), ttl=86_400)  # a day is allowed
    for renewal in (
        lambda: allocator.renew(lease, ttl=too_long),
        lambda: asyncio.run(allocator.arenew(lease, ttl=too_long)),
    ):
        with pytest.raises(ValueError, match="ttl must be"):
            renewal()
    assert allocator.in_use(number.e164) == 1  # nothing was taken by the refused calls
