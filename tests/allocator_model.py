"""A Hypothesis state machine that drives an Allocator and checks it against an
independent model of every rule (the oracle), on a manual clock.

Each backend's test module subclasses AllocatorMachine with its own `make_backend`.
"""

from collections import defaultdict

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

import numsim
from numsim import DestinationLimit, NoNumberAvailable, OutboundNumber

START = 1_800_000_000.0
TTL = 1200.0
LIMIT = DestinationLimit(2, 900)
NUMBERS = [
    OutboundNumber("+14155550100", "twilio", max_calls_per_hour=2, stir_shaken_attested=True),
    OutboundNumber("+14155550101", "twilio", max_concurrent_calls=4),
    OutboundNumber(
        "+912240000011",
        "plivo",
        max_concurrent_calls=3,
        max_calls_per_hour=4,
        max_calls_per_day=6,
        trai_registered=True,
    ),
    OutboundNumber("+912240000012", "plivo", max_concurrent_calls=2),
    OutboundNumber("+918045000001", "exotel", max_concurrent_calls=2, trai_registered=True),
]
TEMPLATES = {
    "a": [NUMBERS[0].e164, NUMBERS[1].e164, NUMBERS[2].e164, NUMBERS[4].e164],
    "b": [NUMBERS[1].e164, NUMBERS[2].e164, NUMBERS[3].e164],
}
DESTINATIONS = [
    "+919876543210",
    "+91 98765 43211",
    "+12125550143",
    "+1 212 555 0144",
    "+442079460018",
]
NEEDS = {"+91": "trai_registered", "+1": "stir_shaken_attested"}
STEPS = [0.5, 10, 60, 299, 300, 900, TTL, 1800, 3600, 4000, 40_000, 82_400]


def canonical(destination):
    return destination.replace(" ", "")


def needed_flag(destination):
    for prefix, flag in NEEDS.items():
        if canonical(destination).startswith(prefix):
            return flag
    return None


class AllocatorMachine(RuleBasedStateMachine):
    """Random acquire / release / renew / inbound / clock / pool-change sequences."""

    leases = Bundle("leases")

    def make_backend(self):
        return numsim.MemoryBackend()

    def __init__(self):
        super().__init__()
        self.clock = numsim.ManualClock(START)
        self.allocator = numsim.Allocator(
            NUMBERS,
            TEMPLATES,
            backend=self.make_backend(),
            clock=self.clock,
            destination_limit=LIMIT,
            lease_ttl=TTL,
        )
        self.by_e164 = {n.e164: n for n in NUMBERS}
        self.pools = {t: set(p) for t, p in TEMPLATES.items()}
        self.removed = {}  # e164 -> templates it served
        self.live = {}  # lease id -> lease (model: live while now < expires_at)
        self.calls = defaultdict(list)  # e164 -> outbound acquisition times
        self.dials = defaultdict(list)  # destination -> acquisition times

    # -- the model --------------------------------------------------------------------

    def now(self):
        return self.clock()

    def expire(self):
        now = self.now()
        for lease_id in [i for i, lease in self.live.items() if lease.expires_at <= now]:
            del self.live[lease_id]

    def busy(self, e164):
        return sum(lease.number == e164 for lease in self.live.values())

    def window(self, times, seconds):
        now = self.now()
        return [t for t in times if t > now - seconds]

    def status(self, number, destination):
        flag = needed_flag(destination)
        if flag and not getattr(number, flag):
            return "not_compliant"
        # Of two full caps, the one that frees last names the refusal (daily on a tie).
        frees = {}
        times = self.calls[number.e164]
        for why, cap, seconds in (
            ("hourly_cap", number.max_calls_per_hour, 3600),
            ("daily_cap", number.max_calls_per_day, 86400),
        ):
            inside = self.window(times, seconds)
            if cap is not None and len(inside) >= cap:
                frees[why] = inside[-cap] + seconds
        if frees:
            return max(frees, key=lambda why: (frees[why], why == "daily_cap"))
        return "busy" if self.busy(number.e164) >= number.capacity else "ready"

    def free_at(self, number):
        times = self.calls[number.e164]
        at = None
        for cap, seconds in ((number.max_calls_per_hour, 3600), (number.max_calls_per_day, 86400)):
            inside = self.window(times, seconds)
            if cap is not None and len(inside) >= cap:
                candidate = inside[-cap] + seconds
                at = candidate if at is None else max(at, candidate)
        return at

    # -- rules --------------------------------------------------------------------------

    @rule(
        target=leases,
        template=st.sampled_from(sorted(TEMPLATES)),
        who=st.sampled_from(DESTINATIONS),
    )
    def acquire(self, template, who):
        self.expire()
        destination = canonical(who)
        dialled = len(self.window(self.dials[destination], LIMIT.per_seconds))
        pool = [self.by_e164[e] for e in sorted(self.pools[template])]
        statuses = {n.e164: self.status(n, destination) for n in pool}
        try:
            lease = self.allocator.acquire(template, who)
        except NoNumberAvailable as refusal:
            if refusal.reason == "destination_limit":
                assert dialled >= LIMIT.max_calls
                oldest = self.window(self.dials[destination], LIMIT.per_seconds)[-LIMIT.max_calls]
                assert abs(refusal.retry_after - (oldest + LIMIT.per_seconds - self.now())) < 1e-6
                return None
            assert dialled < LIMIT.max_calls
            assert "ready" not in statuses.values(), (statuses, refusal)
            assert refusal.reasons == statuses
            eligible = [n for n in pool if statuses[n.e164] != "not_compliant"]
            if not pool:
                assert refusal.reason == "empty_pool"
            elif not eligible:
                assert refusal.reason == "not_compliant"
            waits = [
                self.free_at(n) - self.now()
                for n in eligible
                if self.free_at(n) is not None and self.busy(n.e164) < n.capacity
            ]
            if waits:
                assert abs(refusal.retry_after - min(waits)) < 1e-6, (refusal, waits)
                assert refusal.reason in ("hourly_cap", "daily_cap")
            else:
                assert refusal.retry_after is None
            return None
        assert statuses[lease.number] == "ready", (statuses, lease)
        assert dialled < LIMIT.max_calls
        assert lease.template == template and lease.destination == destination
        self.calls[lease.number].append(self.now())
        self.dials[destination].append(self.now())
        self.live[lease.id] = lease
        return lease

    @rule(lease=leases)
    def release(self, lease):
        if lease is None:
            return
        self.expire()
        assert self.allocator.release(lease) == (lease.id in self.live)
        self.live.pop(lease.id, None)

    @rule(lease=leases)
    def renew(self, lease):
        if lease is None:
            return
        self.expire()
        assert self.allocator.renew(lease) == (lease.id in self.live)
        if lease.id in self.live:
            assert lease.expires_at == self.now() + TTL

    @rule(index=st.integers(0, len(NUMBERS) - 1))
    def inbound(self, index):
        self.expire()
        number = NUMBERS[index]
        if number.e164 in self.removed:
            return
        try:
            lease = self.allocator.acquire_inbound(number.e164)
        except NoNumberAvailable:
            assert self.busy(number.e164) >= number.capacity
            return
        assert self.busy(number.e164) < number.capacity
        self.live[lease.id] = lease

    @rule(seconds=st.sampled_from(STEPS))
    def advance(self, seconds):
        self.clock.advance(seconds)

    @rule(index=st.integers(0, len(NUMBERS) - 1))
    def remove_number(self, index):
        e164 = NUMBERS[index].e164
        if e164 in self.removed:
            return
        self.allocator.remove_number(e164)
        self.removed[e164] = {t for t, p in self.pools.items() if e164 in p}
        for pool in self.pools.values():
            pool.discard(e164)

    @precondition(lambda self: self.removed)
    @rule(data=st.data())
    def add_back(self, data):
        e164 = data.draw(st.sampled_from(sorted(self.removed)))
        templates = self.removed.pop(e164)
        self.allocator.add_number(self.by_e164[e164], templates=templates)
        for template in templates:
            self.pools[template].add(e164)

    @rule(template=st.sampled_from(sorted(TEMPLATES)), index=st.integers(0, len(NUMBERS) - 1))
    def toggle_assignment(self, template, index):
        e164 = NUMBERS[index].e164
        if e164 in self.removed:
            return
        if e164 in self.pools[template]:
            self.allocator.unassign(template, [e164])
            self.pools[template].discard(e164)
        else:
            self.allocator.assign(template, [e164])
            self.pools[template].add(e164)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def channels_match_the_model_and_never_exceed_capacity(self):
        self.expire()
        for number in NUMBERS:
            busy = self.busy(number.e164)
            assert busy <= number.capacity
            if number.e164 not in self.removed or busy:
                assert self.allocator.in_use(number.e164) == busy

    @invariant()
    def no_rolling_window_holds_more_than_its_cap(self):
        for number in NUMBERS:
            times = self.calls[number.e164]
            for cap, seconds in (
                (number.max_calls_per_hour, 3600),
                (number.max_calls_per_day, 86400),
            ):
                if cap is not None:
                    assert all(
                        sum(start <= t < start + seconds for t in times) <= cap for start in times
                    )
        for times in self.dials.values():
            assert all(
                sum(s <= t < s + LIMIT.per_seconds for t in times) <= LIMIT.max_calls for s in times
            )

    def teardown(self):
        for lease in list(self.live.values()):
            assert self.allocator.release(lease)
        for number in NUMBERS:
            if number.e164 not in self.removed:
                assert self.allocator.in_use(number.e164) == 0
        self.allocator.close()
        super().teardown()
