"""Waits that always end: a backend failing while requests wait (a Redis outage, say)
must never leave a request queued without its deadline, lose it from its queue, or hold
its caller past its timeout."""

import logging
import threading
import time

import pytest

import numsim
from conftest import india, pool, twilio, us
from numsim import BackendUnavailable, NoNumberAvailable
from numsim.allocator.allocator import WAIT_GRACE


class FailingBackend(numsim.MemoryBackend):
    """A memory backend whose acquisitions fail while `down` is set, as Redis's do in an
    outage; or stall for `stall` seconds first, as a black-holed connection does."""

    def __init__(self):
        super().__init__()
        self.down = False
        self.stall = 0.0

    def grant(self, *args, **kwargs):
        if self.stall:
            time.sleep(self.stall)
        self._fail("acquire")
        return super().grant(*args, **kwargs)

    def next_expiry(self, now):
        self._fail("next_expiry")
        return super().next_expiry(now)

    def _fail(self, operation):
        if self.down:
            raise BackendUnavailable(f"Redis is unreachable ({operation}): test outage")


@pytest.fixture
def failing():
    number = twilio(0)
    backend = FailingBackend()
    clock = numsim.ManualClock(1_000.0)
    inbound_only = twilio(1)  # in no template: takes the inbound calls that free channels
    allocator = numsim.Allocator(
        [number, inbound_only], {"t": pool(number)}, backend=backend, clock=clock
    )
    held = allocator.acquire("t", us(0))
    yield allocator, backend, clock, held
    allocator.close()


def test_a_wait_whose_final_try_fails_ends_with_that_error(failing):
    """The deadline's try fails (in the timer's thread, not the caller's): the request
    ends with the error at its deadline, instead of waiting on without one."""
    allocator, backend, clock, held = failing
    request = allocator.request("t", us(1), timeout=10)
    backend.down = True
    clock.advance(10)  # the deadline's wake-up runs here, and its try fails
    assert request.done
    with pytest.raises(BackendUnavailable):
        request.result()
    backend.down = False
    allocator.release(held)
    assert allocator.waiting == 0
    assert allocator.in_use(held.number) == 0  # the late free went to nobody


def test_a_wake_up_that_fails_still_leaves_the_deadline_scheduled(failing):
    """The first timed wake-up (a lease's expiry) fails, and so does asking the backend
    for the next expiry: the deadline's wake-up must still come."""
    allocator, backend, clock, held = failing
    allocator.release(held)
    allocator.acquire("t", us(5), ttl=100)  # expires first, at +100
    request = allocator.request("t", us(1), timeout=1000)
    backend.down = True
    clock.advance(1000)
    assert request.done
    with pytest.raises(BackendUnavailable):
        request.result()


def test_a_failure_serving_a_queue_loses_no_waiter(failing):
    """A try that fails while a release serves the queue leaves every waiter queued, in
    order, with its deadline: the next free serves the first."""
    allocator, backend, clock, held = failing
    first = allocator.request("t", us(1), timeout=60)
    second = allocator.request("t", us(2), timeout=60)
    backend.down = True
    with pytest.raises(BackendUnavailable):
        allocator.poll()  # a pass that fails on the first waiter's try
    backend.down = False
    assert allocator.waiting == 2
    allocator.release(held)
    assert first.done and first.result().number == held.number
    assert not second.done
    clock.advance(60)
    with pytest.raises(NoNumberAvailable):
        second.result()


def test_serving_that_fails_in_the_background_logs_one_line_per_outage(failing, caplog):
    """Frees (and timed wake-ups) serve waiters in threads that are not theirs: a failure
    there is one warning line per outage, not a traceback per try."""
    allocator, backend, _, _ = failing
    allocator.request("t", us(1), timeout=100)
    inbound = twilio(1).e164

    def free_one():
        allocator.release(allocator.acquire_inbound(inbound))  # a free serves the waiter

    with caplog.at_level(logging.DEBUG, logger="numsim"):
        backend.down = True
        for _ in range(5):
            free_one()
        backend.down = False
        free_one()  # serving works again: said once
        backend.down = True
        free_one()  # a new outage: said again
    lines = [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records]
    failed = [line for line in lines if "unreachable" in line[1]]
    assert len(failed) == 2
    assert all(level == logging.WARNING and exc is None for level, _, exc in failed)
    assert sum("works again" in line[1] for line in lines) == 1


@pytest.mark.parametrize("stalls", ["from its first try", "once it waits"])
@pytest.mark.parametrize("front", ["thread", "asyncio"])
def test_a_waiting_acquire_ends_on_time_while_every_backend_call_stalls(front, stalls):
    """Each backend call stalls 3 s (a black-holed Redis, a client with no socket
    timeout), from the caller's first try or once it waits: acquire(timeout=1) still
    returns within its timeout and WAIT_GRACE, and gets nothing later."""
    import asyncio

    number = twilio(0)
    backend = FailingBackend()
    backend.remote = True
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend)
    held = allocator.acquire("t", us(0))
    if stalls == "from its first try":
        backend.stall = 3.0
    else:
        threading.Thread(target=stall_once_waiting, args=(allocator, backend)).start()
    started = time.monotonic()
    with pytest.raises((NoNumberAvailable, BackendUnavailable)):
        if front == "thread":
            allocator.acquire("t", us(1), timeout=1.0)
        else:
            asyncio.run(allocator.aacquire("t", us(1), timeout=1.0))
    assert time.monotonic() - started < 1.0 + WAIT_GRACE + 0.5
    backend.stall = 0.0
    time.sleep(3.5)  # the stalled calls finish in the background
    allocator.release(held)
    assert allocator.in_use(number.e164) == 0  # nothing granted to the call given up
    assert allocator.waiting == 0
    allocator.close()


def stall_once_waiting(allocator, backend):
    deadline = time.monotonic() + 5
    while not allocator.waiting and time.monotonic() < deadline:
        time.sleep(0.005)
    backend.stall = 3.0


def test_destinations_are_kept_in_a_bounded_cache_of_the_most_recently_used():
    """A dialer calling many people keeps at most DESTINATION_CACHE resolved destinations
    (~0.8 KB each), the most recently used: not 131,072 (~100 MB) before a clear."""
    from numsim.allocator.allocator import DESTINATION_CACHE

    number = numsim.OutboundNumber("+14155550000", "twilio", stir_shaken_attested=True)
    allocator = numsim.Allocator([number], {"t": [number.e164]})
    regular = us(9999)
    for i in range(DESTINATION_CACHE + 500):
        if i % 100 == 0:
            allocator.try_acquire("t", regular)  # called again and again: stays cached
        allocator.try_acquire("t", india(i))
    cache = allocator._destination_of.cache_info()
    assert cache.currsize == cache.maxsize == DESTINATION_CACHE
    hits = cache.hits
    allocator.try_acquire("t", regular)
    assert allocator._destination_of.cache_info().hits == hits + 1
    allocator.try_acquire("t", india(0))  # the least recently used: resolved again
    assert allocator._destination_of.cache_info().hits == hits + 1
    allocator.close()


def test_a_request_queued_while_an_earlier_ones_first_try_ran_goes_after_it(failing):
    """The first request's first try runs outside the lock (a slow backend); the second
    request queues meanwhile. First come, first served still holds."""
    allocator, backend, _, held = failing
    backend.stall = 0.3
    made = []
    first = threading.Thread(target=lambda: made.append(allocator.request("t", us(1), timeout=60)))
    first.start()
    time.sleep(0.1)  # its first try is under way
    backend.stall = 0.0
    second = allocator.request("t", us(2), timeout=60)
    first.join()
    allocator.release(held)
    assert made[0].done and made[0].lease is not None
    assert not second.done
