"""The template API an operator scripts against: pools with their live use, changes by
deltas or whole (5,000 numbers), rotation that cannot shrink a pool, warnings."""

import pytest
from fastapi.testclient import TestClient
from tests.conftest import START, UK

import numsim
from numsim.cli.output import warn_twilio_channels
from numsim.service import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
A, B, C = "+14155550100", "+14155550101", "+919122400001"
POOL = 5_000


@pytest.fixture
def registry():
    with numsim.NumberRegistry() as registry:
        yield registry


@pytest.fixture
def client(registry):
    clock = numsim.ManualClock(START)
    app = create_app(registry, token=TOKEN, clock=clock, sync_interval=None)
    with TestClient(app, headers=AUTH) as client:
        yield client


def add(client, e164, provider="twilio", **fields):
    response = client.post("/numbers", json={"e164": e164, "provider": provider, **fields})
    assert response.status_code == 201, response.text
    return response


def many(count):
    """`count` Plivo numbers of 2 channels, as E.164 strings."""
    return [f"+912240{i:06d}" for i in range(count)]


def import_plivo(client, numbers, template=""):
    rows = "".join(f"{n},plivo,2,{template}\n" for n in numbers)
    csv = "e164,provider,max_concurrent_calls,templates\n" + rows
    response = client.post(
        "/numbers/import", content=csv.encode(), headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text[:500]


def test_list_templates_with_pool_size_and_live_use(client):
    add(client, A, templates=["sales"])
    add(client, C, "plivo", max_concurrent_calls=3, trai_registered=True, templates=["sales"])
    add(client, B, templates=["support"])
    lease = client.post("/allocations", json={"template": "sales", "destination": UK}).json()
    assert client.get("/templates").json() == [
        {"template": "sales", "numbers": 2, "in_use": 1, "capacity": 4},
        {"template": "support", "numbers": 1, "in_use": 0, "capacity": 1},
    ]
    client.delete(f"/allocations/{lease['lease_id']}")
    assert client.get("/templates").json()[0]["in_use"] == 0


def test_one_template_shows_its_numbers_with_their_live_state(client):
    add(client, A, templates=["sales"], max_calls_per_hour=5)
    add(client, B, templates=["support"])
    lease = client.post("/allocations", json={"template": "sales", "destination": UK}).json()
    shown = client.get("/templates/sales").json()
    assert (shown["template"], shown["in_use"], shown["capacity"]) == ("sales", 1, 1)
    [row] = shown["numbers"]
    assert row["e164"] == A and row["max_calls_per_hour"] == 5 and row["templates"] == ["sales"]
    assert (row["in_use"], row["capacity"], row["calls_last_hour"]) == (1, 1, 1)
    assert row["status"] == "busy"
    client.delete(f"/allocations/{lease['lease_id']}")
    assert client.get("/templates/sales").json()["numbers"][0]["status"] == "ready"
    missing = client.get("/templates/nope")
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]


def test_one_template_reads_only_its_own_numbers_states(client, monkeypatch):
    """GET /templates/{t} reads the states of its pool, not of every number;
    GET /templates reads every number's, once."""
    add(client, A, templates=["sales"])
    add(client, B, templates=["support"])
    add(client, C, "plivo", templates=["support"])
    backend = client.app.state.numsim.allocator.backend
    reads, real = [], backend.numbers
    monkeypatch.setattr(
        backend, "numbers", lambda now, e164s=None: reads.append(e164s) or real(now, e164s)
    )
    assert [row["e164"] for row in client.get("/templates/support").json()["numbers"]] == [B, C]
    assert reads == [(B, C)]
    assert len(client.get("/templates").json()) == 2 and reads[1:] == [None]


def test_a_number_the_allocator_does_not_hold_yet_shows_its_registered_settings(client, registry):
    """Registered by another process, before this one syncs: no live state, status
    "unknown", and the row's settings are the registry's."""
    add(client, A, templates=["sales"])
    registry.add(numsim.OutboundNumber(B, "twilio", max_calls_per_hour=7), templates=["sales"])
    shown = client.get("/templates/sales").json()
    row = next(row for row in shown["numbers"] if row["e164"] == B)
    assert (row["in_use"], row["calls_last_hour"], row["status"]) == (0, 0, "unknown")
    assert row["capacity"] is None and row["max_calls_per_hour"] == 7
    assert (shown["in_use"], shown["capacity"]) == (0, 1)


def test_numbers_join_and_leave_a_pool_one_at_a_time_idempotently(client, registry):
    add(client, A)
    add(client, B, templates=["sales"])
    joined = client.put(f"/templates/sales/numbers/{A}")
    assert joined.json() == {"template": "sales", "number": A, "changed": True}
    assert client.put(f"/templates/sales/numbers/{A}").json()["changed"] is False
    assert registry.templates()["sales"].numbers == (A, B)
    assert client.delete(f"/templates/sales/numbers/{B}").json()["changed"] is True
    assert client.delete(f"/templates/sales/numbers/{B}").json()["changed"] is False
    # The allocator follows: only A is left to call from.
    first = client.post("/allocations", json={"template": "sales", "destination": UK})
    assert first.json()["number"] == A
    refused = client.post("/allocations", json={"template": "sales", "destination": UK})
    assert refused.status_code == 409
    for method in ("PUT", "DELETE"):
        unknown = client.request(method, "/templates/sales/numbers/+14155550199")
        assert unknown.status_code == 404 and "+14155550199" in unknown.json()["error"]
    bad = client.put(f"/templates/bad id!/numbers/{A}")
    assert bad.status_code == 422 and "template id" in bad.json()["error"]


def test_template_ids_with_a_slash_work_in_every_route(client, registry):
    add(client, A)
    assert client.put(f"/templates/eu/reminders/numbers/{A}").json()["changed"] is True
    assert registry.templates_of(A) == ["eu/reminders"]
    assert client.get("/templates/eu/reminders").json()["numbers"][0]["e164"] == A
    assert client.put("/templates/eu/reminders/numbers", json={"numbers": []}).status_code == 200
    assert registry.templates_of(A) == []


def test_a_pool_of_5000_numbers_is_set_whole_and_changed_by_deltas(client, registry):
    numbers = many(POOL)
    import_plivo(client, numbers)
    body = {"numbers": numbers}
    response = client.put("/templates/big/numbers", json=body)  # ~80 KB: over 64 KB
    assert response.status_code == 200, response.text[:500]
    assert len(registry.templates()["big"].numbers) == POOL
    assert client.get("/templates").json() == [
        {"template": "big", "numbers": POOL, "in_use": 0, "capacity": 2 * POOL}
    ]
    assert client.delete(f"/templates/big/numbers/{numbers[0]}").json()["changed"] is True
    assert client.put(f"/templates/big/numbers/{numbers[0]}").json()["changed"] is True
    shown = client.get("/templates/big").json()
    assert len(shown["numbers"]) == POOL and shown["capacity"] == 2 * POOL
    # Other bodies keep their small limit.
    big_label = {"e164": A, "provider": "twilio", "label": "x" * (70 * 1024)}
    assert client.post("/numbers", json=big_label).status_code == 413


def test_rotation_into_a_number_already_in_the_pool_is_refused(client, registry):
    add(client, A, templates=["sales"])
    add(client, B, templates=["sales"])
    response = client.post(f"/numbers/{A}/rotate", json={"new": B})
    assert response.status_code == 409
    assert response.json()["error"] == (
        f"cannot rotate {A} into {B}: {B} is already in template(s) sales, "
        "which would lose a number"
    )
    assert registry.templates()["sales"].numbers == (A, B)


def test_a_twilio_number_given_channels_warns_as_the_cli_does(client, capsys):
    cli_words = numsim.OutboundNumber(A, "twilio", max_concurrent_calls=3)
    warn_twilio_channels(cli_words)
    cli = capsys.readouterr().err.removeprefix("numsim: warning: ").strip()
    expected = f'299 - "{cli}"'
    added = add(client, A, max_concurrent_calls=3)
    assert added.headers.get_list("Warning") == [expected]
    assert "Warning" not in add(client, C, "plivo", max_concurrent_calls=3).headers
    changed = client.patch(f"/numbers/{A}", json={"max_concurrent_calls": 2})
    assert changed.headers["Warning"] == expected.replace("3 channels", "2 channels")
    assert "Warning" not in client.patch(f"/numbers/{A}", json={"max_concurrent_calls": 1}).headers
    rotated = client.post(
        f"/numbers/{A}/rotate",
        json={"new": {"e164": B, "provider": "twilio", "max_concurrent_calls": 3}},
    )
    assert rotated.status_code == 200 and rotated.headers["Warning"] == expected


def test_an_import_with_twilio_channels_lists_the_cli_warning(client):
    csv = f"e164,provider,max_concurrent_calls\n{A},twilio,4\n{B},twilio,1\n{C},plivo,4\n"
    response = client.post(
        "/numbers/import", content=csv.encode(), headers={"content-type": "text/csv"}
    )
    message = numsim.numbers.imported_channels_warning(1)
    assert message is not None and "1 row(s)" in message
    assert response.json()["warnings"] == [message]
    assert response.headers["Warning"] == f'299 - "{message}"'
