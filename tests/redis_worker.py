"""Worker processes for the Redis tests (run with `python tests/redis_worker.py ...`)."""

import json
import random
import sys
import time

from numsim import Allocator, NoNumberAvailable, OutboundNumber
from numsim.allocator.redis import RedisBackend

POOL = [
    OutboundNumber("+14155550100", "twilio", stir_shaken_attested=True),
    OutboundNumber("+14155550101", "twilio", max_calls_per_hour=40, stir_shaken_attested=True),
    OutboundNumber("+912240000011", "plivo", max_concurrent_calls=3, max_calls_per_hour=120),
    OutboundNumber("+918045000001", "exotel", max_concurrent_calls=2),
]
TEMPLATES = {"scarce": [n.e164 for n in POOL]}


def allocator(url, namespace, **options):
    backend = RedisBackend(url, namespace=namespace, audit=True)
    return Allocator(POOL, TEMPLATES, backend=backend, compliance=False, **options)


def hammer(url, namespace, wanted, seed):
    """Acquire and release as fast as possible until `wanted` calls were granted (a
    count of tries would grant fewer the faster they run); some leases left to expire."""
    rng = random.Random(seed)
    pool = allocator(url, namespace, lease_ttl=0.05)
    granted, i, deadline = 0, 0, time.monotonic() + 120
    while granted < wanted and time.monotonic() < deadline:
        i += 1
        outcome = pool.try_acquire("scarce", f"+4420794{seed:02d}{i % 1000:03d}")
        if isinstance(outcome, NoNumberAvailable):
            continue
        granted += 1
        if rng.random() < 0.1:
            continue  # this worker "dies" for this call: the lease expires
        time.sleep(rng.random() * 0.001)
        pool.release(outcome)
    print(json.dumps({"granted": granted}))


def hold(url, namespace, count, ttl):
    """Take `count` leases, say so, and hang until killed."""
    pool = allocator(url, namespace, lease_ttl=ttl)
    leases = [pool.acquire("scarce", f"+44207946{i:04d}") for i in range(count)]
    print(json.dumps([lease.number for lease in leases]), flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    command, url, namespace, *rest = sys.argv[1:]
    if command == "hammer":
        hammer(url, namespace, int(rest[0]), int(rest[1]))
    else:
        hold(url, namespace, int(rest[0]), float(rest[1]))
