"""A Hypothesis state machine: dial, callbacks in any order (duplicated or lost),
provider failures, time passing and reconcile. At every step the channels in use
are exactly the calls still held; once every call has ended, reconcile and lease
expiry leave every channel free."""

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.conftest import START, pool, twilio
from tests.fake_provider import FakeAdapter

import numsim
from numsim.providers import CallStatus, ProviderError

TTL = 1000.0
RECONCILE_AFTER = 100.0
TERMINAL = [
    CallStatus.COMPLETED,
    CallStatus.BUSY,
    CallStatus.NO_ANSWER,
    CallStatus.FAILED,
    CallStatus.CANCELED,
]


class DialerMachine(RuleBasedStateMachine):
    LISTS_CALLS = True  # the provider lists live calls by number (Twilio)

    def __init__(self):
        super().__init__()
        self.clock = numsim.ManualClock(START)
        numbers = [twilio(i) for i in range(3)]
        self.allocator = numsim.Allocator(
            numbers, {"t": pool(*numbers)}, clock=self.clock, lease_ttl=TTL
        )
        self.adapter = FakeAdapter()
        self.adapter.lists_calls = self.LISTS_CALLS
        self.dialer = numsim.Dialer(self.allocator, [self.adapter])
        self.held = {}  # provider call id or token -> (expires_at, known id, placed_at)
        self.pending = []  # callbacks sent by the provider, not delivered yet
        self.destinations = 0

    # -- the model's view of which calls hold a channel ------------------------------

    def _holding(self):
        now = self.clock()
        return {k: v for k, v in self.held.items() if v["expires_at"] > now}

    @rule(outcome=st.sampled_from(["ok", "refused", "unknown-created", "unknown-lost", "bug"]))
    def dial(self, outcome):
        self.destinations += 1
        destination = f"+1212555{self.destinations:04d}"
        failure = {
            "refused": (ProviderError("twilio", 21211, "invalid 'To'"), False),
            "unknown-created": (ProviderError("twilio", 20500, "503", outcome_unknown=True), True),
            "unknown-lost": (ProviderError("twilio", 20500, "503", outcome_unknown=True), False),
            "bug": (RuntimeError("adapter bug"), False),
        }.get(outcome)
        if failure:
            self.adapter.failures.append(failure)
        before = set(self.adapter.status)
        try:
            call = self.dialer.dial(
                "t",
                destination,
                answer_url="https://a.example/x",
                status_callback_url="https://a.example/cb",
            )
        except numsim.NoNumberAvailable:
            self.adapter.failures.clear()
            return
        except ProviderError as error:
            if error.outcome_unknown:
                [created] = set(self.adapter.status) - before or [None]
                key = created or f"lost-{self.destinations}"
                self.held[key] = self._entry(known=False)
            return
        except RuntimeError:
            return
        self.held[call.call_id] = self._entry(known=True)

    def _entry(self, known):
        return {"expires_at": self.clock() + TTL, "known": known, "placed_at": self.clock()}

    @precondition(
        lambda self: any(
            s in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
            for s in self.adapter.status.values()
        )
    )
    @rule(data=st.data(), progress=st.booleans(), status=st.sampled_from(TERMINAL))
    def provider_moves_a_call(self, data, progress, status):
        live = sorted(c for c, s in self.adapter.status.items() if not s.terminal)
        call_id = data.draw(st.sampled_from(live))
        new = CallStatus.RINGING if progress else status
        self.pending.append(self.adapter.callback(call_id, new))

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), keep=st.booleans())
    def deliver_a_callback(self, data, keep):
        index = data.draw(st.integers(0, len(self.pending) - 1))
        callback = self.pending[index] if keep else self.pending.pop(index)  # keep: duplicate
        event = self.dialer.handle_callback("twilio", *callback)
        entry = self.held.get(event.call_id)
        if entry is None:
            return
        if event.terminal:
            del self.held[event.call_id]
        else:
            entry["known"] = True  # the dialer learned the id of an unknown outcome

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def lose_a_callback(self, data):
        self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))

    @rule(seconds=st.sampled_from([1.0, 30.0, 150.0, 600.0]))
    def time_passes(self, seconds):
        self.clock.advance(seconds)

    @rule()
    def reconcile(self):
        now = self.clock()
        self.dialer.reconcile(older_than=RECONCILE_AFTER)
        for key, entry in list(self.held.items()):
            if now - entry["placed_at"] < RECONCILE_AFTER:
                continue
            status = self.adapter.status.get(key)  # None: the provider never had it
            if entry["known"]:
                if status.terminal:
                    del self.held[key]
            elif self.LISTS_CALLS:  # looked up by its numbers
                if status is None or status.terminal:
                    del self.held[key]
                else:
                    entry["known"] = True

    @invariant()
    def channels_in_use_are_the_calls_held(self):
        in_use = sum(self.allocator.in_use(n) for n in self.allocator.numbers)
        assert in_use == len(self._holding())

    def teardown(self):
        # Every call ends; its callback may be lost. Reconcile, then lease expiry,
        # free everything.
        for call_id, status in list(self.adapter.status.items()):
            if not status.terminal:
                self.adapter.status[call_id] = CallStatus.COMPLETED
        self.clock.advance(RECONCILE_AFTER)
        self.dialer.reconcile(older_than=RECONCILE_AFTER)
        in_use = sum(self.allocator.in_use(n) for n in self.allocator.numbers)
        unknowable = [e for e in self._holding().values() if not e["known"]]
        # Only calls placed with an unknown outcome that nobody can look up remain.
        assert in_use == (0 if self.LISTS_CALLS else len(unknowable))
        self.clock.advance(TTL)
        assert sum(self.allocator.in_use(n) for n in self.allocator.numbers) == 0


class DialerWithoutCallListing(DialerMachine):
    LISTS_CALLS = False  # Plivo, Exotel: an unknown outcome waits for a callback or the TTL


TestDialerMachine = DialerMachine.TestCase
TestDialerWithoutCallListing = DialerWithoutCallListing.TestCase
