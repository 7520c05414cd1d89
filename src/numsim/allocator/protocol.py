"""The protocol between redis.py and the Lua functions, by name.

Each function's arguments (its ARGV, in order) and the fields of every reply are
declared here once. redis.py places arguments and reads replies through these names;
_Library writes them into the library as Lua constants (`ARG_NOW = 1` in each function,
`GRANTED_ID = 2` for all), so neither side counts positions, at no cost per call.
Replies may end in rows: a header shape, then any number of rows of a row shape.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from ..numbers import CAPS
from .refusal import KINDS, REFUSALS, TEMPLATE_REFUSALS


class Arguments:
    """A function's ARGV: `names` in order, then any number of `rest` values."""

    __slots__ = ("_get", "at", "names", "rest")

    def __init__(self, *names: str, rest: str | None = None) -> None:
        self.names = names
        self.rest = rest
        self.at = {name: i for i, name in enumerate(names)}  # 0-based, as Python reads
        self._get = itemgetter(*names)

    def pack(self, rest: tuple[Any, ...] = (), /, **values: Any) -> tuple[Any, ...]:
        """The ARGV of a call: every name given once (KeyError names one missing)."""
        got = self._get(values)
        return (*(got if len(self.names) > 1 else (got,)), *rest)

    def lua(self) -> str:
        """The constants a function's body reads its ARGV through (1-based)."""
        names = [*self.names, *([self.rest] if self.rest else [])]
        return _lua_constants("ARG", names)


def _shape(name: str, *fields: str) -> Any:
    """A reply shape: its fields' positions by name (0-based), e.g. GRANTED.id == 1;
    len() is its width."""
    return namedtuple(name, fields)(*range(len(fields)))


# Reply shapes. {-1} answers any function when the namespace lost its configuration.
GRANTED = _shape("GRANTED", "ok", "id", "number", "expires", "now")  # ok = 1
REFUSED = _shape("REFUSED", "ok", "reason", "retry_at", "now")  # ok = 0; then STATUS rows
STATUS = _shape("STATUS", "number", "status")
CHANGED = _shape("CHANGED", "ok", "stamp", "writes")  # a pool change; ok = 0: a newer one
POOL = _shape("POOL", "era", "writes", "cursor")  # then POOL_ROW rows
POOL_ROW = _shape("POOL_ROW", "e164", "stamp", "by", "active", "capacity", "caps", "groups")
NUMBERS = _shape("NUMBERS", "now")  # then NUMBERS_ROW rows
NUMBERS_ROW = _shape("NUMBERS_ROW", "e164", "in_use", "inbound", "status", "calls")
CHECKED = _shape("CHECKED", "ok")  # then FINDING rows
FINDING = _shape("FINDING", "number", "problem", "repaired")
RELEASED = _shape("RELEASED", "released", "now")
RENEWED = _shape("RENEWED", "expires")  # or empty: the lease is gone
NEXT_EXPIRY = _shape("NEXT_EXPIRY", "now", "expiry")
CONFIGURED = _shape("CONFIGURED", "ok", "policy")
SHAPES = (
    GRANTED,
    REFUSED,
    STATUS,
    CHANGED,
    POOL,
    POOL_ROW,
    NUMBERS,
    NUMBERS_ROW,
    CHECKED,
    FINDING,
    RELEASED,
    RENEWED,
    NEXT_EXPIRY,
    CONFIGURED,
)

# A namespace's policy, as configure stores it (one field, these values space-separated).
POLICY_FIELDS = ("order", "ttl", "dmax", "dper", "sticky", "audit", "skew")
# Pool changes carry the caller's view: its era and its count of changes (see stale()).
_CHANGE = ("now", "stamp", "token", "era", "writes")
ARGUMENTS: Mapping[str, Arguments] = {
    "configure": Arguments(*POLICY_FIELDS, "era", "replace"),
    "pool": Arguments("cursor", "token"),
    "era": Arguments("era"),
    "put_number": Arguments(*_CHANGE, "e164", "capacity", "caps", rest="groups"),
    "drop_number": Arguments(*_CHANGE, "e164"),
    "acquire": Arguments(
        "now", "template", "destination", "id", "ttl", "flags", "random", "era", rest="groups"
    ),
    "acquire_number": Arguments("now", "e164", "id", "ttl", "era"),
    "release": Arguments("now", "id", "number"),
    "renew": Arguments("now", "id", "number", "ttl"),
    "numbers": Arguments("now", rest="numbers"),
    "next_expiry": Arguments("now"),
    "check": Arguments("now", "repair", rest="numbers"),
    "waiting": Arguments("now", "token", "ttl"),
}


# A refusal on Redis itemizes at most this many of the pool's numbers (a random sample
# of a bigger pool): one refused call must not hold Redis for the whole pool (a fully
# busy 10,000-number template took 63 ms of Redis per refusal, at the worst time).
EXPLAIN_LIMIT = 100


def lua_shapes() -> str:
    """Every reply shape's constants, for the top of the library (1-based), and each
    refusal reason the functions name (`REASON_BUSY = "busy"`: refusal.KINDS declares
    them; a cap's reason comes with the cap's row), the refusal counters' prefixes and
    EXPLAIN_LIMIT."""
    reasons = [r for r in KINDS if r not in {c.cap.reason for c in CAPS if c.cap}]
    names = ", ".join(f"REASON_{r.upper()}" for r in reasons)
    values = ", ".join(f'"{r}"' for r in reasons)
    return "\n".join(
        [
            *(_lua_constants(type(shape).__name__, shape._fields, width=True) for shape in SHAPES),
            f"local {names} = {values}",
            f'local COUNT_REFUSALS, COUNT_TEMPLATE_REFUSALS = "{REFUSALS}", "{TEMPLATE_REFUSALS}"',
            f"local EXPLAIN_LIMIT = {EXPLAIN_LIMIT}",
        ]
    )


def _lua_constants(prefix: str, names: Any, width: bool = False) -> str:
    consts = [f"{prefix}_{name.upper()}" for name in names]
    values = [str(i + 1) for i in range(len(consts))]
    if width:
        consts.append(f"{prefix}_WIDTH")
        values.append(str(len(names)))
    return f"local {', '.join(consts)} = {', '.join(values)}"
