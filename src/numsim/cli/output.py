"""What the command line says besides results: warnings, on stderr, once per command."""

from __future__ import annotations

import sys

from ..numbers import OutboundNumber, channels_warning


def warn(message: str) -> None:
    print(f"numsim: warning: {message}", file=sys.stderr)


def warn_twilio_channels(number: OutboundNumber) -> None:
    """Say so when a Twilio number is given channels it will never use."""
    message = channels_warning(number)
    if message:
        warn(message)
