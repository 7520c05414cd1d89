"""The service at scale: a change costs what changed (the registry's change log), by this
process or another; readiness answers during a long import."""

import io
import threading

import pytest
from fastapi.testclient import TestClient

import numsim
from conftest import START, UK
from numsim import registry as registry_module
from numsim.service import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NUMBERS = [f"+1415555{i:04d}" for i in range(20)]


def filled(registry):
    for e164 in NUMBERS:
        registry.add(numsim.OutboundNumber(e164, "plivo", max_concurrent_calls=2), templates=["t"])


def test_a_change_through_the_api_reads_only_the_numbers_it_changed(monkeypatch):
    with numsim.NumberRegistry() as registry:
        filled(registry)
        app = create_app(registry, token=TOKEN, clock=numsim.ManualClock(START), sync_interval=None)
        with TestClient(app, headers=AUTH) as client:
            allocator = app.state.numsim.allocator

            every_row = registry.rows

            def rows(template=None):  # a template's pool may be read; never every number
                assert template is not None, "the whole registry was read for one change"
                return every_row(template)

            monkeypatch.setattr(registry, "rows", rows)
            lease = client.post("/allocations", json={"template": "t", "destination": UK}).json()
            assert client.patch(f"/numbers/{NUMBERS[0]}", json={"max_calls_per_hour": 7}).is_success
            assert allocator.numbers[NUMBERS[0]].max_calls_per_hour == 7
            added = {"e164": "+14155559999", "provider": "twilio", "templates": ["u"]}
            assert client.post("/numbers", json=added).status_code == 201
            assert allocator.templates["u"] == ("+14155559999",)
            pool = {"numbers": NUMBERS[:2]}
            assert client.put("/templates/t/numbers", json=pool).is_success
            assert sorted(allocator.templates["t"]) == NUMBERS[:2]
            assert client.delete(f"/numbers/{NUMBERS[5]}").is_success
            assert NUMBERS[5] not in allocator.numbers
            csv = f"e164,provider,templates\n{NUMBERS[6]},plivo,u\n"
            response = client.post(
                "/numbers/import?on_existing=update",
                content=csv,
                headers={"content-type": "text/csv"},
            )
            assert response.status_code == 200, response.text
            assert NUMBERS[6] in allocator.templates["u"]
            assert allocator.in_use(lease["number"]) == 1  # the live lease is kept


def test_another_processs_removals_and_unassignments_reach_the_allocator(tmp_path):
    path = tmp_path / "numbers.db"
    with numsim.NumberRegistry(path) as mine, numsim.NumberRegistry(path) as theirs:
        filled(theirs)
        app = create_app(mine, token=TOKEN, sync_interval=None)
        service = app.state.numsim
        assert not service.refresh()
        theirs.unassign("t", NUMBERS[:3])
        theirs.remove(NUMBERS[0])
        theirs.assign("v", NUMBERS[1:2])
        theirs.update(NUMBERS[2], label="moved")
        theirs.rotate(NUMBERS[3], numsim.OutboundNumber("+14155550999", "twilio"))
        theirs.import_csv(
            io.StringIO(f"e164,provider,templates\n{NUMBERS[4]},plivo,w\n"), on_existing="update"
        )
        assert service.refresh() and not service.refresh()
        allocator = service.allocator
        assert NUMBERS[0] not in allocator.numbers
        assert sorted(allocator.templates["t"]) == sorted([*NUMBERS[4:], "+14155550999"])
        assert allocator.templates["v"] == (NUMBERS[1],)
        assert allocator.numbers[NUMBERS[2]].label == "moved"
        assert allocator.templates_of("+14155550999") == ["t"] and not allocator.templates_of(
            NUMBERS[3]
        )
        assert allocator.templates_of(NUMBERS[4]) == ["t", "w"]


def test_a_reader_behind_the_kept_log_reads_everything(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_module, "LOG_KEPT", 3)
    path = tmp_path / "numbers.db"
    with numsim.NumberRegistry(path) as mine, numsim.NumberRegistry(path) as theirs:
        filled(theirs)
        service = create_app(mine, token=TOKEN, sync_interval=None).state.numsim
        seen = mine.change_count()
        for e164 in NUMBERS:  # 20 changes: the log keeps the last 3 to 6
            theirs.update(e164, label="new")
        theirs.remove(NUMBERS[0], force=True)
        assert mine.changes_since(seen) is None  # too far behind: read everything
        assert mine.changes_since(mine.change_count() + 1) is None  # ahead: another file
        assert service.refresh()
        assert NUMBERS[0] not in service.allocator.numbers
        assert {n.label for n in service.allocator.numbers.values()} == {"new"}
        assert len(mine.changes_since(mine.change_count() - 1).rows) == 0  # the removal
        assert mine.changes_since(mine.change_count() - 1).removed == [NUMBERS[0]]


def test_readiness_answers_while_an_import_holds_the_registry(tmp_path):
    path = tmp_path / "numbers.db"
    with numsim.NumberRegistry(path) as registry:
        app = create_app(registry, token=TOKEN, sync_interval=None)
        midway, finish = threading.Event(), threading.Event()

        def rows():
            yield 2, {"e164": NUMBERS[0], "provider": "plivo"}
            midway.set()
            finish.wait(5)  # the import's transaction stays open until the test is done
            yield 3, {"e164": NUMBERS[1], "provider": "plivo"}

        importing = threading.Thread(target=registry.import_rows, args=(rows(),))
        importing.start()
        try:
            assert midway.wait(10)
            with TestClient(app, headers=AUTH) as client:
                response = client.get("/readyz")
            assert importing.is_alive()  # answered while the import still held the registry
            assert response.status_code == 200 and response.json()["registry"] == "ok"
        finally:
            finish.set()
            importing.join(10)
        assert len(registry) == 2
