"""What the command line says besides results: warnings, on stderr, once per command."""

from __future__ import annotations

import sys

from ..numbers import OutboundNumber, Provider

TWILIO_RULE = "a Twilio number carries one call at a time, whatever its channels"


def warn(message: str) -> None:
    print(f"numsim: warning: {message}", file=sys.stderr)


def warn_twilio_channels(number: OutboundNumber) -> None:
    """Say so when a Twilio number is given channels it will never use."""
    if number.provider is Provider.TWILIO and number.max_concurrent_calls > 1:
        channels = number.max_concurrent_calls
        warn(f"{TWILIO_RULE}: {channels} channels are stored but count as 1")
