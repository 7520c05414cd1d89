"""`numsim check`: verify a Redis namespace's invariants after an incident, and repair
what can be derived from its lease index."""

from __future__ import annotations

import argparse
from typing import Any

from ..extras import needs_extra


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="verify (and repair) a Redis namespace's allocator state",
        description="Compares each number's calls in progress with its leases, and each "
        "lease with its expiry. Exit 0: healthy (or fully repaired); 1: problems remain. "
        "Settings that Redis lost are restored by the next worker that starts, or by "
        "Allocator.check() in a running one.",
    )
    parser.add_argument(
        "--redis",
        required=True,
        metavar="URL",
        help="redis://host:port/db, or a cluster's redis+cluster://host:port",
    )
    parser.add_argument("--namespace", default="numsim", help="the namespace (default numsim)")
    parser.add_argument(
        "--repair", action="store_true", help="repair what can be derived (default: only report)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with needs_extra("redis", "numsim check"):
        from ..allocator.redis import RedisBackend
    backend = RedisBackend(args.redis, namespace=args.namespace)
    findings = backend.check(0.0, args.repair)
    for finding in findings:
        print(finding)
    if not findings:
        print(f"namespace {args.namespace}: healthy")
    return 1 if any(not f.repaired for f in findings) else 0
