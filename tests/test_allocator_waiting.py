"""Waiting for a number: threads and asyncio, first come first served, timeouts, and
wake-ups from releases and from the windows' own expiry, never from polling."""

import asyncio
import threading
import time

import pytest

import numsim
from conftest import IN, START, india, plivo, pool, twilio, us
from numsim import DestinationLimit, NoNumberAvailable

FRONTS = ("sync", "async")  # every test here runs through both (conftest.AsyncFront)


class Waiter(threading.Thread):
    """A thread blocked in acquire(timeout=...); keeps what it got."""

    def __init__(self, allocator, template, destination, timeout):
        super().__init__(daemon=True)
        self.args_ = (allocator, template, destination, timeout)
        self.lease = self.error = None
        self.done_at = None

    def run(self):
        allocator, template, destination, timeout = self.args_
        try:
            self.lease = allocator.acquire(template, destination, timeout=timeout)
        except (NoNumberAvailable, RuntimeError) as error:  # RuntimeError: closed
            self.error = error
        self.done_at = time.monotonic()


def start_waiting(allocator, *args):
    """Start a waiter and return once it is queued (so queue order is known)."""
    before = allocator.waiting
    waiter = Waiter(allocator, *args)
    waiter.start()
    deadline = time.monotonic() + 10
    while allocator.waiting == before:
        assert time.monotonic() < deadline, "the waiter never queued"
        time.sleep(0.001)
    return waiter


def test_a_release_has_served_this_processs_waiters_when_it_returns(make_allocator):
    """Not later, when a message from Redis says a channel freed."""
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    held = allocator.acquire("t", us(0))
    request = allocator.request("t", us(1), timeout=60)
    allocator.release(held)
    assert request.done and request.lease.number == number.e164


def test_a_waiting_thread_gets_the_released_channel(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    held = allocator.acquire("t", us(0))
    waiter = start_waiting(allocator, "t", us(1), 60)
    allocator.release(held)
    waiter.join(10)
    assert waiter.lease is not None and waiter.lease.number == number.e164
    assert allocator.waiting == 0


def test_waiting_threads_are_served_first_come_first_served(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    held = allocator.acquire("t", us(0))
    waiters = [start_waiting(allocator, "t", us(i + 1), 60) for i in range(5)]
    served = []
    for waiter in waiters:
        allocator.release(held)
        waiter.join(10)
        served.append(waiter.lease.destination)
        held = waiter.lease
    assert served == [us(i + 1) for i in range(5)]


def test_a_wait_times_out_on_the_allocators_clock(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.acquire("t", us(0))
    waiter = start_waiting(allocator, "t", us(1), 30)
    clock.advance(29.9)
    assert waiter.is_alive()
    clock.advance(0.1)
    waiter.join(10)
    assert waiter.error is not None and waiter.error.reason == "busy"
    assert waiter.error.reasons == {number.e164: "busy"}
    assert allocator.waiting == 0


def test_the_hourly_window_wakes_a_waiter_by_itself(make_allocator, clock):
    number = plivo(0, channels=2, max_calls_per_hour=1)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.release(allocator.acquire("t", IN))
    waiter = start_waiting(allocator, "t", india(1), 7200)
    clock.advance(3599)
    assert waiter.is_alive()
    clock.advance(1)  # the first call leaves the rolling hour: nobody released anything
    waiter.join(10)
    assert waiter.lease is not None


def test_an_expired_lease_wakes_a_waiter(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)}, lease_ttl=120)
    allocator.acquire("t", us(0))  # its worker dies: never released
    waiter = start_waiting(allocator, "t", us(1), 600)
    clock.advance(120)
    waiter.join(10)
    assert waiter.lease is not None


@pytest.mark.parametrize("door", ["acquire", "try_acquire"])
def test_waiters_go_before_newcomers(make_allocator, door):
    now = [1000.0]
    number = plivo(0, channels=3, max_calls_per_hour=1)
    allocator = make_allocator([number], {"t": pool(number)}, clock=lambda: now[0])
    allocator.release(allocator.acquire("t", IN))
    granted = []
    request = allocator.request("t", india(1), timeout=7200, callback=granted.append)
    assert not request.done and allocator.next_wakeup() == pytest.approx(4600)
    now[0] = 4600.0  # the slot frees; nobody has woken the waiter yet
    if door == "try_acquire":
        newcomer = allocator.try_acquire("t", india(2))
    else:
        with pytest.raises(NoNumberAvailable) as refused:
            allocator.acquire("t", india(2))
        newcomer = refused.value
    assert granted == [request] and request.lease.destination == india(1)
    assert isinstance(newcomer, NoNumberAvailable) and newcomer.reason == "hourly_cap"


def test_a_destination_limited_waiter_does_not_block_its_class(make_allocator, clock):
    number = plivo(0, channels=2)
    allocator = make_allocator(
        [number], {"t": pool(number)}, destination_limit=DestinationLimit(1, 600)
    )
    first = allocator.acquire("t", IN)
    second = allocator.acquire("t", india(1))
    same_person = allocator.request("t", IN, timeout=1000)  # waits for its own limit
    other = allocator.request("t", india(2), timeout=1000)  # waits for a channel
    allocator.release(first)
    assert other.done and other.lease is not None
    assert not same_person.done
    allocator.release(second)
    assert not same_person.done  # a channel is free but the person is not callable yet
    clock.advance(600)
    assert same_person.done and same_person.lease.destination == IN


def test_a_refusal_that_time_cannot_fix_ends_the_wait_at_once(make_allocator):
    number = plivo(0, trai_registered=False)
    allocator = make_allocator([number], {"t": pool(number)})
    request = allocator.request("t", IN, timeout=600)
    assert request.done and request.error.reason == "not_compliant"
    assert request.error.reasons == {number.e164: "not_compliant"}
    with pytest.raises(NoNumberAvailable):
        request.result()


def test_request_validates_its_timeout(make_allocator):
    allocator = make_allocator([twilio(0)], {"t": pool(twilio(0))})
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            allocator.request("t", us(1), timeout=bad)
    with pytest.raises(numsim.UnknownTemplateError):
        allocator.request("x", us(1), timeout=1)


def test_cancelled_request_gets_nothing(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    held = allocator.acquire("t", us(0))
    request = allocator.request("t", us(1), timeout=60)
    request.cancel()
    assert allocator.waiting == 0
    allocator.release(held)
    assert request.lease is None and allocator.in_use(number.e164) == 0


def test_real_clock_wakes_exactly_when_the_window_frees_without_polling():
    number = plivo(0, channels=2)
    allocator = numsim.Allocator(
        [number], {"t": pool(number)}, destination_limit=DestinationLimit(1, 0.3)
    )
    polls = []
    original = allocator.poll
    allocator.poll = lambda: (polls.append(1), original())[1]
    allocator.acquire("t", IN)
    started = time.monotonic()
    lease = allocator.acquire("t", IN, timeout=10)
    elapsed = time.monotonic() - started
    assert lease.destination == IN
    assert elapsed >= 0.29  # never early
    assert len(polls) <= 3  # one timed wake-up, not a polling loop


def test_real_clock_timeout():
    number = twilio(0)
    allocator = numsim.Allocator([number], {"t": pool(number)})
    allocator.acquire("t", us(0))
    started = time.monotonic()
    with pytest.raises(NoNumberAvailable) as caught:
        allocator.acquire("t", us(1), timeout=0.2)
    assert time.monotonic() - started >= 0.2
    assert caught.value.reason == "busy"


def test_real_clock_release_from_another_thread():
    number = twilio(0)
    allocator = numsim.Allocator([number], {"t": pool(number)})
    held = allocator.acquire("t", us(0))
    timer = threading.Timer(0.05, allocator.release, args=(held,))
    timer.start()
    assert allocator.acquire("t", us(1), timeout=10).number == number.e164


# -- asyncio -----------------------------------------------------------------------------


@pytest.mark.own_loop
def test_aacquire_waits_without_blocking_the_loop(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})

    async def main():
        held = allocator.acquire("t", us(0))
        tasks = [
            asyncio.create_task(allocator.aacquire("t", us(i + 1), timeout=60)) for i in range(3)
        ]
        while allocator.waiting < 3:
            await asyncio.sleep(0)
        order = []
        for task in tasks:
            allocator.release(held)
            held = await asyncio.wait_for(task, 5)
            order.append(held.destination)
        return order

    assert asyncio.run(main()) == [us(1), us(2), us(3)]


@pytest.mark.own_loop
def test_aacquire_times_out_and_cancels_cleanly(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})

    async def main():
        held = allocator.acquire("t", us(0))
        timing_out = asyncio.create_task(allocator.aacquire("t", us(1), timeout=30))
        cancelled = asyncio.create_task(allocator.aacquire("t", us(2), timeout=300))
        while allocator.waiting < 2:
            await asyncio.sleep(0)
        clock.advance(30)
        with pytest.raises(NoNumberAvailable):
            await asyncio.wait_for(timing_out, 5)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        for _ in range(500):  # on Redis the queue lets go in the async worker, off the loop
            if not allocator.waiting:
                break
            await asyncio.sleep(0.01)
        assert allocator.waiting == 0
        allocator.release(held)
        assert allocator.in_use(number.e164) == 0  # nobody took it on a cancelled behalf

    asyncio.run(main())


def test_aacquire_with_the_real_clock():
    number = plivo(0, channels=2)
    allocator = numsim.Allocator(
        [number], {"t": pool(number)}, destination_limit=DestinationLimit(1, 0.2)
    )

    async def main():
        allocator.acquire("t", IN)
        ticks = 0

        async def ticker():  # the loop stays free while we wait
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        lease = await allocator.aacquire("t", IN, timeout=5)
        tick_task.cancel()
        return lease, ticks

    lease, ticks = asyncio.run(main())
    assert lease.destination == IN and ticks >= 5
    assert await_free(allocator) is None


def await_free(allocator):
    return None if allocator.waiting == 0 else allocator.waiting


@pytest.mark.own_loop
def test_aacquire_without_timeout_is_a_plain_try(make_allocator):
    allocator = make_allocator([twilio(0)], {"t": pool(twilio(0))})

    async def main():
        await allocator.aacquire("t", us(0))
        with pytest.raises(NoNumberAvailable):
            await allocator.aacquire("t", us(1))

    asyncio.run(main())


def test_a_lapsed_lease_does_not_spin_the_wakeups(make_allocator, clock):
    # A waiter blocked by calling hours, and a lease whose worker died: the wake-up
    # at the lease's expiry must not be scheduled again and again once it has passed.
    number = twilio(0)
    allocator = make_allocator(
        [number], {"t": pool(number)}, lease_ttl=60, calling_hours={"US": ("08:00", "21:00")}
    )
    allocator.acquire("t", "+442079460018")  # never released
    request = allocator.request("t", us(1), timeout=7200)  # 07:00 in New York: waits
    clock.advance(120)
    assert not request.done and allocator.in_use(number.e164) == 0
    clock.advance(3600)
    assert request.done and request.lease is not None


def test_a_new_retry_time_wakes_a_sleeping_waiter_with_the_real_clock():
    # The waiter first waits for a channel (no timer); after a release it is blocked by
    # its destination's limit instead: it must be woken when that frees, not at its
    # deadline.
    first, second = plivo(0, channels=1), plivo(1, channels=1)
    allocator = numsim.Allocator(
        [first, second],
        {"a": pool(first), "b": pool(second)},
        destination_limit=DestinationLimit(1, 0.5),
    )
    held = allocator.acquire("a", india(1))
    waiter = start_waiting(allocator, "a", IN, 10)
    started = time.monotonic()
    allocator.acquire("b", IN)  # the same person, through the other pool
    allocator.release(held)  # a channel frees: the waiter now waits for IN's limit
    waiter.join(10)
    elapsed = waiter.done_at - started
    assert waiter.lease is not None and 0.45 <= elapsed < 3.0


# -- a waiter refused for its own reason blocks nobody ----------------------------------


def _own_refusal_setup(make_allocator, reason):
    """Three free Twilio numbers; a call to `held_back` is refused for `reason` alone."""
    numbers = [twilio(i) for i in range(3)]
    if reason == "destination_limit":
        allocator = make_allocator(
            numbers, {"t": pool(*numbers)}, destination_limit=DestinationLimit(1, 3600)
        )
        allocator.release(allocator.acquire("t", us(0)))
        return allocator, us(0), us(1)
    # calling hours: 07:00 in New York at START; London has no calling hours set
    allocator = make_allocator(
        numbers,
        {"t": pool(*numbers)},
        calling_hours={"US": ("08:00", "21:00")},
        compliance=False,
    )
    return allocator, us(0), "+442079460018"


@pytest.mark.parametrize("reason", ["destination_limit", "calling_hours"])
def test_a_waiter_refused_for_its_own_reason_does_not_hold_up_the_queue(
    make_allocator, clock, reason
):
    allocator, held_back, other = _own_refusal_setup(make_allocator, reason)
    first = allocator.request("t", held_back, timeout=5)
    assert not first.done  # waits for its own retry_after
    second = allocator.request("t", other, timeout=3)
    assert second.done and second.lease is not None  # at once, with free numbers
    clock.advance(3)
    assert not first.done and allocator.waiting == 1
    clock.advance(2)
    assert first.done and first.error.reason == reason
    assert first.error.retry_after > 3000


@pytest.mark.parametrize("reason", ["destination_limit", "calling_hours"])
def test_a_thread_waiting_for_its_own_reason_does_not_delay_another(make_allocator, reason):
    allocator, held_back, other = _own_refusal_setup(make_allocator, reason)
    waiter = start_waiting(allocator, "t", held_back, 30)
    started = time.monotonic()
    lease = allocator.acquire("t", other, timeout=20)
    assert lease.destination == allocator._destination(other).e164
    assert time.monotonic() - started < 5  # not its own deadline
    assert waiter.is_alive()


def test_fifo_still_holds_behind_a_waiter_short_of_numbers(make_allocator):
    number = twilio(0)
    allocator = make_allocator(
        [number], {"t": pool(number)}, destination_limit=DestinationLimit(1, 3600)
    )
    held = allocator.acquire("t", us(0))
    early = allocator.request("t", us(1), timeout=60)  # short of numbers
    own = allocator.request("t", us(0), timeout=60)  # its own limit
    late = allocator.request("t", us(2), timeout=60)  # short of numbers, behind `early`
    assert not (early.done or own.done or late.done)
    allocator.release(held)
    assert early.lease is not None and not late.done and not own.done


def test_closing_the_allocator_ends_the_calls_still_waiting(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.acquire("t", us(0))
    waiter = start_waiting(allocator, "t", us(1), 60)
    allocator.close()
    waiter.join(5)
    assert not waiter.is_alive()
    assert isinstance(waiter.error, RuntimeError)
    assert str(waiter.error) == "the allocator was closed while the request waited"


@pytest.mark.own_loop
def test_closing_the_allocator_ends_an_aacquire_still_waiting(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.acquire("t", us(0))

    async def main():
        waiting = asyncio.create_task(allocator.aacquire("t", us(1), timeout=60))
        while not allocator.waiting:
            await asyncio.sleep(0.01)
        await allocator.aclose()
        with pytest.raises(RuntimeError, match="closed while the request waited"):
            await asyncio.wait_for(waiting, 5)

    asyncio.run(main())


def test_closing_while_a_round_tries_a_waiting_call_ends_that_call_too():
    """close() while another thread's round is trying a waiting call (out of its queue for
    the try): the call ends as closed, not put back in a queue nothing serves."""

    class Gated(numsim.MemoryBackend):
        def __init__(self):
            super().__init__()
            self.armed = False
            self.reached, self.go = threading.Event(), threading.Event()

        def grant(self, *args, **options):
            if self.armed:
                self.reached.set()
                self.go.wait(10)
            return super().grant(*args, **options)

    number, other = twilio(0), twilio(1)
    backend = Gated()
    templates = {"t": pool(number), "u": pool(other)}
    allocator = numsim.Allocator([number, other], templates, backend=backend)
    allocator.acquire("t", us(0))
    waiter = start_waiting(allocator, "t", us(1), 60)
    elsewhere = allocator.acquire("u", us(2))
    backend.armed = True  # a channel frees (not one of t's): a round tries the waiter
    round_ = threading.Thread(target=allocator.release, args=(elsewhere,), daemon=True)
    round_.start()
    assert backend.reached.wait(10)
    allocator.close()
    backend.go.set()
    round_.join(5)
    waiter.join(5)
    assert not waiter.is_alive()
    assert str(waiter.error) == "the allocator was closed while the request waited"


@pytest.mark.redis
def test_a_number_granted_to_a_call_closed_meanwhile_goes_back_to_a_shared_pool(redis_server):
    """close() ends a waiting call whose try is under way; if that try then grants a
    number, the number goes back to the pool other processes share, not held until its
    lease expires (hours) because the worker that would give it back has stopped."""
    import uuid

    from numsim.allocator.redis import RedisBackend

    class Gated(RedisBackend):
        armed = False
        reached, go = threading.Event(), threading.Event()

        def grant(self, *args, **options):
            if self.armed:
                self.reached.set()
                self.go.wait(10)
            return super().grant(*args, **options)

    number = twilio(0)
    namespace = f"close-{uuid.uuid4().hex}"
    backend = Gated(redis_server.url, namespace=namespace)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    other = numsim.Allocator(
        [number], {"t": pool(number)}, backend=RedisBackend(redis_server.url, namespace=namespace)
    )
    held = allocator.acquire("t", us(0))
    waiting = allocator.request("t", us(1), timeout=60)  # returns once its tries are done
    assert not waiting.done
    backend.armed = True
    assert other.release(held)  # another process frees it: a round here tries the call
    assert backend.reached.wait(10)
    closing = threading.Thread(target=allocator.close, daemon=True)
    closing.start()
    deadline = time.monotonic() + 10
    while not waiting.done and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waiting.closed and waiting.lease is None
    time.sleep(0.3)  # close() is past stopping its worker
    backend.go.set()  # the try grants the number to a call that has ended
    closing.join(10)
    assert not closing.is_alive()
    assert other.in_use(number.e164) == 0
    other.close()


def test_closing_while_a_round_ends_timed_out_calls_ends_the_rest_as_closed():
    """A round takes the calls whose time is up and gives each a last try; close()
    during the first one's try ends the others as closed, with no try on a closing
    backend."""

    class Gated(numsim.MemoryBackend):
        def __init__(self):
            super().__init__()
            self.armed, self.tries = False, 0
            self.reached, self.go = threading.Event(), threading.Event()

        def grant(self, *args, **options):
            if self.armed:
                self.tries += 1
                self.reached.set()
                self.go.wait(10)
            return super().grant(*args, **options)

    number = twilio(0)
    clock = numsim.ManualClock(START)
    backend = Gated()
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend, clock=clock)
    allocator.acquire("t", us(0))
    first = allocator.request("t", us(1), timeout=1)
    second = allocator.request("t", us(2), timeout=1)
    backend.armed = True
    round_ = threading.Thread(target=clock.advance, args=(2,), daemon=True)
    round_.start()  # both are out of time: the wake-up's round gives each a last try
    assert backend.reached.wait(10)
    allocator.close()
    backend.go.set()
    round_.join(5)
    assert first.done and second.done and second.closed
    assert backend.tries == 1
