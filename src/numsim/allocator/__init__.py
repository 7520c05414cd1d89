"""The allocator: rules, strategies, leases, waiting, and its backends."""

from .allocator import DEFAULT_LEASE_TTL, Allocator, Snapshot
from .backend import AsyncBackend, Backend, Finding
from .lease import Lease
from .memory import MemoryBackend
from .refusal import REASONS, NoNumberAvailable
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
    "DestinationLimit",
    "Finding",
    "Lease",
    "MemoryBackend",
    "NoNumberAvailable",
    "Request",
    "Snapshot",
    "Strategy",
]
