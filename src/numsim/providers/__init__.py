"""Provider adapters: place calls on Twilio, Plivo and Exotel, and read their callbacks.

The adapters need the `providers` extra (twilio, plivo, httpx); each is imported
only when asked for, so `CallEvent` and friends cost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import OwnedNumber, ProviderAdapter
from .errors import InvalidCallback, ProviderError
from .events import CallEvent, CallStatus, InboundCall
from .pacing import MemoryPacer, Pacer, RedisPacer

if TYPE_CHECKING:
    from .exotel import ExotelAdapter
    from .plivo import PlivoAdapter
    from .twilio import TwilioAdapter

__all__ = [
    "CallEvent",
    "CallStatus",
    "ExotelAdapter",
    "InboundCall",
    "InvalidCallback",
    "MemoryPacer",
    "OwnedNumber",
    "Pacer",
    "PlivoAdapter",
    "ProviderAdapter",
    "ProviderError",
    "RedisPacer",
    "TwilioAdapter",
]

_ADAPTERS = {"TwilioAdapter": "twilio", "PlivoAdapter": "plivo", "ExotelAdapter": "exotel"}


def __getattr__(name: str) -> object:
    module = _ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module 'numsim.providers' has no attribute {name!r}")
    try:
        imported = __import__(f"{__name__}.{module}", fromlist=[name])
    except ImportError as error:
        raise ImportError(
            f"{name} needs the providers extra: pip install 'numsim[providers]' ({error.name} "
            "is missing)"
        ) from None
    return getattr(imported, name)
