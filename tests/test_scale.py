"""Planning at any scale: what keeps a waiting attempt's cost off the pool's size, and
`numsim size` answering (or saying why not in one line) over a grid of questions."""

import contextlib
import copy
import io
import itertools
import json
import pickle
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import numsim
from conftest import START, US, pool, twilio, us
from numsim.cli import main
from numsim.sim.pool import fake_destinations


@pytest.mark.parametrize("explain", [True, False])
def test_a_waiting_request_itemizes_its_refusal_only_when_asked(make_allocator, clock, explain):
    numbers = [twilio(i) for i in range(3)]
    allocator = make_allocator(numbers, {"t": pool(*numbers)})
    leases = [allocator.acquire("t", US) for _ in numbers]
    done = []
    allocator.request("t", US, timeout=5.0, callback=done.append, explain=explain)
    clock.advance(6.0)
    allocator.poll()
    (request,) = done
    assert request.error is not None and request.error.reason == "busy"
    if explain:
        assert request.error.reasons == {lease.number: "busy" for lease in leases}
    else:
        assert not request.error.reasons  # no pass over the pool for a caller who never reads it


def test_fake_destinations_are_built_once_per_process():
    first = fake_destinations("US", 500)
    again = fake_destinations("US", 500)
    assert first == again and first is not again  # a fresh list: callers may keep theirs
    assert len(set(first)) == 500 and all(d.startswith("+1") for d in first)


# A small grid of realistic questions: each gets an answer or one clear line, exit 1.
_GRID = [
    ["--provider", p, "--channels", str(ch), "--calls-per-hour", str(rate)]
    + ["--mean-duration", str(hold), "--max-wait", str(wait), "--service-level", str(level)]
    + (["--max-calls-per-hour", str(cap)] if cap else [])
    for p, ch, rate, hold, wait, level, cap in [
        ("twilio", 1, 600, 180, 30, 0.9, None),
        ("plivo", 10, 600, 60, 30, 0.99, 20),  # used to divide by an underflowed Erlang B
        ("plivo", 30, 10, 600, 10, 0.9, None),
        ("exotel", 5, 20000, 600, 60, 0.9, None),
        ("twilio", 1, 10, 30, 0, 0.999, 100),
        ("plivo", 2, 600, 30, 60, 0.8, 10),
        ("exotel", 1, 60, 90, 10, 0.95, 100),
    ]
] + [
    ["--calls-per-hour", "0"],
    ["--mean-duration", "1e308"],
    ["--max-wait", "1e12", "--calls-per-hour", "60"],
    ["--channels", "0"],
    ["--service-level", "1"],
    ["--provider", "plivo", "--channels", "100000", "--calls-per-hour", "10"],
    ["--max-calls-per-hour", "1", "--calls-per-hour", "100000"],  # over max_numbers: at once
    ["--calls-per-hour", "1e-9"],  # no run makes an attempt
]


@pytest.mark.parametrize("question", _GRID, ids=[" ".join(q) for q in _GRID])
def test_numsim_size_answers_or_says_why_in_one_line(question):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["size", *question, "--workers", "1", "--json"])
    if code == 0:
        answer = json.loads(out.getvalue())
        assert answer["numbers"] >= 1 and answer["found_by"] in ("formula", "simulation")
    else:
        assert code == 1
        lines = err.getvalue().strip().splitlines()
        lines = [line for line in lines if not line.startswith("numsim: warning:")]
        assert len(lines) == 1 and lines[0].startswith("numsim"), err.getvalue()
        assert "Traceback" not in err.getvalue()


def test_the_grid_covers_each_kind_of_question():
    flags = set(itertools.chain.from_iterable(_GRID))
    assert {"--max-calls-per-hour", "--max-wait", "--channels", "--provider"} <= flags
    assert numsim.planning.erlang_b(1, 100_000) == 0.0


def test_a_class_refused_for_want_of_numbers_is_not_tried_again_until_something_frees(clock):
    # In memory every free reaches this process; a Redis backend (frees by other
    # processes) tries every time, as before.
    numbers = [twilio(0)]
    allocator = numsim.Allocator(numbers, {"t": pool(*numbers)}, clock=clock)
    held = allocator.acquire("t", US, ttl=100.0)
    done = []
    for _ in range(3):
        allocator.request("t", US, timeout=50.0, ttl=10.0, callback=done.append)
    refused = allocator.backend.stats()["refused:busy"]
    for _ in range(5):
        clock.advance(1.0)
        allocator.poll()  # nothing freed: the head's refusal stands, without a try
    assert allocator.backend.stats()["refused:busy"] == refused and not done
    allocator.release(held)  # a channel frees: the head gets it at once
    assert [r.lease is not None for r in done] == [True]
    # The next frees by its lease's TTL alone (10 s), with no release to announce it.
    clock.advance(9.0)
    allocator.poll()
    assert len(done) == 1
    clock.advance(1.5)
    allocator.poll()
    assert [r.lease is not None for r in done] == [True, True]


def test_a_number_assigned_serves_a_class_that_was_refused(clock):
    first, second = twilio(0), twilio(1)
    templates = {"t": pool(first), "u": pool(second)}
    allocator = numsim.Allocator([first, second], templates, clock=clock)
    allocator.acquire("t", US)
    done = []
    allocator.request("t", US, timeout=30.0, callback=done.append)
    clock.advance(1.0)
    allocator.poll()
    assert not done
    allocator.assign("t", [second.e164])
    allocator.poll()
    assert done and done[0].lease.number == second.e164


def test_runs_with_the_same_routing_resolve_each_destination_once_per_process():
    from numsim.sim import Arrivals, NumberGroup, Scenario
    from numsim.sim.engine import Engine

    scenario = Scenario(
        numbers=(NumberGroup(count=2),), arrivals=(Arrivals(calls_per_hour=60.0),), hours=1.0
    )
    first, second = Engine(scenario, 1), Engine(scenario, 2)
    assert first.allocator._rules is second.allocator._rules
    for changed in (
        scenario.replace(strategy="local_presence"),  # other groups to try
        scenario.replace(calling_hours="default"),  # other hours to check
        scenario.replace(compliance=False),  # no tag required
    ):
        assert Engine(changed, 1).allocator._rules is not first.allocator._rules


@settings(max_examples=10, deadline=None)
@given(
    provider=st.sampled_from(["twilio", "plivo", "exotel"]),
    channels=st.integers(1, 100_000),
    rate=st.floats(0, 5_000),
    duration=st.floats(0, 1e7),
    wait=st.sampled_from([0, 0.5, 10, 60, 1e6]),
    level=st.floats(0.01, 0.9999),
    cap=st.none() | st.integers(1, 1000),
)
# A rate that underflows per second once divided by 3,600: no arrival, not a crash.
@example(provider="twilio", channels=1, rate=5e-324, duration=1.0, wait=0.5, level=0.5, cap=None)
def test_any_accepted_question_in_short_runs_gets_an_answer_or_one_line(
    provider, channels, rate, duration, wait, level, cap
):
    question = [
        "--provider",
        provider,
        "--channels",
        str(channels),
        "--calls-per-hour",
        f"{rate!r}",
    ]
    question += ["--mean-duration", f"{duration!r}", "--max-wait", f"{wait!r}", "--hours", "0.02"]
    question += ["--service-level", f"{level!r}"] + (
        ["--max-calls-per-hour", str(cap)] if cap else []
    )
    test_numsim_size_answers_or_says_why_in_one_line(question)


class _WakeLog(numsim.ManualClock):
    """A manual clock that notes every time the allocator asks to be woken at."""

    def __init__(self, start):
        super().__init__(start)
        self.asked = []

    def call_at(self, when, callback):
        self.asked.append(when - START)
        super().call_at(when, callback)


def test_a_refusal_that_stands_wakes_its_class_at_its_own_retry_time_not_later():
    # A class refused by an hourly cap, polled while nothing frees, kept its refusal
    # with the retry_after of when it was made: each poll asked for a wake-up that much
    # later than its own time, and each such wake-up asked for another (a campaign's
    # waiting calls then woke millions of times for thousands of attempts).
    clock = _WakeLog(START)
    number = twilio(0, max_calls_per_hour=1)
    allocator = numsim.Allocator([number], {"t": pool(number)}, clock=clock)
    allocator.acquire("t", US, ttl=0.5)
    clock.advance(10.0)
    done = []
    for _ in range(2):
        allocator.request("t", US, timeout=3 * 3600.0, ttl=0.5, callback=done.append)
    for _ in range(5):
        clock.advance(1.0)
        allocator.poll()  # nothing freed: the refusal stands, retrying at 3,600 s
    clock.advance(3 * 3600.0)
    assert [request.lease is not None for request in done] == [True, True]
    cap_frees, leases_end, deadlines = {3600.0, 7200.0}, {0.5, 3600.5, 7200.5}, {10 + 3 * 3600.0}
    assert set(clock.asked) <= cap_frees | leases_end | deadlines, sorted(clock.asked)


def test_destinations_resolved_once_stand_in_for_their_numbers():
    """What the simulator passes per call: the same leases and refusals as the E.164
    would get, on every path; refused by an allocator with other rules; one tuple of
    groups per route, not one per person."""
    numbers = [twilio(0), twilio(1)]
    templates = {"t": pool(*numbers)}
    by_number = numsim.Allocator(numbers, templates, seed=7, clock=numsim.ManualClock(START))
    resolved = numsim.Allocator(numbers, templates, seed=7, clock=numsim.ManualClock(START))
    people = [us(i) for i in range(4)]
    targets = resolved.resolve(people)
    assert [t.e164 for t in targets] == people
    assert targets[0].groups is targets[3].groups
    first = by_number.try_grant("t", people[0], ttl=60.0)
    mine = resolved.try_grant("t", targets[0], ttl=60.0)
    assert mine[1:] == first[1:]  # all but the lease id
    assert (
        resolved.acquire("t", targets[1]).destination
        == by_number.acquire("t", people[1]).destination
    )
    refused = resolved.try_acquire("t", targets[2], explain=True)
    expected = by_number.try_acquire("t", people[2], explain=True)
    assert (refused.reason, refused.reasons) == (expected.reason, expected.reasons)
    done = []
    resolved.request("t", targets[3], timeout=10.0, callback=done.append)
    resolved.release(numsim.Lease(mine[0], mine[1], "t", mine[2], None, mine[3]))
    assert done and done[0].lease.destination == people[3]

    for copied in (pickle.loads(pickle.dumps(targets[0])), copy.deepcopy(targets[0])):
        assert copied.rules is targets[0].rules  # the process's own rules: still usable
        assert resolved.try_grant("t", copied) is not None
    with pytest.raises(TypeError, match="resolve takes a list of destinations, got one"):
        resolved.resolve(people[0])

    other_rules = numsim.Allocator(numbers, templates, compliance=False)
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(people[0])} was resolved by an allocator with other routing rules",
    ):
        other_rules.try_grant("t", targets[0])
    with pytest.raises(ValueError, match="12345"):
        resolved.resolve([people[0], "12345"])


def test_a_run_resolves_only_the_people_it_calls(monkeypatch):
    """A population of 200,000 in a short run: each person is parsed when first called,
    not all of them before the run (at 1,000,000: tens of seconds and hundreds of MB a
    run)."""
    from numsim.sim import Arrivals, NumberGroup, Scenario, simulate

    resolved = []
    resolve = numsim.Allocator.resolve

    def counted(self, destinations):
        destinations = list(destinations)
        resolved.extend(destinations)
        return resolve(self, destinations)

    monkeypatch.setattr(numsim.Allocator, "resolve", counted)
    scenario = Scenario(
        name="a million people",
        numbers=(NumberGroup(count=2),),
        arrivals=(Arrivals(calls_per_hour=60.0, population=200_000),),
        hours=1.0,
    )
    attempts = simulate(scenario, seed=1).summary()["attempts"]
    assert 0 < len(resolved) <= attempts


def test_fake_people_are_of_their_country_and_run_out_with_one_clear_error():
    """Canada's are Canadian (they were American), the US has enough for the largest
    population a scenario takes, and a country without enough says so."""
    from numsim.phone import phone_info
    from numsim.sim.pool import fake_destinations
    from numsim.sim.scenario import MAX_DESTINATIONS, ScenarioError

    assert {phone_info(e164).region for e164 in fake_destinations("CA", 50)} == {"CA"}
    us = fake_destinations("US", 120_000)  # past the ten first area codes' 100,000
    assert len(set(us)) == len(us) and {phone_info(us[-1]).region} == {"US"}
    assert us[:3] == ["+14155550000", "+12125550000", "+13125550000"]  # as always
    with pytest.raises(ScenarioError, match=r"population: numsim has [0-9,]+ fake numbers of CA"):
        fake_destinations("CA", MAX_DESTINATIONS)
