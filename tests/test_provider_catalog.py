"""Providers are registered once (providers.catalog): every provider has its row, and
everything that needs a provider's adapter, pacing or inbound answer reads it there."""

import logging

import pytest

from numsim import Provider
from numsim import providers as providers_module
from numsim.providers import ProviderAdapter, catalog
from numsim.service import markup
from numsim.service.state import _adapters

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("provider", list(Provider))
def test_every_provider_is_registered_with_its_adapter_pacing_and_answer(provider):
    row = catalog.PROVIDERS[provider]
    adapter = catalog.adapter_class(provider)
    assert issubclass(adapter, ProviderAdapter)
    assert adapter.provider is provider
    assert getattr(providers_module, row.class_name) is adapter
    assert row.class_name in providers_module.__all__
    assert adapter.default_cps() == row.cps > 0
    made = adapter("acct-1", "env:NUMSIM_TEST_TOKEN")
    assert made.cps == row.cps
    busy = markup.busy(provider, None)
    if row.busy_element is None:
        assert busy.status_code == 302
    else:
        assert row.busy_element in busy.body.decode()


def test_the_service_builds_an_adapter_per_account_of_every_provider():
    accounts = {(p, f"acct-{p.value}", "env:NUMSIM_TEST_TOKEN") for p in Provider}
    made = _adapters(accounts, {}, {})
    assert sorted(a.provider.value for a in made) == sorted(p.value for p in Provider)


def test_an_account_of_an_unregistered_provider_is_a_warning_not_a_key_error(monkeypatch, caplog):
    kept = {p: r for p, r in catalog.PROVIDERS.items() if p is not Provider.EXOTEL}
    monkeypatch.setattr(catalog, "PROVIDERS", kept)
    accounts = {(p, "acct", "env:NUMSIM_TEST_TOKEN") for p in Provider}
    with caplog.at_level(logging.WARNING):
        made = _adapters(accounts, {}, {})
    assert {a.provider for a in made} == set(Provider) - {Provider.EXOTEL}
    assert "'exotel' has no adapter registered" in caplog.text
    with pytest.raises(ValueError, match="'exotel' has no adapter registered"):
        catalog.adapter_class(Provider.EXOTEL)
