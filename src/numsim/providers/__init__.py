"""Provider adapters: place calls on Twilio, Plivo and Exotel, and read their callbacks.

The adapters need the `providers` extra (twilio, plivo, httpx); each is imported
only when asked for, so `CallEvent` and friends cost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import OwnedNumber, ProviderAdapter
from .catalog import PROVIDERS, adapter_class
from .errors import InvalidCallback, ProviderError
from .events import CallEvent, CallStatus, InboundCall
from .pacing import MemoryPacer, Pacer, RedisPacer

if TYPE_CHECKING:  # for type checkers; at run time each is imported on first use
    from .exotel import ExotelAdapter as ExotelAdapter
    from .plivo import PlivoAdapter as PlivoAdapter
    from .twilio import TwilioAdapter as TwilioAdapter

_ADAPTERS = {r.class_name: r.provider for r in PROVIDERS.values()}  # see __getattr__

__all__ = [
    "CallEvent",
    "CallStatus",
    "InboundCall",
    "InvalidCallback",
    "MemoryPacer",
    "OwnedNumber",
    "Pacer",
    "ProviderAdapter",
    "ProviderError",
    "RedisPacer",
    *sorted(_ADAPTERS),  # ExotelAdapter, PlivoAdapter, TwilioAdapter, ...
]


def __getattr__(name: str) -> object:
    provider = _ADAPTERS.get(name)
    if provider is None:
        raise AttributeError(f"module 'numsim.providers' has no attribute {name!r}")
    return adapter_class(provider)
