"""numsim: allocate, limit and size pools of outbound phone numbers.

The names here are the public API; everything else may change.
"""

from typing import TYPE_CHECKING

from .allocator import (
    DEFAULT_CALLING_HOURS,
    Allocator,
    Backend,
    CallingHours,
    DestinationLimit,
    Lease,
    MemoryBackend,
    NoNumberAvailable,
    Reason,
    Request,
    Snapshot,
    Strategy,
)
from .clock import ManualClock
from .credentials import CredentialError, CredentialRef
from .errors import (
    BackendMisconfigured,
    BackendUnavailable,
    ImportFileError,
    InvalidNumberError,
    NumsimError,
    RegistryError,
    UnknownNumberError,
    UnknownTemplateError,
)
from .extras import missing_extra
from .numbers import OutboundNumber, Provider, Template
from .registry import NumberRegistry

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CALLING_HOURS",
    "Allocator",
    "Backend",
    "BackendMisconfigured",
    "BackendUnavailable",
    "CallingHours",
    "CredentialError",
    "CredentialRef",
    "DestinationLimit",
    "Dialer",
    "ImportFileError",
    "InvalidNumberError",
    "Lease",
    "ManualClock",
    "MemoryBackend",
    "NoNumberAvailable",
    "NumberRegistry",
    "NumsimError",
    "OutboundNumber",
    "Provider",
    "ProviderError",
    "Reason",
    "RedisBackend",
    "RegistryError",
    "Request",
    "Snapshot",
    "Strategy",
    "Template",
    "UnknownNumberError",
    "UnknownTemplateError",
    "__version__",
]


if TYPE_CHECKING:  # visible to checkers and IDEs; loaded on first use (see __getattr__)
    from .allocator.redis import RedisBackend as RedisBackend
    from .dialer import Dialer as Dialer
    from .providers.errors import ProviderError as ProviderError

_LAZY = ("Dialer", "ProviderError", "RedisBackend")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> object:
    # RedisBackend needs the redis extra; import it only when asked for.
    if name == "RedisBackend":
        try:
            from .allocator.redis import RedisBackend
        except ModuleNotFoundError as missing:
            raise missing_extra("redis", "numsim.RedisBackend", missing) from None
        return RedisBackend
    # The dialer and provider errors load no SDK, but stay off the core import path.
    if name == "Dialer":
        from .dialer import Dialer

        return Dialer
    if name == "ProviderError":
        from .providers.errors import ProviderError

        return ProviderError
    raise AttributeError(f"module 'numsim' has no attribute {name!r}")
