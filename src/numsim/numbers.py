"""The number model: providers, outbound numbers and templates.

Each setting of a number is declared once, as a field of `OutboundNumber` carrying a
`Setting` (its kind, bounds, help, CLI flag, and the cap it is if it is one). `SETTINGS`
lists them; the registry's columns, the CSV, the CLI flags, the HTTP models, the
simulator's number groups and the backends' caps are loops over it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal

from .credentials import CredentialError, CredentialRef
from .errors import InvalidNumberError
from .phone import PhoneInfo, normalize_e164, phone_info
from .validation import whole

# No provider sells a number anywhere near this; larger values are typos (and overflow SQLite).
MAX_LIMIT = 1_000_000
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}")

# What a setting holds, which says how each place reads, checks and stores it:
# the number itself, its provider, a whole number within bounds, a true/false flag,
# free text, or a reference to where a secret lives.
Kind = Literal["e164", "provider", "whole", "flag", "text", "reference"]


class Provider(StrEnum):
    """The telephony provider a number is registered with."""

    TWILIO = "twilio"
    PLIVO = "plivo"
    EXOTEL = "exotel"

    @classmethod
    def _missing_(cls, value: object) -> Provider:
        if isinstance(value, str):
            for member in cls:
                if member.value == value.strip().lower():
                    return member
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"unknown provider {value!r}; valid providers are {valid}")

    @property
    def one_call_per_number(self) -> bool:
        """Twilio numbers carry one call at a time, whatever channel count is set."""
        return self is Provider.TWILIO


@dataclass(frozen=True, slots=True)
class Cap:
    """A limit on a number's calls in a rolling window, and the refusal reason that names it."""

    reason: str
    window: float  # seconds


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of a number, as every place that reads or writes numbers sees it.

    The CSV column, the registry column and the HTTP field are `name`; the CLI flag is
    ``--flag``; the dashboard's form field is `label`; the simulator's number groups take
    it unless `group` is False."""

    name: str
    kind: Kind
    default: Any  # REQUIRED when a number must give it
    help: str
    flag: str
    minimum: int = 1  # bounds of a "whole" setting
    maximum: int = MAX_LIMIT
    cap: Cap | None = None
    group: bool = True
    label: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def optional(self) -> bool:
        """Whether None is a value: no limit, no account, ..."""
        return self.default is None

    def check(self, value: object, e164: str) -> Any:
        """The value normalized, or InvalidNumberError naming the setting and the number."""
        if value is None and self.default is None:
            return None  # no limit, no account, ...
        kind = self.kind
        if kind == "whole":
            return whole(
                self.name,
                value,
                minimum=self.minimum,
                maximum=self.maximum,
                error=InvalidNumberError,
            )
        if kind == "flag":
            if value is True or value is False:
                return value
            raise InvalidNumberError(f"{self.name} must be True or False for {e164}")
        if kind == "provider":
            return value if type(value) is Provider else Provider(value)  # type: ignore[arg-type]
        if kind == "reference":
            try:
                return CredentialRef.parse(value)
            except CredentialError as error:
                raise InvalidNumberError(f"{e164}: {error}") from None
        if isinstance(value, str):
            return value
        raise InvalidNumberError(f"{self.name} must be a string or None for {e164}")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
_KEY = "numsim.setting"


def setting(
    kind: Kind,
    *,
    help: str,
    flag: str = "",
    minimum: int = 1,
    maximum: int = MAX_LIMIT,
    cap: Cap | None = None,
    group: bool = True,
    label: str = "",
) -> dict[str, Setting]:
    """A field's metadata declaring it a setting (its name and default come from the field;
    its label, if not given, from the name)."""
    declared = Setting("", kind, REQUIRED, help, flag, minimum, maximum, cap, group, label)
    return {_KEY: declared}


def check_account(account: str | None, e164: str) -> str | None:
    """A provider account id or None: a blank one names no account."""
    if account is not None and not account.strip():
        raise InvalidNumberError(f"account must be a provider account id or None for {e164}")
    return account


def check_template_id(value: object) -> str:
    """Template ids are short identifiers: letters, digits and _ . : @ / -."""
    if not isinstance(value, str) or not _TEMPLATE_ID.fullmatch(value):
        raise ValueError(
            f"invalid template id {value!r}: use 1-128 letters, digits or _ . : @ / -, "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class OutboundNumber:
    """A phone number a campaign calls from, with its provider and per-number limits.

    A new setting is one more field here, with its `setting(...)` metadata."""

    e164: str = field(
        metadata=setting("e164", help="the number, in E.164", group=False, label="Number (E.164)")
    )
    provider: Provider = field(metadata=setting("provider", help=", ".join(Provider)))
    max_concurrent_calls: int = field(
        default=1,
        metadata=setting(
            "whole",
            help="max concurrent calls (a Twilio number carries 1)",
            flag="channels",
            label="Channels",
        ),
    )
    max_calls_per_hour: int | None = field(
        default=None,
        metadata=setting(
            "whole",
            help="calls per rolling hour",
            cap=Cap("hourly_cap", 3600.0),
            label="Hourly cap",
        ),
    )
    max_calls_per_day: int | None = field(
        default=None,
        metadata=setting(
            "whole", help="calls per rolling 24 h", cap=Cap("daily_cap", 86400.0), label="Daily cap"
        ),
    )
    trai_registered: bool = field(
        default=False,
        metadata=setting(
            "flag", help="TRAI registered: may call India", flag="trai", label="TRAI registered"
        ),
    )
    stir_shaken_attested: bool = field(
        default=False,
        metadata=setting(
            "flag",
            help="STIR/SHAKEN attested: may call the US and Canada",
            flag="stir-shaken",
            label="STIR/SHAKEN attested",
        ),
    )
    account: str | None = field(
        default=None,
        metadata=setting("text", help="provider account id (SID / auth id), not a secret"),
    )
    credentials: CredentialRef | None = field(
        default=None,
        metadata=setting(
            "reference", help="where the auth token lives: env:NAME or file:NAME", group=False
        ),
    )
    label: str | None = field(default=None, metadata=setting("text", help="free text", group=False))
    _info: PhoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        info = phone_info(self.e164, what="outbound number")
        set_(self, "_info", info)
        set_(self, "e164", info.e164)
        for spec in _CHECKED:
            set_(self, spec.name, spec.check(getattr(self, spec.name), info.e164))
        check_account(self.account, self.e164)

    @property
    def capacity(self) -> int:
        """Concurrent calls this number can carry: always 1 for Twilio."""
        return 1 if self.provider.one_call_per_number else self.max_concurrent_calls

    @property
    def region(self) -> str:
        """ISO 3166 country code of the number, e.g. "US" or "IN"."""
        return self._info.region

    @property
    def area_code(self) -> str | None:
        """The geographic area code where phonenumbers knows one (e.g. "415")."""
        return self._info.area_code


TWILIO_RULE = "a Twilio number carries one call at a time, whatever its channels"


def channels_warning(number: OutboundNumber) -> str | None:
    """The warning for channels a number will never use (a Twilio number given more
    than one): the words the CLI prints and the HTTP API answers. None if all count."""
    if number.provider.one_call_per_number and number.max_concurrent_calls > 1:
        return f"{TWILIO_RULE}: {number.max_concurrent_calls} channels are stored but count as 1"
    return None


def imported_channels_warning(rows: int) -> str | None:
    """channels_warning for an import: how many rows set channels that will not count."""
    return f"{TWILIO_RULE}: {rows} row(s) set more (stored, count as 1)" if rows else None


def _settings() -> tuple[Setting, ...]:
    found = []
    for spec in fields(OutboundNumber):
        if _KEY in spec.metadata:
            declared: Setting = spec.metadata[_KEY]
            default = REQUIRED if spec.default is MISSING else spec.default
            flag = declared.flag or spec.name.replace("_", "-")
            label = declared.label or spec.name.replace("_", " ").capitalize()
            found.append(replace(declared, name=spec.name, default=default, flag=flag, label=label))
    return tuple(found)


# A number's settings, in order: the registry's columns and the CSV's (with templates).
SETTINGS = _settings()
NUMBER_FIELDS = tuple(s.name for s in SETTINGS)
CAPS = tuple(s for s in SETTINGS if s.cap is not None)
_CHECKED = tuple(s for s in SETTINGS if s.kind != "e164")


def plain(number: OutboundNumber) -> tuple[object, ...]:
    """The number's settings in SETTINGS order as stored and exported: the provider's
    name, credentials as their reference text."""
    return tuple(_PLAIN.get(s.kind, _same)(getattr(number, s.name)) for s in SETTINGS)


def _same(value: object) -> object:
    return value


def _text_or_none(value: object) -> object:
    return None if value is None else str(value)


_PLAIN = {"provider": _text_or_none, "reference": _text_or_none}


def caps(number: OutboundNumber) -> tuple[tuple[str, float, int], ...]:
    """The number's caps as data: (refusal reason, window seconds, limit) for each cap
    setting it has a value for; a new cap setting appears here by its declaration alone."""
    found = []
    for spec in CAPS:
        limit = getattr(number, spec.name)
        if limit is not None and spec.cap is not None:
            found.append((spec.cap.reason, spec.cap.window, limit))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Template:
    """A campaign template and the pool of numbers it may call from."""

    id: str
    numbers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_template_id(self.id)
        pool = tuple(dict.fromkeys(normalize_e164(n, what="pool number") for n in self.numbers))
        object.__setattr__(self, "numbers", pool)

    @classmethod
    def from_mapping(cls, templates: object) -> dict[str, Template]:
        """Accept {template id: numbers} or an iterable of Template."""
        if isinstance(templates, dict):
            items: Iterable[Template] = (
                cls(key, _as_tuple(key, value)) for key, value in templates.items()
            )
        elif isinstance(templates, Iterable):
            items = templates
        else:
            raise TypeError(f"templates must be a mapping or Template objects, got {templates!r}")
        result: dict[str, Template] = {}
        for template in items:
            if not isinstance(template, Template):
                raise TypeError(f"templates must map id -> numbers, got {template!r}")
            if template.id in result:
                raise ValueError(f"template {template.id!r} given twice")
            result[template.id] = template
        return result


def _as_tuple(template_id: str, numbers: object) -> tuple[str, ...]:
    if isinstance(numbers, str) or not isinstance(numbers, Iterable):
        raise TypeError(
            f"template {template_id!r} must map to an iterable of E.164 strings, got {numbers!r}"
        )
    return tuple(numbers)
