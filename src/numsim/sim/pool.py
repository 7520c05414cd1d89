"""The simulated pool and its callers: fake but valid numbers, or a real registry's pool."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from ..errors import RegistryError
from ..numbers import OutboundNumber
from ..phone import phone_info
from ..registry import NumberRegistry
from .scenario import Scenario, ScenarioError

# Bases for NANP numbers: 555 exchanges are reserved for fiction.
_NANP_AREAS = ("415", "212", "312", "206", "617", "303", "404", "512", "702", "305")


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


def fake_destinations(country: str, count: int) -> list[str]:
    """`count` distinct valid mobile numbers of `country`, the same every time."""
    return list(_fake_destinations(country, count))


@lru_cache(maxsize=16)
def _fake_destinations(country: str, count: int) -> tuple[str, ...]:
    """Generated and validated once per process: every run of a worker reuses them."""
    source = fake_numbers(country, PhoneNumberType.MOBILE)
    return tuple(next(source) for _ in range(count))


def fake_numbers(country: str, kind: int) -> Iterator[str]:
    """Valid numbers of a country, in a fixed order: fiction ranges where they exist."""
    if country in ("US", "CA"):
        yield from _valid(f"+1{area}555{i:04d}" for i in range(10_000) for area in _NANP_AREAS)
        return
    example = phonenumbers.example_number_for_type(country, kind)
    if example is None:
        raise ScenarioError(f"phonenumbers has no example number for country {country!r}")
    e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
    width = min(7, len(e164) - 4)
    prefix = e164[:-width]
    yield from _valid(f"{prefix}{i:0{width}d}" for i in range(10**width))
    raise ScenarioError(f"ran out of fake numbers for {country}")


def _valid(candidates: Iterator[str]) -> Iterator[str]:
    for candidate in candidates:
        try:
            yield phone_info(candidate).e164
        except ValueError:
            continue
