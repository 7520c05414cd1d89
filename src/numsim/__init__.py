"""numsim: allocate, limit and size pools of outbound phone numbers.

The names here are the public API; everything else may change.
"""

from .allocator import (
    DEFAULT_CALLING_HOURS,
    Allocator,
    CallingHours,
    DestinationLimit,
    Lease,
    MemoryBackend,
    NoNumberAvailable,
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
    RegistryError,
    UnknownNumberError,
    UnknownTemplateError,
)
from .numbers import OutboundNumber, Provider, Template
from .registry import NumberRegistry

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CALLING_HOURS",
    "Allocator",
    "BackendMisconfigured",
    "BackendUnavailable",
    "CallingHours",
    "CredentialError",
    "CredentialRef",
    "DestinationLimit",
    "ImportFileError",
    "InvalidNumberError",
    "Lease",
    "ManualClock",
    "MemoryBackend",
    "NoNumberAvailable",
    "NumberRegistry",
    "OutboundNumber",
    "Provider",
    "RegistryError",
    "Request",
    "Snapshot",
    "Strategy",
    "Template",
    "UnknownNumberError",
    "UnknownTemplateError",
    "__version__",
]


def __getattr__(name: str) -> object:
    # RedisBackend needs the redis extra; import it only when asked for.
    if name == "RedisBackend":
        from .allocator.redis import RedisBackend

        return RedisBackend
    raise AttributeError(f"module 'numsim' has no attribute {name!r}")
