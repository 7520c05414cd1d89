"""The documented gap of clock="client": workers whose clocks are apart by less than
max_clock_skew still disagree by that much, on a real redis-server; the server's clock
(the default) has no such gap."""

import time
import uuid

import pytest

import numsim
from conftest import pool, twilio, us
from numsim.allocator.redis import RedisBackend

pytestmark = pytest.mark.redis

SKEW = 3.0  # inside the default bound of 5 s


def workers(url, clock):
    """Two allocators on one namespace; the second's clock runs SKEW seconds ahead."""
    space, number = f"t-{uuid.uuid4().hex}", twilio(0)
    made = []
    for offset in (0.0, SKEW):
        backend = RedisBackend(url, namespace=space, clock=clock)
        made.append(
            numsim.Allocator(
                [number],
                {"t": pool(number)},
                backend=backend,
                clock=lambda offset=offset: time.time() + offset,
                lease_ttl=2.0,
            )
        )
    return made


def test_on_client_clocks_a_worker_ahead_double_books_for_up_to_the_skew(redis_server):
    behind, ahead = workers(redis_server.url, "client")
    lease = behind.acquire("t", us(1))  # ends 2 s from now, on its clock
    taken = ahead.try_acquire("t", us(2))  # on its clock, that lease has ended
    assert isinstance(taken, numsim.Lease) and taken.number == lease.number
    behind.close()
    ahead.close()


def test_on_the_server_clock_skewed_workers_agree(redis_server):
    behind, ahead = workers(redis_server.url, "server")
    behind.acquire("t", us(1))
    assert isinstance(ahead.try_acquire("t", us(2)), numsim.NoNumberAvailable)
    behind.close()
    ahead.close()
