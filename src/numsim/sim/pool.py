"""The simulated pool and its callers: fake but valid numbers, or a real registry's pool."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from ..errors import RegistryError
from ..numbers import OutboundNumber, Provider
from ..phone import phone_info
from ..registry import NumberRegistry
from .scenario import Scenario, ScenarioError, unknown_pacing_key

# NANP numbers use the 555 exchange, reserved for fiction, in the country's area codes:
# these first (the order generated numbers have always had), then its others.
_NANP_FIRST = {
    "US": ("415", "212", "312", "206", "617", "303", "404", "512", "702", "305"),
    "CA": ("416", "604", "514", "403", "613", "780", "902", "204", "306", "519"),
}
_PROVIDERS = {provider.value for provider in Provider}


def numbers_and_templates(scenario: Scenario) -> tuple[list[OutboundNumber], dict[str, list[str]]]:
    """The pool to simulate: generated from the number groups, or read from a registry."""
    if scenario.registry is not None:
        try:
            registry = NumberRegistry(scenario.registry, create=False)
        except RegistryError as error:
            raise ScenarioError(f"registry: {error}") from None
        with registry:
            registered = registry.numbers()
            assigned = {t.id: list(t.numbers) for t in registry.templates().values()}
        if not registered:
            raise ScenarioError(f"registry {scenario.registry} holds no numbers")
        accounts = {n.account for n in registered if n.account is not None}
        for key in scenario.calls_per_second:  # its providers checked, its accounts not yet
            if key not in accounts and key not in _PROVIDERS:
                raise ScenarioError(unknown_pacing_key(key, "the registry's numbers", accounts))
        return registered, assigned
    numbers: list[OutboundNumber] = []
    templates: dict[str, list[str]] = {}
    generators: dict[str, Iterator[str]] = {}
    for group in scenario.numbers:
        country = group.country
        source = generators.setdefault(country, fake_numbers(country, PhoneNumberType.FIXED_LINE))
        for _ in range(group.count):
            e164 = next(source, None)
            if e164 is None:
                raise ScenarioError(f"ran out of fake numbers for {country}; use fewer numbers")
            number = OutboundNumber(e164, **group.settings())
            numbers.append(number)
            for template in group.templates:
                templates.setdefault(template, []).append(number.e164)
    return numbers, templates


def fake_destinations(country: str, count: int, what: str = "population") -> list[str]:
    """`count` distinct valid mobile numbers of `country`, the same every time; `what`
    is the setting that asks for them, named if the country has fewer."""
    return list(_fake_destinations(country, count, what))


@lru_cache(maxsize=16)
def _fake_destinations(country: str, count: int, what: str) -> tuple[str, ...]:
    """Generated and validated once per process: every run of a worker reuses them."""
    made: list[str] = []
    try:
        for e164 in fake_numbers(country, PhoneNumberType.MOBILE):
            made.append(e164)
            if len(made) == count:
                return tuple(made)
    except ScenarioError:
        pass
    if not made:
        raise ScenarioError(f"{what}: numsim has no fake numbers of {country} to call")
    raise ScenarioError(
        f"{what}: numsim has {len(made):,} fake numbers of {country} to call, not "
        f"{count:,}; ask for fewer"
    )


def fake_numbers(country: str, kind: int) -> Iterator[str]:
    """Valid numbers of a country, in a fixed order: fiction ranges where they exist."""
    first = _NANP_FIRST.get(country)
    if first is not None:
        for areas in (first, _other_areas(country, first)):
            candidates = (f"+1{area}555{i:04d}" for i in range(10_000) for area in areas)
            yield from _valid(candidates, country)
    else:
        example = phonenumbers.example_number_for_type(country, kind)
        if example is None:
            raise ScenarioError(f"phonenumbers has no example number for country {country!r}")
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        width = min(7, len(e164) - 4)
        prefix = e164[:-width]
        yield from _valid((f"{prefix}{i:0{width}d}" for i in range(10**width)), country)
    raise ScenarioError(f"ran out of fake numbers for {country}")


def _other_areas(country: str, first: tuple[str, ...]) -> list[str]:
    """The country's other NANP area codes (those whose 555 numbers are its own)."""
    return [
        area
        for area in map(str, range(201, 1000))
        if area not in first and _of_country(f"+1{area}5550100", country) is not None
    ]


def _valid(candidates: Iterable[str], country: str) -> Iterator[str]:
    """The candidates that are valid numbers of `country`."""
    for candidate in candidates:
        e164 = _of_country(candidate, country)
        if e164 is not None:
            yield e164


def _of_country(candidate: str, country: str) -> str | None:
    """The candidate in E.164 if it is a valid number of `country`, else None."""
    try:
        info = phone_info(candidate)
    except ValueError:
        return None
    return info.e164 if info.region == country else None
