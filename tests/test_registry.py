"""NumberRegistry: the SQLite system of record for numbers and template pools."""

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from numsim import (
    NumberRegistry,
    OutboundNumber,
    RegistryError,
    UnknownNumberError,
    UnknownTemplateError,
)
from numsim import registry as registry_module
from numsim.errors import InvalidRequestError
from numsim.numbers import SETTINGS, Setting
from numsim.registry import SCHEMA_VERSION

# Written by numsim before settings were declared once (main at 236ef7b): see
# test_a_registry_written_by_the_previous_version_opens_and_migrates.
PREVIOUS_VERSION = Path(__file__).parent / "data" / "registry_v1.db"

TWILIO = OutboundNumber("+14155550100", "twilio", stir_shaken_attested=True)
PLIVO = OutboundNumber("+912240000011", "plivo", max_concurrent_calls=10, trai_registered=True)
EXOTEL = OutboundNumber("+918045000001", "exotel", max_concurrent_calls=4, max_calls_per_hour=60)


@pytest.fixture
def registry():
    with NumberRegistry() as reg:
        yield reg


def test_add_get_and_list(registry):
    registry.add(PLIVO, templates=["collections"])
    registry.add(TWILIO)
    assert registry.get("+91 22 4000 0011") == PLIVO
    assert [n.e164 for n in registry.numbers()] == [TWILIO.e164, PLIVO.e164]
    assert len(registry) == 2 and TWILIO.e164 in registry and "+15555" not in registry


def test_adding_a_present_number_is_refused(registry):
    registry.add(TWILIO)
    with pytest.raises(RegistryError, match="already in the registry"):
        registry.add(TWILIO)


def test_get_unknown_number_names_it(registry):
    with pytest.raises(UnknownNumberError, match=r"\+14155550100 is not in the registry"):
        registry.get("+14155550100")


def test_update_changes_limits_and_flags_with_validation(registry):
    registry.add(EXOTEL)
    updated = registry.update(EXOTEL.e164, max_calls_per_hour=30, trai_registered=True)
    assert registry.get(EXOTEL.e164) == updated
    assert (updated.max_calls_per_hour, updated.trai_registered) == (30, True)
    with pytest.raises(ValueError, match="max_concurrent_calls"):
        registry.update(EXOTEL.e164, max_concurrent_calls=0)
    with pytest.raises(RegistryError, match="unknown setting") as refused:
        registry.update(EXOTEL.e164, colour="red")
    assert isinstance(refused.value, InvalidRequestError)  # bad input (HTTP 422), no conflict
    assert registry.get(EXOTEL.e164) == updated  # a refused update changes nothing


def test_update_with_templates_makes_them_the_numbers_pools_all_or_nothing(registry, monkeypatch):
    registry.add(EXOTEL, templates=["a", "b"])
    updated = registry.update(EXOTEL.e164, templates=["b", "c"], max_calls_per_hour=30)
    assert registry.templates_of(EXOTEL.e164) == ["b", "c"]
    assert registry.get(EXOTEL.e164) == updated

    def broken(*args):
        raise RegistryError("the disk is full")

    monkeypatch.setattr(registry_module.NumberRegistry, "_assign", staticmethod(broken))
    with pytest.raises(RegistryError, match="the disk is full"):
        registry.update(EXOTEL.e164, templates=["d"], max_calls_per_hour=40)
    assert registry.get(EXOTEL.e164) == updated  # the settings were not saved either
    assert registry.templates_of(EXOTEL.e164) == ["b", "c"]


def test_remove_is_refused_while_a_template_uses_the_number(registry):
    registry.add(TWILIO, templates=["us"])
    with pytest.raises(RegistryError, match="used by template"):
        registry.remove(TWILIO.e164)
    registry.remove(TWILIO.e164, force=True)
    assert TWILIO.e164 not in registry
    assert "us" not in registry.templates()


def test_assign_unassign_and_pool(registry):
    for number in (TWILIO, PLIVO, EXOTEL):
        registry.add(number)
    registry.assign("india", [PLIVO.e164, "+91 80 4500 0001"])
    registry.assign("india", [PLIVO.e164])  # assigning twice keeps one assignment
    assert [n.e164 for n in registry.pool("india")] == [PLIVO.e164, EXOTEL.e164]
    assert registry.templates_of(PLIVO.e164) == ["india"]
    registry.unassign("india", [EXOTEL.e164])
    assert registry.templates()["india"].numbers == (PLIVO.e164,)
    with pytest.raises(RegistryError, match="not in template"):
        registry.unassign("india", [EXOTEL.e164])


def test_assign_refuses_unknown_numbers_and_changes_nothing(registry):
    registry.add(TWILIO)
    with pytest.raises(UnknownNumberError):
        registry.assign("us", [TWILIO.e164, "+14155550199"])
    assert registry.templates() == {}


def test_pool_of_unknown_template(registry):
    with pytest.raises(UnknownTemplateError, match="'nope'"):
        registry.pool("nope")


def test_rotate_swaps_in_every_template_in_one_transaction(registry):
    registry.add(TWILIO, templates=["a", "b"])
    replacement = OutboundNumber("+14155550101", "twilio", stir_shaken_attested=True)
    changed = registry.rotate(TWILIO.e164, replacement)
    assert changed == ["a", "b"]
    assert all(t.numbers == (replacement.e164,) for t in registry.templates().values())
    assert TWILIO.e164 in registry  # the old number stays, unassigned
    assert registry.templates_of(TWILIO.e164) == []


def test_rotate_to_unknown_number_changes_nothing(registry):
    registry.add(TWILIO, templates=["a"])
    with pytest.raises(UnknownNumberError):
        registry.rotate(TWILIO.e164, "+14155550199")
    assert registry.templates()["a"].numbers == (TWILIO.e164,)


def test_rotate_into_a_number_already_in_the_pool_is_refused(registry):
    # It used to succeed and silently leave the pool one number short.
    other = OutboundNumber("+14155550101", "twilio", stir_shaken_attested=True)
    registry.add(TWILIO, templates=["a", "b"])
    registry.add(other, templates=["b"])
    with pytest.raises(RegistryError, match=r"\+14155550101 is already in template\(s\) b"):
        registry.rotate(TWILIO.e164, other.e164)
    assert registry.templates()["a"].numbers == (TWILIO.e164,)
    assert registry.templates()["b"].numbers == (TWILIO.e164, other.e164)


def test_file_registry_persists_and_is_versioned(tmp_path):
    path = tmp_path / "reg.db"
    with NumberRegistry(path) as reg:
        reg.add(PLIVO, templates=["collections"])
        assert reg.schema_version == SCHEMA_VERSION
    with NumberRegistry(path) as reg:
        assert reg.pool("collections") == [PLIVO]


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    NumberRegistry(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RegistryError, match="newer than this numsim"):
        NumberRegistry(path)


def test_a_registry_written_by_the_previous_version_opens_and_migrates(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(PREVIOUS_VERSION, path)
    with NumberRegistry(path) as reg:
        assert reg.schema_version == SCHEMA_VERSION
        assert reg.get("+14155550100") == OutboundNumber(
            "+14155550100",
            "twilio",
            max_calls_per_hour=60,
            max_calls_per_day=150,
            stir_shaken_attested=True,
            account="AC123",
            credentials="env:TWILIO_TOKEN",
            label="sales",
        )
        assert reg.get("+919876543210").max_concurrent_calls == 4
        assert reg.templates_of("+14155550100") == ["promo", "welcome"]
        reg.update("+14155550101", max_calls_per_hour=30)
        reg.add(PLIVO, templates=["promo"])
    with NumberRegistry(path) as reg:
        assert reg.get("+14155550101").max_calls_per_hour == 30
        assert len(reg) == 4


def test_a_setting_declared_later_gets_its_column_on_open(tmp_path, monkeypatch):
    """A new setting needs no migration step: opening an older file adds its column,
    with its default and bounds, and keeps the rows."""
    path = tmp_path / "old.db"
    shutil.copy(PREVIOUS_VERSION, path)
    minute = Setting("max_calls_per_second", "whole", None, "calls per second", "x")
    pinned = Setting("pinned", "flag", True, "a flag defaulting to true", "pinned")
    monkeypatch.setattr(registry_module, "SETTINGS", (*SETTINGS, minute, pinned))
    NumberRegistry(path).close()
    with sqlite3.connect(path) as db:
        columns = {row[1]: row for row in db.execute("PRAGMA table_info(numbers)")}
        assert columns["max_calls_per_second"][2] == "INTEGER"
        assert columns["pinned"][3:5] == (1, "1")  # NOT NULL DEFAULT 1
        assert db.execute("SELECT count(*), min(pinned) FROM numbers").fetchone() == (3, 1)
        with pytest.raises(sqlite3.IntegrityError):  # bounds come from the declaration
            db.execute("UPDATE numbers SET max_calls_per_second = 0")


def test_safe_from_many_threads(tmp_path):
    registry = NumberRegistry(tmp_path / "threads.db")
    errors = []

    def add_range(start):
        try:
            for i in range(start, start + 25):
                registry.add(OutboundNumber(f"+1415555{i:04d}", "twilio"), templates=["t"])
                registry.numbers()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=add_range, args=(k * 25,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(registry) == 200
    assert len(registry.pool("t")) == 200
    registry.close()
