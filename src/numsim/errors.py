"""Exceptions numsim raises; each message names the bad input and why.

Every one is a NumsimError, so a service can catch numsim's errors in one clause; each
also keeps the builtin base its meaning calls for (bad input is a ValueError, ...)."""

from __future__ import annotations


class NumsimError(Exception):
    """Base of every exception numsim raises on purpose."""


class InvalidNumberError(NumsimError, ValueError):
    """A phone number (or a number's setting) that numsim cannot accept."""


class UnknownTemplateError(NumsimError, KeyError):
    """A template id that the allocator or registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class UnknownNumberError(NumsimError, KeyError):
    """An E.164 number that the allocator or registry does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RegistryError(NumsimError, ValueError):
    """A registry operation that would break the registry's rules."""


class InvalidRequestError(RegistryError):
    """A registry request malformed in itself (nothing to change, an unknown setting, a
    body of the wrong shape): bad input (HTTP 422), not a conflict with what the registry
    holds (409). A RegistryError still, so callers catching that keep working."""


class ImportFileError(NumsimError, ValueError):
    """A bulk-import file refused as a whole (not CSV, missing columns, ...)."""


class PlanningError(NumsimError, ValueError):
    """A planning question numsim cannot answer as asked (a bad argument, a target the
    scenario cannot meet): the message names what is wrong, or the limit in the way."""


class BackendUnavailable(NumsimError, RuntimeError):
    """The allocator's backend (Redis) cannot be reached; nothing was taken."""


class BackendMisconfigured(NumsimError, RuntimeError):
    """The backend is reachable but set up so that numsim's rules could not hold (a Redis
    that evicts keys, a worker clock far from the server's); the message names the fix."""
