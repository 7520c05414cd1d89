"""The allocator: rules, strategies, leases, waiting, and its backends.

Backend, AsyncBackend, NumberSpec, Cap, NumberState, Policy, Grant, Refusal and Finding are
what a new backend implements and returns; see docs/architecture.md."""

from .allocator import DEFAULT_LEASE_TTL, Allocator, Destination, Snapshot
from .backend import (
    AsyncBackend,
    Backend,
    Cap,
    Finding,
    Grant,
    NumberSpec,
    NumberState,
    Policy,
    Refusal,
)
from .lease import Lease
from .memory import MemoryBackend
from .refusal import REASONS, NoNumberAvailable, Reason
from .rules import DEFAULT_CALLING_HOURS, CallingHours, DestinationLimit
from .strategy import Strategy
from .waiting import Request

__all__ = [
    "DEFAULT_CALLING_HOURS",
    "DEFAULT_LEASE_TTL",
    "REASONS",
    "Allocator",
    "AsyncBackend",
    "Backend",
    "CallingHours",
    "Cap",
    "Destination",
    "DestinationLimit",
    "Finding",
    "Grant",
    "Lease",
    "MemoryBackend",
    "NoNumberAvailable",
    "NumberSpec",
    "NumberState",
    "Policy",
    "Reason",
    "Refusal",
    "Request",
    "Snapshot",
    "Strategy",
]
