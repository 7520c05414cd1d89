"""Bulk update means the same as PATCH: a column a file leaves out is left as it is, an
empty cell clears only where its column is present; the same for JSON (a key left out vs
null), over HTTP and in the CLI."""

import io

import pytest
from fastapi.testclient import TestClient

from numsim import NumberRegistry, OutboundNumber
from numsim.cli import main
from numsim.service import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

E164 = "+912240000016"
TOKEN = "test-token-0123456789abcdef"
SET_UP = dict(
    max_concurrent_calls=5,
    max_calls_per_hour=200,
    max_calls_per_day=1000,
    trai_registered=True,
    account="MA0123456789",
    credentials="env:PLIVO_AUTH_TOKEN",
    label="Mumbai 1",
)


@pytest.fixture
def registry():
    with NumberRegistry() as registry:
        registry.add(OutboundNumber(E164, "plivo", **SET_UP), templates=["india"])
        yield registry


def settings(registry):
    number = registry.get(E164)
    return {name: getattr(number, name) for name in SET_UP} | {
        "credentials": str(number.credentials) if number.credentials else None
    }


def test_columns_a_file_leaves_out_are_left_as_they_are(registry):
    report = registry.import_csv(
        io.StringIO(f"e164,provider,label\n{E164},plivo,Mumbai 2\n"), on_existing="update"
    )
    assert report.updated == 1 and report.ok
    assert settings(registry) == SET_UP | {"label": "Mumbai 2"}
    assert registry.templates_of(E164) == ["india"]


def test_an_empty_cell_clears_only_its_own_column(registry):
    text = (
        f"e164,provider,max_calls_per_hour,trai_registered,account,credentials\n{E164},plivo,,,,\n"
    )
    report = registry.import_csv(io.StringIO(text), on_existing="update")
    assert report.updated == 1 and report.ok
    assert settings(registry) == SET_UP | {
        "max_calls_per_hour": None,
        "trai_registered": False,
        "account": None,
        "credentials": None,
    }


def test_clearing_a_setting_that_needs_a_value_is_an_error_naming_it(registry):
    text = f"e164,provider,max_concurrent_calls,label\n{E164},plivo,,changed\n"
    report = registry.import_csv(io.StringIO(text), on_existing="update")
    assert (report.updated, report.rejected) == (0, 1)
    (error,) = report.errors
    assert (error.line, error.column) == (2, "max_concurrent_calls")
    assert "cannot be cleared" in error.reason
    assert settings(registry) == SET_UP  # the row changed nothing


def test_a_new_number_in_an_update_file_takes_the_defaults(registry):
    text = f"e164,provider,max_concurrent_calls\n{E164},plivo,\n+912240000017,plivo,\n"
    report = registry.import_csv(io.StringIO(text), on_existing="update")
    assert (report.added, report.rejected) == (1, 1)
    assert registry.get("+912240000017").max_concurrent_calls == 1


def test_json_import_tells_a_key_left_out_from_a_null():
    with NumberRegistry() as registry:
        registry.add(OutboundNumber(E164, "plivo", **SET_UP), templates=["india"])
        app = create_app(registry, token=TOKEN, sync_interval=None)
        with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            body = [{"e164": E164, "provider": "plivo", "max_calls_per_day": None, "label": "x"}]
            response = client.post("/numbers/import?on_existing=update", json=body)
            assert response.status_code == 200, response.text
            assert settings(registry) == SET_UP | {"max_calls_per_day": None, "label": "x"}
            number = client.app.state.numsim.allocator.numbers[E164]
            assert (number.max_concurrent_calls, number.max_calls_per_day) == (5, None)
            bad = [{"e164": E164, "provider": "plivo", "max_concurrent_calls": None}]
            response = client.post("/numbers/import?on_existing=update", json=bad)
            assert response.status_code == 422
            assert response.json()["errors"][0]["column"] == "max_concurrent_calls"


def test_the_cli_update_leaves_out_what_the_file_leaves_out(tmp_path, capsys):
    db = str(tmp_path / "numbers.db")
    with NumberRegistry(db) as registry:
        registry.add(OutboundNumber(E164, "plivo", **SET_UP), templates=["india"])
    path = tmp_path / "labels.csv"
    path.write_text(f"e164,provider,label\n{E164},plivo,Mumbai 2\n")
    assert main(["numbers", "--db", db, "import", str(path), "--on-existing", "update"]) == 0
    assert "updated 1" in capsys.readouterr().out
    with NumberRegistry(db) as registry:
        assert settings(registry) == SET_UP | {"label": "Mumbai 2"}


MOVE = "moves from plivo to exotel but would keep the plivo account and credentials"


def test_an_update_that_changes_the_provider_must_give_its_account_and_credentials(registry):
    lone = f"e164,provider,label\n{E164},exotel,moved\n"
    report = registry.import_csv(io.StringIO(lone), on_existing="update")
    assert (report.updated, report.rejected) == (0, 1)
    (error,) = report.errors
    assert (error.line, error.column) == (2, "provider") and MOVE in error.reason
    assert registry.get(E164).provider.value == "plivo" and settings(registry) == SET_UP
    text = f"e164,provider,account,credentials\n{E164},exotel,acme1,env:EXOTEL_KEYS\n"
    report = registry.import_csv(io.StringIO(text), on_existing="update")
    assert report.ok and report.updated == 1
    number = registry.get(E164)
    assert (number.provider.value, number.account, str(number.credentials)) == (
        "exotel",
        "acme1",
        "env:EXOTEL_KEYS",
    )


def test_patch_and_the_cli_refuse_a_provider_change_the_same_way(
    registry, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EXOTEL_KEYS", "key:token")
    app = create_app(registry, token=TOKEN, sync_interval=None)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = client.patch(f"/numbers/{E164}", json={"provider": "exotel"})
        assert response.status_code == 422 and MOVE in response.json()["error"]
        response = client.patch(f"/numbers/{E164}", json={"provider": "exotel", "account": "acme1"})
        assert response.status_code == 422
        assert "would keep the plivo credentials:" in response.json()["error"]
        assert settings(registry) == SET_UP
        body = [{"e164": E164, "provider": "exotel"}]
        response = client.post("/numbers/import?on_existing=update", json=body)
        assert response.status_code == 422 and MOVE in response.json()["errors"][0]["reason"]
        given = {"provider": "exotel", "account": "acme1", "credentials": "env:EXOTEL_KEYS"}
        response = client.patch(f"/numbers/{E164}", json=given)
        assert response.status_code == 200 and response.json()["provider"] == "exotel"
    db = str(tmp_path / "numbers.db")
    with NumberRegistry(db) as on_disk:
        on_disk.add(OutboundNumber(E164, "plivo", **SET_UP))
    path = tmp_path / "moved.csv"
    path.write_text(f"e164,provider,label\n{E164},exotel,moved\n")
    assert main(["numbers", "--db", db, "import", str(path), "--on-existing", "update"]) == 1
    out = capsys.readouterr().out
    assert f"line 2, column provider: {E164} {MOVE}: give the exotel account" in out
