"""Exceptions numsim raises; each message names the bad input and why."""

from __future__ import annotations


class InvalidNumberError(ValueError):
    """A phone number (or a number's setting) that numsim cannot accept."""


class UnknownTemplateError(KeyError):
    """A template id that the allocator or registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class UnknownNumberError(KeyError):
    """An E.164 number that the allocator or registry does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RegistryError(ValueError):
    """A registry operation that would break the registry's rules."""


class ImportFileError(ValueError):
    """A bulk-import file refused as a whole (not CSV, missing columns, ...)."""


class BackendUnavailable(RuntimeError):
    """The allocator's backend (Redis) cannot be reached; nothing was taken."""


class BackendMisconfigured(RuntimeError):
    """The backend is reachable but set up so that numsim's rules could not hold (a Redis
    that evicts keys, a worker clock far from the server's); the message names the fix."""
