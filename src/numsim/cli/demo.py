"""`numsim demo`: load the sample pool and place a few calls, saying what happened."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ..allocator import DEFAULT_CALLING_HOURS, Allocator, DestinationLimit, Lease, NoNumberAvailable
from ..clock import ManualClock
from ..registry import NumberRegistry
from .numbers import format_table

# 15:00 UTC: 10:00 in New York, 07:00 in San Francisco, 20:30 in India.
DEMO_START = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
CALLS = [
    ("us-appointments", "+1 212-555-0143"),
    ("us-appointments", "+1 212-555-0144"),
    ("us-appointments", "+1 212-555-0145"),
    ("us-appointments", "+1 212-555-0146"),
    ("us-appointments", "+1 415-555-0177"),
    ("loan-reminders", "+91 98765 43210"),
    ("loan-reminders", "+91 98765 43211"),
    ("collections", "+91 98765 43212"),
    ("collections", "+44 20 7946 0018"),
]


def register(commands: Any) -> None:
    parser = commands.add_parser("demo", help="allocate a few calls from the sample pool")
    parser.add_argument("--numbers", default="data/numbers.csv", help="pool CSV to load")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with NumberRegistry() as registry:
        report = registry.import_csv(args.numbers)
        print(f"Loaded {args.numbers}: {report}")
        clock = ManualClock(DEMO_START.timestamp())
        allocator = Allocator.from_registry(
            registry,
            clock=clock,
            destination_limit=DestinationLimit(1, 3600),
            calling_hours=DEFAULT_CALLING_HOURS,
        )
    print(f"Templates: {', '.join(f'{t} ({len(p)})' for t, p in allocator.templates.items())}")
    print(f"Clock: {DEMO_START:%Y-%m-%d %H:%M} UTC; 1 call per destination per hour\n")

    leases: list[Lease] = []
    rows = []
    for template, destination in CALLS:
        rows.append(_place(allocator, template, destination, leases))
    print(format_table(["template", "destination", "outcome"], rows))

    print(f"\nCall to {leases[0].destination} ends; it is called again:")
    allocator.release(leases[0])
    print("  " + _place(allocator, "us-appointments", CALLS[0][1], leases)[2])
    inbound = allocator.acquire_inbound("+912240000011", call_id="callback-1")
    print(f"Inbound callback rings {inbound.number}: takes one of its channels")
    clock.advance(3600)
    print("One hour later, San Francisco is inside calling hours:")
    print("  " + _place(allocator, "us-appointments", CALLS[4][1], leases)[2])

    snapshot = allocator.snapshot()
    print("\nPool now:")
    print(
        format_table(
            ["number", "provider", "in_use/cap", "calls_last_hour", "status"],
            [
                [
                    e164,
                    row["provider"],
                    f"{row['in_use']}/{row['capacity']}",
                    f"{row['calls_last_hour']}/{row['max_calls_per_hour'] or '-'}",
                    row["status"],
                ]
                for e164, row in snapshot.numbers.items()
            ],
        )
    )
    print("Counters: " + ", ".join(f"{k}={v}" for k, v in snapshot.counters.items()))
    return 0


def _place(allocator: Allocator, template: str, destination: str, leases: list) -> list[str]:
    try:
        lease = allocator.acquire(template, destination)
    except NoNumberAvailable as refusal:
        outcome = f"refused: {refusal.reason}"
        if refusal.reasons:
            counts: dict[str, int] = {}
            for why in refusal.reasons.values():
                counts[why] = counts.get(why, 0) + 1
            outcome += " (" + ", ".join(f"{n} {why}" for why, n in sorted(counts.items())) + ")"
        if refusal.retry_after is not None:
            outcome += f", retry after {refusal.retry_after:.0f} s"
        return [template, destination, outcome]
    leases.append(lease)
    return [template, destination, f"from {lease.number}"]
