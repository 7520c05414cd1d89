"""What the command line says besides results: warnings, on stderr, once per command."""

from __future__ import annotations

import sys

from ..numbers import OutboundNumber, Provider


def warn(message: str) -> None:
    print(f"numsim: warning: {message}", file=sys.stderr)


def twilio_channels_rule(channels: int) -> str:
    return (
        f"a Twilio number carries one call at a time, whatever its channels: "
        f"{channels} channels count as 1"
    )


def warn_twilio_channels(number: OutboundNumber) -> None:
    """Say so when a Twilio number is given channels it will never use."""
    if number.provider is Provider.TWILIO and number.max_concurrent_calls > 1:
        warn(twilio_channels_rule(number.max_concurrent_calls) + " (the setting is stored)")
