"""Allocator.states(e164s): the state of a few numbers, read without reading the others,
on every backend (a dashboard page shows 50 numbers of 100,000)."""

import pytest
import redis
from tests.conftest import UK, plivo, twilio

import numsim
from numsim.allocator import memory
from numsim.allocator.redis import RedisBackend


def busy_pool(make_allocator):
    """Six numbers: two with calls, one at its hourly cap, one removed mid-call
    (retired), two idle; the leases are returned, still live."""
    capped = twilio(1, max_calls_per_hour=1)
    numbers = [twilio(0), capped, plivo(0), plivo(1), twilio(2), twilio(3)]
    allocator = make_allocator(numbers, {"t": [n.e164 for n in numbers[:4]], "u": [twilio(2).e164]})
    leases = [allocator.acquire("t", UK) for _ in range(4)]  # twilio 0, 1, and a plivo
    removed = next(lease.number for lease in leases if lease.number.startswith("+91"))
    allocator.remove_number(removed)
    return allocator, numbers, removed, leases


def test_a_subset_reads_the_same_states_as_the_full_read(make_allocator):
    allocator, _, removed, _ = busy_pool(make_allocator)
    _, full = allocator.states()
    assert full[removed].status == "retired" and full[twilio(1).e164].status == "hourly_cap"
    unknown = "+14155559999"
    wanted = [twilio(1).e164, removed, twilio(3).e164, unknown]
    now, some = allocator.states(wanted)
    assert now == allocator.clock()
    assert some == {e164: full[e164] for e164 in wanted if e164 != unknown}
    assert unknown not in some  # never added: no state, as in the full read
    assert allocator.states([" +1 415 555 0003 ", twilio(3).e164])[1] == {
        twilio(3).e164: full[twilio(3).e164]
    }
    assert allocator.states([]) == (allocator.clock(), {})


def test_bad_subsets_are_refused_with_what_is_wrong(make_allocator):
    allocator, *_ = busy_pool(make_allocator)
    with pytest.raises(TypeError, match=r"an iterable of E\.164 numbers, not one string"):
        allocator.states(twilio(0).e164)
    with pytest.raises(numsim.InvalidNumberError, match="no country code"):
        allocator.states(["4155550100"])


def test_a_subset_reads_no_other_number(make_allocator, request, monkeypatch):
    """Memory: only the wanted numbers are trimmed. Redis: every key of the other numbers
    is made a string, which any read of it refuses (WRONGTYPE), and the subset still
    reads."""
    allocator, numbers, removed, _ = busy_pool(make_allocator)
    _, full = allocator.states()
    wanted = [twilio(1).e164, removed]
    others = [n.e164 for n in numbers if n.e164 not in wanted]
    backend = allocator.backend
    if isinstance(backend, RedisBackend):
        client = redis.Redis.from_url(request.getfixturevalue("redis_server").url)
        poisoned = 0
        for e164 in others:
            for key in client.scan_iter(match=f"{{{backend.namespace}}}:*:{e164}"):
                client.delete(key)
                client.set(key, "not a number's state")
                poisoned += 1
        assert poisoned >= len(others)  # each has its settings' hash at least
        assert allocator.states(wanted)[1] == {e164: full[e164] for e164 in wanted}
        assert allocator.in_use(twilio(1).e164) == 1  # RedisBackend.in_use reads one number
        with pytest.raises(numsim.BackendUnavailable, match="WRONGTYPE"):
            allocator.states()  # the full read does read them
        return
    trimmed = []
    trim = memory._Number.trim
    monkeypatch.setattr(
        memory._Number, "trim", lambda n, now: trimmed.append(n.e164) or trim(n, now)
    )
    assert allocator.states(wanted)[1] == {e164: full[e164] for e164 in wanted}
    assert trimmed == wanted
    trimmed.clear()
    allocator.states()
    assert sorted(trimmed) == sorted(full)  # the full read does trim them all
