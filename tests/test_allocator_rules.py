"""Each rule the allocator enforces, each refusal reason, and the exact retry_after."""

import pickle
from datetime import UTC, datetime

import pytest

import numsim
from conftest import IN, START, UK, US, exotel, india, plivo, pool, twilio, us
from numsim import (
    DestinationLimit,
    InvalidNumberError,
    NoNumberAvailable,
    OutboundNumber,
    UnknownTemplateError,
)

FRONTS = ("sync", "async")  # every test here runs through both (conftest.AsyncFront)


def refusal(allocator, template, destination):
    with pytest.raises(NoNumberAvailable) as caught:
        allocator.acquire(template, destination)
    return caught.value


def test_a_twilio_number_carries_one_call_whatever_its_channel_count(make_allocator):
    number = twilio(0, max_concurrent_calls=5)
    allocator = make_allocator([number], {"t": pool(number)})
    lease = allocator.acquire("t", us(1))
    assert lease.number == number.e164 and allocator.in_use(number.e164) == 1
    error = refusal(allocator, "t", us(2))
    assert error.reason == "busy" and error.reasons == {number.e164: "busy"}
    assert error.retry_after is None  # only a release frees it
    allocator.release(lease)
    assert allocator.acquire("t", us(2)).number == number.e164


def test_plivo_and_exotel_count_channels_up_to_their_capacity(make_allocator):
    numbers = [plivo(0, channels=3), exotel(0, channels=2)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    leases = [allocator.acquire("t", india(i)) for i in range(5)]
    assert allocator.in_use(numbers[0].e164) == 3
    assert allocator.in_use(numbers[1].e164) == 2
    assert refusal(allocator, "t", india(9)).reasons == {n.e164: "busy" for n in numbers}
    for lease in leases:
        assert allocator.release(lease)
    assert [allocator.in_use(n.e164) for n in numbers] == [0, 0]


def test_hourly_cap_is_a_true_rolling_window(make_allocator, clock):
    number = plivo(0, channels=10, max_calls_per_hour=3)
    allocator = make_allocator([number], {"t": pool(number)})
    for i, offset in enumerate((0, 10, 20)):
        clock.advance(offset - (clock() - START))
        allocator.release(allocator.acquire("t", india(i)))
    error = refusal(allocator, "t", india(5))
    assert (error.reason, error.reasons) == ("hourly_cap", {number.e164: "hourly_cap"})
    assert error.retry_after == pytest.approx(3600 - 20)
    clock.advance(3600 - 20 - 1e-3)  # one millisecond before the first call's hour ends
    assert refusal(allocator, "t", india(5)).retry_after == pytest.approx(1e-3, abs=1e-6)
    clock.advance(1e-3)  # t = 3600: the call made at t = 0 leaves the window
    allocator.acquire("t", india(5))
    assert refusal(allocator, "t", india(6)).retry_after == pytest.approx(10)


def test_hourly_cap_is_not_a_clock_hour_bucket(make_allocator, clock):
    number = plivo(0, channels=5, max_calls_per_hour=1)
    allocator = make_allocator([number], {"t": pool(number)})
    clock.advance(3599 - (START % 3600))  # hh:59:59
    allocator.acquire("t", india(1))
    clock.advance(2)  # the next clock hour has begun, the rolling hour has not
    assert refusal(allocator, "t", india(2)).reason == "hourly_cap"


def test_daily_cap_is_a_rolling_day(make_allocator, clock):
    number = plivo(0, channels=5, max_calls_per_day=2)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.release(allocator.acquire("t", india(1)))
    clock.advance(5 * 3600)
    allocator.release(allocator.acquire("t", india(2)))
    error = refusal(allocator, "t", india(3))
    assert error.reason == "daily_cap"
    assert error.retry_after == pytest.approx(19 * 3600)
    clock.advance(19 * 3600)
    assert allocator.acquire("t", india(3)).number == number.e164


def test_hourly_and_daily_caps_together_wait_for_the_later_one(make_allocator, clock):
    number = plivo(0, channels=5, max_calls_per_hour=1, max_calls_per_day=1)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.release(allocator.acquire("t", india(1)))
    error = refusal(allocator, "t", india(2))
    assert error.reason == "daily_cap" and error.retry_after == pytest.approx(86400)


def test_retry_after_is_the_earliest_capped_number_with_a_free_channel(make_allocator, clock):
    a, b, c = (plivo(i, channels=2, max_calls_per_hour=1) for i in range(3))
    allocator = make_allocator([a, b, c], {"t": pool(a, b, c)})
    allocator.acquire("t", india(0))  # t = 0
    clock.advance(100)
    allocator.acquire("t", india(1))  # t = 100
    clock.advance(100)
    allocator.acquire("t", india(2))  # t = 200
    error = refusal(allocator, "t", india(3))
    assert set(error.reasons.values()) == {"hourly_cap"}
    assert error.retry_after == pytest.approx(3600 - 200)


def test_a_capped_and_busy_number_needs_a_release_too(make_allocator):
    number = twilio(0, max_calls_per_hour=1)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.acquire("t", us(1))
    error = refusal(allocator, "t", us(2))
    assert error.reasons == {number.e164: "hourly_cap"}
    assert error.retry_after is None  # time alone will not free it: the call holds it


def test_a_capped_number_that_fills_up_stops_offering_a_retry_time(make_allocator):
    # Capped with a channel free (time would free it), then its last channel is taken.
    number = plivo(0, channels=2, max_calls_per_hour=1)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.acquire("t", IN)
    assert refusal(allocator, "t", india(1)).retry_after == pytest.approx(3600)
    allocator.acquire_inbound(number.e164)
    error = refusal(allocator, "t", india(1))
    assert error.reasons == {number.e164: "hourly_cap"} and error.retry_after is None


def test_destination_limit_counts_one_person_across_numbers_and_templates(make_allocator, clock):
    a, b = twilio(0), twilio(1)
    allocator = make_allocator(
        [a, b],
        {"x": pool(a), "y": pool(b)},
        destination_limit=DestinationLimit(max_calls=2, per_seconds=3600),
    )
    allocator.release(allocator.acquire("x", "+1 212 555 0143"))
    clock.advance(60)
    allocator.release(allocator.acquire("y", "+1 (212) 555-0143"))
    error = refusal(allocator, "x", "+12125550143")
    assert (error.reason, error.reasons) == ("destination_limit", {})
    assert error.retry_after == pytest.approx(3600 - 60)
    assert allocator.acquire("x", us(9)).number == a.e164  # other people still get through
    clock.advance(3600 - 60)
    assert allocator.acquire("y", "+12125550143").number == b.e164


@pytest.mark.parametrize("max_calls", [0, -1, 1.5, True])
def test_destination_limit_validates(max_calls):
    with pytest.raises(ValueError, match="max_calls"):
        DestinationLimit(max_calls, 60)
    with pytest.raises(ValueError, match="per_seconds"):
        DestinationLimit(1, 0)


def test_compliance_india_needs_trai_and_us_needs_stir_shaken(make_allocator):
    unregistered = plivo(0, trai_registered=False)
    registered = plivo(1, channels=1)
    us_unattested = twilio(0, stir_shaken_attested=False)
    numbers = [unregistered, registered, us_unattested]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    assert allocator.acquire("t", IN).number == registered.e164
    error = refusal(allocator, "t", india(2))
    assert error.reasons == {
        unregistered.e164: "not_compliant",
        registered.e164: "busy",
        us_unattested.e164: "not_compliant",
    }
    error = refusal(allocator, "t", US)
    assert error.reason == "not_compliant"
    assert set(error.reasons.values()) == {"not_compliant"}
    assert allocator.acquire("t", UK).number in (unregistered.e164, us_unattested.e164)


def test_by_default_canada_needs_stir_shaken_as_the_us_does(make_allocator):
    # CRTC requires STIR/SHAKEN on Canadian calls too: +1 is not only the US.
    unattested = twilio(0, stir_shaken_attested=False)
    attested = twilio(1, stir_shaken_attested=True)
    allocator = make_allocator([unattested, attested], {"t": pool(unattested, attested)})
    toronto = "+14165550123"
    assert allocator.acquire("t", toronto).number == attested.e164
    error = refusal(allocator, "t", "+14165550124")
    assert error.reasons == {unattested.e164: "not_compliant", attested.e164: "busy"}


def test_compliance_can_be_turned_off_or_changed(make_allocator):
    number = twilio(0, stir_shaken_attested=False)
    off = make_allocator([number], {"t": pool(number)}, compliance=False)
    assert off.acquire("t", US).number == number.e164
    canada = make_allocator([number], {"t": pool(number)}, compliance={"CA": "stir_shaken"})
    assert canada.acquire("t", US).number == number.e164
    assert refusal(canada, "t", "+14165550123").reason == "not_compliant"
    with pytest.raises(ValueError, match="compliance for 'CA'"):
        make_allocator([number], {"t": pool(number)}, compliance={"CA": "gold"})


def test_calling_hours_use_the_destinations_local_time(make_allocator, clock):
    number = twilio(0)
    allocator = make_allocator(
        [number], {"t": pool(number)}, calling_hours=numsim.DEFAULT_CALLING_HOURS
    )
    # 12:00 UTC is 07:00 in New York: one hour before 08:00.
    error = refusal(allocator, "t", US)
    assert (error.reason, error.reasons) == ("calling_hours", {})
    assert error.retry_after == pytest.approx(3600)
    # San Francisco is 04:00: four hours to wait.
    assert refusal(allocator, "t", "+14155550199").retry_after == pytest.approx(4 * 3600)
    clock.advance(3600)
    assert allocator.acquire("t", US).number == number.e164


def test_calling_hours_close_at_the_end_and_reopen_next_day(make_allocator, clock):
    number = plivo(0)
    allocator = make_allocator(
        [number], {"t": pool(number)}, calling_hours={"IN": ("09:00", "21:00")}
    )
    # START is 17:30 IST; 21:00 IST is 3.5 h later.
    clock.advance(3.5 * 3600 - 1)
    allocator.acquire("t", IN)
    clock.advance(1)
    assert refusal(allocator, "t", india(1)).retry_after == pytest.approx(12 * 3600)
    assert allocator.acquire("t", UK).number == number.e164  # no rule for the UK


@pytest.mark.parametrize(
    ("start_utc_hour", "wait_hours"),
    [
        (10.5, 1.5),  # 06:30 EDT, after the change: 08:00 EDT is 12:00 UTC
        (5, 7),  # 00:00 EST, before the 02:00 change: still 12:00 UTC, not 13:00
    ],
)
def test_calling_hours_across_a_dst_change(make_allocator, start_utc_hour, wait_hours):
    # 2027-03-14 is the US spring-forward day.
    start = datetime(2027, 3, 14, tzinfo=UTC).timestamp() + start_utc_hour * 3600
    number = twilio(0)
    allocator = make_allocator(
        [number],
        {"t": pool(number)},
        clock=numsim.ManualClock(start),
        calling_hours={"US": ("08:00", "21:00")},
    )
    assert refusal(allocator, "t", US).retry_after == pytest.approx(wait_hours * 3600)


@pytest.mark.parametrize(
    "hours", [{"IN": ("9am", "21:00")}, {"India": ("09:00", "21:00")}, {"IN": ("09:00", "09:00")}]
)
def test_bad_calling_hours_are_refused(hours):
    with pytest.raises(ValueError, match="calling hours"):
        numsim.Allocator([], {}, calling_hours=hours)


def test_invalid_destination_and_unknown_template_are_errors_not_refusals(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    with pytest.raises(InvalidNumberError, match="destination '2125550143'"):
        allocator.acquire("t", "2125550143")
    with pytest.raises(InvalidNumberError, match="destination"):
        allocator.acquire("t", 2125550143)
    with pytest.raises(UnknownTemplateError, match="'nope'"):
        allocator.acquire("nope", US)
    assert allocator.in_use(number.e164) == 0


def test_a_template_whose_numbers_are_all_gone_refuses_with_empty_pool(make_allocator):
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)})
    allocator.unassign("t", [number.e164])
    assert refusal(allocator, "t", US).reason == "empty_pool"


def test_construction_errors_name_the_problem():
    number = twilio(0)
    with pytest.raises(numsim.UnknownNumberError, match=r"\+14155550001"):
        numsim.Allocator([number], {"t": [number.e164, "+14155550001"]})
    with pytest.raises(ValueError, match="given twice"):
        numsim.Allocator([number, number], {})
    with pytest.raises(TypeError, match="OutboundNumber"):
        numsim.Allocator(["+14155550000"], {})
    with pytest.raises(ValueError, match="lease_ttl"):
        numsim.Allocator([number], {}, lease_ttl=0)
    with pytest.raises(ValueError, match="unknown strategy"):
        numsim.Allocator([number], {}, strategy="fastest")
    with pytest.raises(TypeError, match="DestinationLimit"):
        numsim.Allocator([number], {}, destination_limit=(1, 60))


def test_inbound_takes_a_channel_but_not_an_hourly_slot(make_allocator):
    number = plivo(0, channels=2, max_calls_per_hour=1)
    allocator = make_allocator([number], {"t": pool(number)})
    inbound = allocator.acquire_inbound("+91 22 4000 0000", call_id="cb-1")
    assert inbound.inbound and inbound.number == number.e164 and inbound.template is None
    outbound = allocator.acquire("t", IN)  # the hourly slot is still there
    assert allocator.in_use(number.e164) == 2
    with pytest.raises(NoNumberAvailable) as caught:
        allocator.acquire_inbound(number.e164)
    assert caught.value.reason == "busy"
    allocator.release(inbound)
    allocator.release(outbound)
    snapshot = allocator.snapshot().numbers[number.e164]
    assert (snapshot["in_use"], snapshot["calls_last_hour"]) == (0, 1)


def test_inbound_to_an_unknown_number(make_allocator):
    allocator = make_allocator([twilio(0)], {"t": pool(twilio(0))})
    with pytest.raises(numsim.UnknownNumberError):
        allocator.acquire_inbound("+14155559999")


def test_snapshot_and_counters(make_allocator, clock):
    numbers = [plivo(0, channels=2, max_calls_per_hour=5), twilio(0)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    lease = allocator.acquire("t", IN)
    allocator.acquire("t", india(1))
    with pytest.raises(NoNumberAvailable):
        allocator.acquire("t", india(2))
    allocator.release(lease)
    allocator.release(lease)
    snapshot = allocator.snapshot()
    row = snapshot.numbers[numbers[0].e164]
    assert row["in_use"] == 1 and row["capacity"] == 2 and row["calls_last_hour"] == 2
    assert row["status"] == "ready" and row["templates"] == ["t"]
    assert snapshot.counters["acquired"] == 2
    assert snapshot.counters["refused:busy"] == 1
    assert snapshot.counters["released"] == 1 and snapshot.counters["release_ignored"] == 1
    frame = snapshot.to_frame()
    assert frame.loc[numbers[0].e164, "in_use"] == 1
    assert snapshot.to_dict()["time"] == clock()
    clock.advance(3600)
    assert allocator.snapshot().numbers[numbers[0].e164]["calls_last_hour"] == 0


def test_number_accessors(make_allocator):
    number = OutboundNumber("+14155550100", "twilio")
    allocator = make_allocator([number], {"t": [number.e164]})
    assert allocator.numbers == {number.e164: number}
    assert allocator.templates == {"t": (number.e164,)}


@pytest.mark.parametrize(
    ("calls", "asked_at", "reason", "retry_after"),
    [
        # hourly cap 4, daily cap 6: the hour frees last, so it names the refusal
        ([(0, 2), (86_000, 4)], 86_004, "hourly_cap", 3_596),
        # the day frees last
        ([(0, 2), (3_600, 4)], 3_604, "daily_cap", 86_400 - 3_604),
        # both free at once: the daily cap
        ([(0, 2), (82_800, 4)], 82_804, "daily_cap", 3_596),
    ],
)
def test_both_caps_full_name_the_cap_that_frees_last(
    make_allocator, clock, calls, asked_at, reason, retry_after
):
    number = plivo(0, channels=10, max_calls_per_hour=4, max_calls_per_day=6)
    allocator = make_allocator([number], {"t": pool(number)})
    start = clock()
    dialled = 0
    for at, count in calls:
        clock.advance(start + at - clock())
        for _ in range(count):
            allocator.release(allocator.acquire("t", india(dialled)))
            dialled += 1
    clock.advance(start + asked_at - clock())
    error = refusal(allocator, "t", india(99))
    assert (error.reason, error.reasons) == (reason, {number.e164: reason})
    assert error.retry_after == pytest.approx(retry_after)
    assert allocator.snapshot().numbers[number.e164]["status"] == reason


def test_a_refusal_says_why_in_its_message_even_across_processes(make_allocator):
    """The message is built when read (a simulation makes thousands of refusals and
    prints none): it must still name the template, the destination, each number's
    reason and the wait, and survive pickling (a refusal sent between processes)."""
    number = twilio(0)
    allocator = make_allocator([number], {"t": pool(number)}, calling_hours=None)
    allocator.acquire("t", us(1))
    refused = allocator.try_acquire("t", us(2), explain=True)
    assert isinstance(refused, numsim.NoNumberAvailable)
    expected = f"no number of template 't' can take a call for {us(2)}: busy (1 busy)"
    assert str(refused) == expected
    assert repr(refused) == f"NoNumberAvailable({expected!r})"
    assert str(pickle.loads(pickle.dumps(refused))) == expected
    inbound = numsim.NoNumberAvailable("busy", destination=number.e164, retry_after=2.0)
    assert str(inbound) == f"{number.e164} cannot take an inbound call: busy; retry after 2.000 s"


def test_every_refusal_reason_is_declared_once_with_its_kind():
    """The waiting queue, the simulator and sizing read each reason's kind from one
    table: a reason missing from it (or a cap whose reason is not a shortage) would
    silently break first come, first served."""
    from numsim.allocator.refusal import KINDS, REASONS, SHORTAGE_REASONS, Kind
    from numsim.numbers import CAPS

    assert set(numsim.Reason) <= set(KINDS) and tuple(KINDS) == REASONS
    assert {spec.cap.reason for spec in CAPS} | {"busy"} == SHORTAGE_REASONS
    assert {KINDS[r] for r in ("not_compliant", "destination_limit", "calling_hours")} == {
        Kind.RULE
    }


def test_refusals_are_counted_by_template_and_reason_as_well_as_by_reason(make_allocator, clock):
    capped, busy = plivo(0, channels=2, max_calls_per_hour=1), twilio(0)
    allocator = make_allocator(
        [capped, busy],
        {"india:sales": pool(capped), "us": pool(busy), "empty": []},
        destination_limit=DestinationLimit(max_calls=1, per_seconds=60),
        calling_hours=numsim.DEFAULT_CALLING_HOURS,
    )
    clock.advance(2 * 3600)  # 09:00 in New York, 19:30 in India: both open
    allocator.acquire("india:sales", india(1))
    allocator.acquire("us", US)
    refusals = [
        ("india:sales", india(2), "hourly_cap"),
        ("india:sales", us(5), "not_compliant"),
        ("us", us(1), "busy"),
        ("us", india(3), "not_compliant"),
        ("us", US, "destination_limit"),
        ("empty", us(6), "empty_pool"),
    ]
    for template, destination, reason in refusals:
        with pytest.raises(NoNumberAvailable) as refused:
            allocator.acquire(template, destination)
        assert refused.value.reason == reason
    clock.advance(12 * 3600)  # night in New York
    with pytest.raises(NoNumberAvailable, match="calling_hours"):
        allocator.acquire("us", us(2))
    counters = allocator.snapshot().counters
    by_template = {k: v for k, v in counters.items() if k.startswith("refused_in:")}
    assert by_template == {
        "refused_in:india:sales:hourly_cap": 1,
        "refused_in:india:sales:not_compliant": 1,
        "refused_in:us:busy": 1,
        "refused_in:us:not_compliant": 1,
        "refused_in:us:destination_limit": 1,
        "refused_in:empty:empty_pool": 1,
        "refused_in:us:calling_hours": 1,
    }
    totals = {k: v for k, v in counters.items() if k.startswith("refused:")}
    assert totals == {
        "refused:hourly_cap": 1,
        "refused:not_compliant": 2,
        "refused:busy": 1,
        "refused:destination_limit": 1,
        "refused:empty_pool": 1,
        "refused:calling_hours": 1,
    }


def test_find_templates_of_states_and_counters_read_one_number_or_the_state(make_allocator):
    a, b = plivo(0), plivo(1)
    allocator = make_allocator([a, b], {"t": pool(a, b), "u": pool(b)})
    assert allocator.find(b.e164) == b and allocator.find("+91 22 4000 0001") == b
    assert allocator.find("+912240099999") is None
    assert allocator.templates_of(b.e164) == ["t", "u"] and allocator.templates_of(a.e164) == ["t"]
    lease = allocator.acquire("u", IN)
    _, states = allocator.states()
    snapshot = allocator.snapshot()
    assert states[lease.number].in_use == snapshot.numbers[lease.number]["in_use"] == 1
    assert allocator.counters() == snapshot.counters and snapshot.counters["acquired"] == 1
