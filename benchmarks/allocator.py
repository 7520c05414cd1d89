"""Allocator benchmarks (memory backend): against `limits`, and pool-size independence."""

from __future__ import annotations

from collections.abc import Iterator

from limits import parse, storage, strategies

import numsim

from .harness import Case, Runner, cpu_timed

DESTINATIONS = [f"+1212555{i:04d}" for i in range(1000)]


def _pool(size: int, **options) -> tuple[numsim.Allocator, list[numsim.OutboundNumber]]:
    numbers = [
        numsim.OutboundNumber(
            f"+1{415 + i // 10000:03d}555{i % 10000:04d}",
            "twilio",
            stir_shaken_attested=True,
            **options,
        )
        for i in range(size)
    ]
    return numsim.Allocator(numbers, {"t": [n.e164 for n in numbers]}), numbers


def _cycle(allocator: numsim.Allocator):
    """n acquire+release pairs, the destinations cycling through 1,000 people."""
    acquire, release = allocator.try_acquire, allocator.release
    destinations = DESTINATIONS

    def loop(n: int) -> None:
        for i in range(n):
            release(acquire("t", destinations[i % 1000]))

    for destination in destinations:  # parse and cache every destination once
        release(acquire("t", destination))
    return loop


def limits_hit() -> Runner:
    """n MovingWindowRateLimiter.hit calls over 1,000 keys at 100/hour, each accepted.

    A fresh storage per run keeps the windows from filling up: a full window turns
    every hit into a cheaper rejection, and the baseline would drift.
    """
    item = parse("100/hour")
    keys = [f"key-{i}" for i in range(1000)]

    def run(n: int) -> float:
        hit = strategies.MovingWindowRateLimiter(storage.MemoryStorage()).hit

        def loop(n: int) -> None:
            for i in range(n):
                hit(item, keys[i % 1000])

        return cpu_timed(loop)(n)

    return run


def _all_but_last(size: int, how: str):
    """A pool where every number but the last is busy (held) or capped (used up)."""
    options = {"max_calls_per_hour": 1} if how == "capped" else {}
    allocator, numbers = _pool(size, **options)
    for i in range(size - 1):
        lease = allocator.acquire("t", DESTINATIONS[i % 1000])
        if how == "capped":
            allocator.release(lease)
    if how == "capped":  # the last number is uncapped, so it can serve every call
        last = numbers[-1]
        allocator.add_number(
            numsim.OutboundNumber(last.e164, "twilio", stir_shaken_attested=True),
            templates=["t"],
        )
    return _cycle(allocator)


def cases() -> Iterator[Case]:
    allocator, _ = _pool(10)
    yield Case(
        "allocator_vs_limits",
        "memory acquire+release (pool of 10) vs one limits MovingWindowRateLimiter.hit",
        cpu_timed(_cycle(allocator)),
        limits_hit(),
        ops=20_000,
        target=2.0,
    )
    big, _ = _pool(10_000)
    yield Case(
        "pool_10000_vs_10",
        "acquire+release cost, pool of 10,000 vs pool of 10",
        cpu_timed(_cycle(big)),
        cpu_timed(_cycle(_pool(10)[0])),
        ops=20_000,
        target=2.0,
    )
    for how in ("busy", "capped"):
        yield Case(
            f"pool_10000_vs_10_{how}",
            f"as above, all numbers but the last {how}",
            cpu_timed(_all_but_last(10_000, how)),
            cpu_timed(_all_but_last(10, how)),
            ops=20_000,
            target=2.0,
        )
