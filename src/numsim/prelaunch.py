"""The pre-launch check: what would make a campaign's calls fail, found before it starts.

One function behind `numsim numbers check` and `GET /numbers/check`. Per number:

- credentials: its reference resolves here (else no call from it can be placed, and its
  webhooks cannot verify);
- provider: its account owns it and it can make voice calls, asked of the provider
  through the account's adapter (the provider silently drops calls otherwise). A
  provider that cannot be asked (unreachable, refusing the credentials, the providers
  extra missing) gives the finding "not checked: <why>", never an exception;
- compliance: it may call the regions its templates call (TRAI for India, STIR/SHAKEN
  for the US and Canada; the allocator's rules, `rules.compliance_map`).

Which regions a template calls: the registry does not record destinations. Given
`regions`, every template checked is taken to call them. Not given, a template is taken
to call the countries of its own numbers (local presence: a pool of Indian numbers
calls India); name the others with `regions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import phonenumbers

from .allocator.rules import COMPLIANCE_TAGS, compliance_map
from .credentials import CredentialError
from .numbers import NUMBER_FIELDS, OutboundNumber, Provider
from .providers.catalog import adapter_class
from .providers.errors import ProviderError
from .registry import NumberRegistry

CREDENTIALS, PROVIDER, COMPLIANCE = "credentials", "provider", "compliance"
# Codes people use that ISO 3166 spells otherwise.
_NOT_ISO = {"UK": "GB", "EL": "GR", "USA": "US", "IND": "IN", "CAN": "CA", "GBR": "GB"}
RULE_NAMES = {"trai": "TRAI registration", "stir_shaken": "STIR/SHAKEN attestation"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with one number: which check found it, and what."""

    number: str
    check: str  # credentials | provider | compliance
    problem: str


@dataclass(frozen=True)
class CheckReport:
    """What the check looked at and what it found; `ok` when it found nothing."""

    numbers: int
    regions: dict[str, list[str]]  # template -> the regions it was checked against
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "numbers": self.numbers,
            "regions": self.regions,
            "findings": [asdict(finding) for finding in self.findings],
        }

    def __str__(self) -> str:
        called = "; ".join(f"{t} {', '.join(r) or '-'}" for t, r in self.regions.items())
        where = f" (regions: {called})" if called else ""
        if self.ok:
            return f"numsim numbers check: {self.numbers} number(s), all well{where}"
        wrong = len({finding.number for finding in self.findings})
        return f"numsim numbers check: {wrong} of {self.numbers} number(s) need attention{where}"


def check_numbers(
    registry: NumberRegistry,
    *,
    template: str | None = None,
    regions: Iterable[str] = (),
    compliance: bool | Mapping[str, str] = True,
    provider: bool = True,
    provider_urls: Mapping[Provider, str] | None = None,
) -> CheckReport:
    """Check every number (or `template`'s pool) before a campaign.

    `regions`: the countries (ISO 3166 codes) the templates call; none given: each
    template's own numbers' countries. `compliance`: the allocator's rules (True: the
    defaults). `provider`: ask the providers (False: offline, credentials and compliance
    only). `provider_urls`: another endpoint per provider (a staging API, a fake)."""
    given = [_region(code) for code in regions]
    rules = compliance_map(compliance)
    numbers: list[OutboundNumber] = []
    pools: dict[str, list[OutboundNumber]] = {}
    for row in registry.rows(template):  # UnknownTemplateError for an unknown template
        number = OutboundNumber(**{f: row[f] for f in NUMBER_FIELDS})  # type: ignore[arg-type]
        numbers.append(number)
        for name in row["templates"]:  # type: ignore[attr-defined]
            if template is None or name == template:
                pools.setdefault(name, []).append(number)
    called = {
        name: given or sorted({number.region for number in pool}) for name, pool in pools.items()
    }
    findings = [*_credentials(numbers), *_compliance(pools, called, rules)]
    if provider:
        unresolved = {f.number for f in findings if f.check == CREDENTIALS}
        checkable = [n for n in numbers if n.e164 not in unresolved]
        findings += _provider(checkable, provider_urls or {})
    order = {CREDENTIALS: 0, PROVIDER: 1, COMPLIANCE: 2}
    findings.sort(key=lambda f: (f.number, order[f.check], f.problem))
    return CheckReport(len(numbers), dict(sorted(called.items())), findings)


def _region(code: str) -> str:
    """An ISO 3166 code phonenumbers knows: a code it does not know would match no
    compliance rule, and the check would pass in silence."""
    region = code.strip().upper() if isinstance(code, str) else ""
    if region in _NOT_ISO:
        raise ValueError(f"region {code!r} is not an ISO 3166 country code; use {_NOT_ISO[region]}")
    if len(region) != 2 or not region.isascii() or not region.isalpha():
        raise ValueError(f"a region is an ISO 3166 country code such as IN or US, got {code!r}")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {code!r}: no country has that ISO 3166 country code")
    return region


def _credentials(numbers: Iterable[OutboundNumber]) -> Iterable[Finding]:
    for number in numbers:
        if number.credentials is None:
            continue
        try:
            number.credentials.resolve()
        except CredentialError as error:
            problem = f"credentials {number.credentials} do not resolve here: {error}"
            yield Finding(number.e164, CREDENTIALS, problem)


def _compliance(
    pools: Mapping[str, list[OutboundNumber]],
    called: Mapping[str, list[str]],
    rules: Mapping[str, str],
) -> Iterable[Finding]:
    """A number lacking the flag a region its template calls needs: the allocator never
    gives it a call there, so that template's pool is smaller there than it looks."""
    missing: dict[tuple[str, str], list[str]] = {}
    for name, pool in pools.items():
        for region in called[name]:
            tag = rules.get(region)
            if tag is None:
                continue
            for number in pool:
                if not getattr(number, COMPLIANCE_TAGS[tag]):
                    missing.setdefault((number.e164, region), []).append(name)
    for (e164, region), templates in missing.items():
        rule = RULE_NAMES.get(rules[region], rules[region])
        problem = (
            f"may not call {region} (needs {rule}), which template(s) "
            f"{', '.join(sorted(templates))} call"
        )
        yield Finding(e164, COMPLIANCE, problem)


def _provider(
    numbers: Iterable[OutboundNumber], base_urls: Mapping[Provider, str]
) -> Iterable[Finding]:
    """Ask each account about its numbers: one adapter per account, the cheapest way."""
    accounts: dict[tuple[Provider, str, str], list[str]] = {}
    for number in numbers:
        if number.account is None or number.credentials is None:
            yield Finding(
                number.e164,
                PROVIDER,
                "not checked: the number has no account and credentials, so numsim "
                "cannot place its calls",
            )
            continue
        key = (number.provider, number.account, str(number.credentials))
        accounts.setdefault(key, []).append(number.e164)
    for (kind, account, credentials), e164s in sorted(accounts.items()):
        name = f"{kind.value} account {account}"
        try:
            options: dict[str, Any] = {"base_url": base_urls[kind]} if kind in base_urls else {}
            adapter = adapter_class(kind)(account, credentials, **options)
            owned = adapter.look_up(e164s)
        except (ProviderError, ImportError, ValueError, CredentialError) as error:
            for e164 in e164s:
                yield Finding(e164, PROVIDER, f"not checked: cannot ask {name}: {error}")
            continue
        for e164 in e164s:
            found = owned.get(e164)
            if found is None:
                yield Finding(e164, PROVIDER, f"not a number of {name}")
            elif not found.voice:
                yield Finding(e164, PROVIDER, f"owned by {name} but not enabled for voice")
