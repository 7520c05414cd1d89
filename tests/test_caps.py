"""Caps as data: a backend takes a number's caps as rows (reason, window, limit) and
enforces any of them with the same code, on both backends (conftest.BACKENDS); and a
Redis namespace written before caps were data keeps counting its calls."""

import uuid

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

import numsim
from conftest import plivo, pool
from numsim.allocator import DEFAULT_LEASE_TTL, Cap, NumberSpec, Policy, Refusal
from numsim.allocator.redis import RedisBackend

T0 = 1_700_000_000.0
NUMBER = "+14155550100"


def backend_with(backend_factory, *caps, capacity=5):
    backend = backend_factory()
    backend.configure(Policy("least_loaded", 600.0, None, None))
    backend.put_number(NumberSpec(NUMBER, capacity, caps), {"t": ["*"]}, T0)
    return backend


def grant(backend, now, destination="+12125550001"):
    return backend.grant("t", ["*"], destination, now, explain=True)


def test_a_third_window_holds_refuses_with_its_reason_and_frees_on_time(backend_factory):
    minute = Cap("minute_cap", 60.0, 2)
    backend = backend_with(backend_factory, Cap("hourly_cap", 3600.0, 10), minute)
    assert not isinstance(grant(backend, T0), Refusal)
    assert not isinstance(grant(backend, T0 + 10), Refusal)
    refusal = grant(backend, T0 + 20)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "minute_cap" and refusal.statuses == {NUMBER: "minute_cap"}
    assert refusal.retry_at == pytest.approx(T0 + 60)  # the first call leaves the minute
    state = backend.numbers(T0 + 20)[NUMBER]
    assert (state.status, dict(state.calls)) == ("minute_cap", {3600.0: 2, 60.0: 2})
    assert isinstance(grant(backend, T0 + 59.999), Refusal)
    assert not isinstance(grant(backend, T0 + 60), Refusal)  # t + window <= now: gone
    state = backend.numbers(T0 + 60)[NUMBER]
    assert (state.status, dict(state.calls)) == ("minute_cap", {3600.0: 3, 60.0: 2})


@pytest.mark.parametrize("listed", ["shorter first", "longer first"])
def test_of_caps_freeing_at_once_the_longer_window_names_the_refusal(backend_factory, listed):
    caps = [Cap("short_cap", 60.0, 1), Cap("long_cap", 120.0, 2)]
    backend = backend_with(backend_factory, *(caps if listed == "shorter first" else caps[::-1]))
    grant(backend, T0)
    grant(backend, T0 + 60)  # short frees at T0 + 120, long at T0 + 120 too
    refusal = grant(backend, T0 + 61)
    assert (refusal.reason, refusal.retry_at) == ("long_cap", pytest.approx(T0 + 120))


def test_of_full_caps_the_one_that_frees_last_names_the_refusal(backend_factory):
    backend = backend_with(backend_factory, Cap("long_cap", 120.0, 2), Cap("short_cap", 60.0, 1))
    grant(backend, T0)
    grant(backend, T0 + 70)  # long frees at T0 + 120, short at T0 + 130
    refusal = grant(backend, T0 + 71)
    assert (refusal.reason, refusal.retry_at) == ("short_cap", pytest.approx(T0 + 130))


@given(
    caps=st.lists(
        st.tuples(st.sampled_from([30.0, 60.0, 3600.0]), st.integers(1, 3)), min_size=1, max_size=3
    ),
    gaps=st.lists(st.integers(0, 70), min_size=1, max_size=12),
)
def test_both_backends_agree_on_any_caps(redis_server, caps, gaps):
    """Any rows, any calls: the memory backend and the Lua hold, refuse, name and free
    alike (whole seconds, so caps often free at the same moment)."""
    rows = [Cap(f"cap{i}", window, limit) for i, (window, limit) in enumerate(caps)]
    memory = backend_with(numsim.MemoryBackend, *rows, capacity=1)
    space = f"test-{uuid.uuid4().hex}"
    on_redis = backend_with(
        lambda: RedisBackend(
            redis_server.url, namespace=space, clock="client", max_clock_skew=None
        ),
        *rows,
        capacity=1,
    )
    now = T0
    for gap in gaps:
        now += gap
        outcomes = []
        for backend in (memory, on_redis):
            outcome = grant(backend, now)
            if not isinstance(outcome, Refusal):
                backend.release(outcome[0], NUMBER, now)
                outcome = "granted"
            else:
                outcome = (outcome.reason, outcome.retry_at, outcome.statuses)
            state = backend.numbers(now)[NUMBER]
            outcomes.append((outcome, state.status, dict(state.calls)))
        assert outcomes[0] == outcomes[1]
    on_redis.close()


def test_the_hour_window_is_kept_without_an_hourly_cap(backend_factory):
    backend = backend_with(backend_factory)  # no caps
    for i in range(3):
        grant(backend, T0 + i)
    assert dict(backend.numbers(T0 + 5)[NUMBER].calls) == {3600.0: 3}
    # a cap set later counts the calls already made
    backend.put_number(NumberSpec(NUMBER, 5, (Cap("hourly_cap", 3600.0, 3),)), {"t": ["*"]}, T0 + 6)
    assert grant(backend, T0 + 7).reason == "hourly_cap"


@pytest.mark.parametrize(
    ("cap", "problem"),
    [
        (Cap("two words", 60.0, 1), "reason"),
        (Cap("", 60.0, 1), "reason"),
        (Cap("minute_cap", 0.0, 1), "window"),
        (Cap("minute_cap", float("inf"), 1), "window"),
        (Cap("minute_cap", 60.0, 0), "limit"),
        (Cap("minute_cap", 60.0, 1.5), "limit"),
    ],
)
def test_a_bad_cap_is_refused_naming_what_is_wrong(cap, problem):
    with pytest.raises(ValueError, match=problem):
        NumberSpec(NUMBER, 1, (cap,))


# -- a namespace written by numsim before caps were data ----------------------------------
# It kept a number's caps in fields hcap and dcap of {ns}:n:<e164> and its calls in the
# sorted sets {ns}:h:<e164> and {ns}:d:<e164>, scored by the call's time in microseconds.


def _old_calls(client, space, e164, *times):
    for window in ("h", "d"):
        for i, at in enumerate(times):
            client.zadd(f"{{{space}}}:{window}:{e164}", {f"old-{i}": int(at * 1_000_000)})


def test_calls_counted_by_the_previous_version_keep_counting(redis_server):
    space, client = f"test-{uuid.uuid4().hex}", redis.Redis.from_url(redis_server.url)
    number = plivo(0, channels=3, max_calls_per_hour=2, max_calls_per_day=3)
    _old_calls(client, space, number.e164, T0 - 1200, T0 - 600)
    clock = numsim.ManualClock(T0)
    backend = RedisBackend(client, namespace=space, clock="client", max_clock_skew=None)
    allocator = numsim.Allocator([number], {"t": pool(number)}, backend=backend, clock=clock)
    with pytest.raises(numsim.NoNumberAvailable) as refused:
        allocator.acquire("t", "+919876500001")
    assert refused.value.reason == "hourly_cap"
    assert refused.value.retry_after == pytest.approx(2400)
    clock.advance(2400)
    allocator.acquire("t", "+919876500002")  # the hour holds 2, the day 3 now
    with pytest.raises(numsim.NoNumberAvailable) as refused:
        allocator.acquire("t", "+919876500003")
    assert refused.value.reason == "daily_cap"
    row = allocator.snapshot().numbers[number.e164]
    assert (row["calls_last_hour"], row["calls_last_day"]) == (2, 3)
    allocator.close()


def test_a_number_only_the_previous_version_wrote_is_read_in_place(redis_server):
    space, client = f"test-{uuid.uuid4().hex}", redis.Redis.from_url(redis_server.url)
    number = plivo(0, channels=3, max_calls_per_hour=2, max_calls_per_day=3)
    _old_calls(client, space, number.e164, T0 - 1200, T0 - 600)
    clock = numsim.ManualClock(T0)
    writer = RedisBackend(client, namespace=space, clock="client", max_clock_skew=None)
    numsim.Allocator([number], {"t": pool(number)}, backend=writer, clock=clock).close()
    settings = f"{{{space}}}:n:{number.e164}"  # as the previous version wrote it
    client.hdel(settings, "caps")
    client.hset(settings, mapping={"hcap": 2, "dcap": 3})

    reader = RedisBackend(client, namespace=space, clock="client", max_clock_skew=None)
    reader.configure(Policy("least_loaded", DEFAULT_LEASE_TTL, None, None))  # the writer's
    refusal = reader.grant("t", ["*"], "+919876500001", T0)
    assert (refusal.reason, refusal.retry_at) == ("hourly_cap", pytest.approx(T0 + 2400))
    assert reader._numbers[number.e164][0].caps == (
        Cap("hourly_cap", 3600.0, 2),
        Cap("daily_cap", 86400.0, 3),
    )
    assert not isinstance(reader.grant("t", ["*"], "+919876500002", T0 + 2400), Refusal)
    state = reader.numbers(T0 + 2401)[number.e164]
    assert (state.status, dict(state.calls)) == ("daily_cap", {3600.0: 2, 86400.0: 3})
    reader.close()


def test_a_number_without_caps_is_told_apart_from_one_with_old_caps(redis_server):
    """put_number drops the previous version's fields: they never override caps lifted."""
    space, client = f"test-{uuid.uuid4().hex}", redis.Redis.from_url(redis_server.url)
    capped = plivo(0, channels=3, max_calls_per_hour=1)
    clock = numsim.ManualClock(T0)
    backend = RedisBackend(client, namespace=space, clock="client", max_clock_skew=None)
    allocator = numsim.Allocator([capped], {"t": pool(capped)}, backend=backend, clock=clock)
    client.hset(f"{{{space}}}:n:{capped.e164}", "hcap", 1)  # left by an older numsim
    allocator.add_number(plivo(0, channels=3))  # the cap lifted
    for i in range(3):
        allocator.acquire("t", f"+91987650000{i}")
    assert client.hget(f"{{{space}}}:n:{capped.e164}", "hcap") is None
    allocator.close()
