"""The number model: providers, outbound numbers and templates."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import StrEnum

from .credentials import CredentialError, CredentialRef
from .errors import InvalidNumberError
from .phone import PhoneInfo, normalize_e164, phone_info
from .validation import whole

# No provider sells a number anywhere near this; larger values are typos (and overflow SQLite).
MAX_LIMIT = 1_000_000
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}")


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


def check_limit(name: str, value: object, *, optional: bool) -> int | None:
    """A whole number in 1..MAX_LIMIT (or None where `optional`); bools and floats are refused."""
    if value is None and optional:
        return None
    return whole(name, value, minimum=1, maximum=MAX_LIMIT, error=InvalidNumberError)


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
    """A phone number a campaign calls from, with its provider and per-number limits."""

    e164: str
    provider: Provider
    max_concurrent_calls: int = 1
    max_calls_per_hour: int | None = None
    max_calls_per_day: int | None = None
    trai_registered: bool = False  # needed to call destinations in India
    stir_shaken_attested: bool = False  # needed to call destinations in the US
    account: str | None = None  # the provider account (SID / auth id); not a secret
    credentials: CredentialRef | None = None  # where the auth token lives, never the token
    label: str | None = None
    _info: PhoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        info = phone_info(self.e164, what="outbound number")
        set_(self, "_info", info)
        set_(self, "e164", info.e164)
        set_(self, "provider", Provider(self.provider))
        set_(
            self,
            "max_concurrent_calls",
            check_limit("max_concurrent_calls", self.max_concurrent_calls, optional=False),
        )
        for name in ("max_calls_per_hour", "max_calls_per_day"):
            set_(self, name, check_limit(name, getattr(self, name), optional=True))
        for name in ("trai_registered", "stir_shaken_attested"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidNumberError(f"{name} must be True or False for {self.e164}")
        if self.credentials is not None:
            try:
                set_(self, "credentials", CredentialRef.parse(self.credentials))
            except CredentialError as error:
                raise InvalidNumberError(f"{self.e164}: {error}") from None
        for name in ("account", "label"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidNumberError(f"{name} must be a string or None for {self.e164}")
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


# A number's settings, in order: the registry's columns and the CSV's (with templates).
NUMBER_FIELDS = tuple(f.name for f in fields(OutboundNumber) if f.init)


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
