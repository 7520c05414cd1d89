"""What a run leaves behind: one record per attempt, its fields named here once.

The engine appends each record to one flat buffer (cheap: no object per attempt),
packed in one step (`pack`: times as float64, codes as int64, each converted once; an
array of floats extended with a tuple took over twice as long); a result reads the
buffer as a numpy structured array, field by name.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..allocator.allocator import Snapshot
from ..allocator.refusal import REASONS
from ..numbers import OutboundNumber

# Seconds since the start: when the attempt arrived, how long it waited for a number,
# how long the provider's pacing held it, how long the call held the number.
TIMES = ("arrival", "wait", "pacing", "hold")
# Codes: indexes into the trace's templates (-1: an inbound callback), destinations
# and numbers (-1: none granted); the outcome, the refusal reason, the attempt's
# number (1 first, 0 callback), and flag bits.
CODES = ("template", "destination", "number", "outcome", "reason", "attempt", "flags")
FIELDS = TIMES + CODES
RECORD = np.dtype([(name, np.float64) for name in TIMES] + [(name, np.int64) for name in CODES])
# One record's values, in FIELDS order (times: floats, codes: ints) -> its bytes in RECORD.
pack = struct.Struct(f"={len(TIMES)}d{len(CODES)}q").pack

OUTCOMES = ("answered", "no_answer", "refused", "callback", "callback_missed")
ANSWERED, NO_ANSWER, REFUSED, CALLBACK, CALLBACK_MISSED = range(len(OUTCOMES))
REASON_CODES = {reason: code for code, reason in enumerate(("", *REASONS))}
LOST_CALLBACK = 1  # flag bit: the call's status callback never came


@dataclass(frozen=True)
class Trace:
    """A finished run's records and the labels their codes index."""

    records: bytearray  # one pack()ed record per attempt
    numbers: list[OutboundNumber]
    templates: list[str]
    destinations: list[str]
    cap_refusals: list[int]  # per number: refusals while it was at its hourly cap
    snapshot: Snapshot  # the allocator at the end

    def table(self) -> np.ndarray:
        """The records as a structured array: table["number"], table["arrival"], ..."""
        return np.frombuffer(self.records, dtype=RECORD)
