"""/metrics an operator alerts on: caps, statuses, refusals by template, the per-number
switch; the shipped Grafana dashboard and Prometheus alert rules, checked by promtool
against what /metrics really exposes."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import numsim
from conftest import IN, START, US
from numsim.cli import main
from numsim.numbers import CAPS
from numsim.service import AllocatorCollector, create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOCS = Path(__file__).parent.parent / "docs"
TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CAPPED, TWILIO, IDLE = "+919122400001", "+14155550100", "+14155550101"
PROMTOOL_HELP = "NUMSIM_REQUIRE_PROMTOOL=1 makes this a failure instead of a skip"


def promtool():
    """promtool (Debian's prometheus package), or skip (fail with NUMSIM_REQUIRE_PROMTOOL=1)."""
    binary = shutil.which("promtool")
    if binary is None:
        problem = f"promtool not found: apt-get install -y prometheus ({PROMTOOL_HELP})"
        if os.environ.get("NUMSIM_REQUIRE_PROMTOOL") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    return binary


def check_rules(path):
    done = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def clock():
    return numsim.ManualClock(START + 2 * 3600)  # 09:00 in New York


def busy_pool(per_number_metrics=True, clock=None):
    """An app whose pool has a number at its hourly cap, a busy one, an idle one, and
    refusals of two templates."""
    registry = numsim.NumberRegistry()
    registry.add(
        numsim.OutboundNumber(
            CAPPED, "plivo", max_concurrent_calls=2, max_calls_per_hour=1, trai_registered=True
        ),
        templates=["india"],
    )
    registry.add(
        numsim.OutboundNumber(TWILIO, "twilio", max_calls_per_day=100, stir_shaken_attested=True),
        templates=["us"],
    )
    registry.add(numsim.OutboundNumber(IDLE, "twilio"), templates=["spare"])
    app = create_app(
        registry,
        token=TOKEN,
        clock=clock,
        sync_interval=None,
        per_number_metrics=per_number_metrics,
    )
    return registry, app


def take(client, template, destination, refused=None):
    """A call granted, or refused for the `refused` reason."""
    response = client.post("/allocations", json={"template": template, "destination": destination})
    assert (response.status_code == 201) is (refused is None), response.text
    assert response.json().get("reason") == refused
    return response.json()


def exercised(client):
    """Acquisitions, refusals of two templates, an expired lease, a webhook failure."""
    take(client, "india", IN)
    take(client, "india", "+919876543211", refused="hourly_cap")
    lease = take(client, "us", US)
    take(client, "us", "+12125550144", refused="busy")
    client.delete(f"/allocations/{lease['lease_id']}")
    take(client, "spare", US, refused="not_compliant")  # no STIR/SHAKEN
    client.app.state.numsim.metrics.callback_failure("twilio")
    return client.get("/metrics").text


def samples(text):
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text, name, **labels):
    found = [
        s.value
        for s in samples(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_metrics_give_caps_statuses_and_refusals_by_template(clock):
    registry, app = busy_pool(clock=clock)
    with registry, TestClient(app, headers=AUTH) as client:
        text = exercised(client)
    for spec in CAPS:  # a gauge per cap setting, for the numbers that have one
        assert f"# TYPE numsim_{spec.name} gauge" in text
    assert value(text, "numsim_max_calls_per_hour", number=CAPPED) == 1
    assert value(text, "numsim_max_calls_per_day", number=TWILIO) == 100
    assert not [s for s in samples(text) if s.labels.get("number") == IDLE and "max_" in s.name]
    assert value(text, "numsim_calls_last_hour", number=CAPPED) == 1
    assert value(text, "numsim_number_status", number=CAPPED, status="hourly_cap") == 1
    assert value(text, "numsim_number_status", number=IDLE, status="ready") == 1
    statuses = [s for s in samples(text) if s.name == "numsim_number_status"]
    assert len(statuses) == 3  # one series per number
    assert value(text, "numsim_template_numbers", template="india", status="hourly_cap") == 1
    assert value(text, "numsim_template_numbers", template="us", status="ready") == 1
    assert value(text, "numsim_template_refusals_total", template="india", reason="hourly_cap") == 1
    assert value(text, "numsim_template_refusals_total", template="us", reason="busy") == 1
    assert value(text, "numsim_template_refusals_total", template="spare", reason="not_compliant")
    assert value(text, "numsim_refusals_total", reason="busy") == 1  # the totals stay
    assert value(text, "numsim_callback_verification_failures_total", provider="twilio") == 1


def test_a_pools_use_is_the_same_in_metrics_and_the_template_api(clock):
    """One definition (service/live.py): /metrics, GET /templates and GET /templates/{t}
    agree, a call in progress included; an emptied pool is left out of both."""
    registry, app = busy_pool(clock=clock)
    with registry, TestClient(app, headers=AUTH) as client:
        exercised(client)
        lease = take(client, "us", US)
        assert client.delete(f"/templates/spare/numbers/{IDLE}").json()["changed"] is True
        text = client.get("/metrics").text
        listed = client.get("/templates").json()
        assert [pool["template"] for pool in listed] == ["india", "us"]
        for pool in listed:
            template = pool["template"]
            shown = client.get(f"/templates/{template}").json()
            in_use = value(text, "numsim_template_channels_in_use", template=template)
            capacity = value(text, "numsim_template_channels_capacity", template=template)
            assert pool["in_use"] == shown["in_use"] == in_use
            assert pool["capacity"] == shown["capacity"] == capacity
            assert pool["numbers"] == len(shown["numbers"])
        assert [p["in_use"] for p in listed] == [1, 1]  # india's call from exercised(), us's
        assert not [
            s for s in samples(text) if s.labels.get("template") == "spare" and "channels" in s.name
        ]
        client.delete(f"/allocations/{lease['lease_id']}")


def test_the_switch_drops_per_number_series_and_keeps_per_template_ones(clock):
    registry, app = busy_pool(per_number_metrics=False, clock=clock)
    with registry, TestClient(app, headers=AUTH) as client:
        text = exercised(client)
    assert not [s for s in samples(text) if "number" in s.labels]
    assert value(text, "numsim_template_channels_in_use", template="india") == 1
    assert value(text, "numsim_template_numbers", template="india", status="hourly_cap") == 1
    assert value(text, "numsim_template_refusals_total", template="us", reason="busy") == 1


def test_the_fast_exposition_says_what_prometheus_clients_writer_says(clock):
    registry, app = busy_pool(clock=clock)
    with registry, TestClient(app, headers=AUTH) as client:
        ours = exercised(client)
        collector = client.app.state.numsim.metrics
        prometheus = CollectorRegistry(auto_describe=False)
        prometheus.register(collector)
        theirs = generate_latest(prometheus).decode()
    assert sorted(ours.splitlines()) == sorted(theirs.splitlines())


def test_serve_passes_the_switch(monkeypatch, tmp_path):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    monkeypatch.setenv("NUMSIM_API_TOKEN", TOKEN)
    db = str(tmp_path / "x.db")
    for flags, expected in (([], True), (["--no-per-number-metrics"], False)):
        assert main(["serve", "--db", db, *flags]) == 0
        assert served.pop().state.numsim.metrics.per_number is expected


def test_collector_without_the_service_keeps_its_prefix(clock):
    number = numsim.OutboundNumber(TWILIO, "twilio", stir_shaken_attested=True)
    allocator = numsim.Allocator([number], {"t": [TWILIO]}, clock=clock)
    allocator.acquire("t", US)
    text = AllocatorCollector(allocator, prefix="dialer").exposition().decode()
    assert f'dialer_number_status{{number="{TWILIO}",provider="twilio",status="busy"}} 1.0' in text


# -- the shipped dashboard and alert rules -----------------------------------------------


def dashboard_queries():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    queries = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    assert queries, "the dashboard has no queries"
    return queries


def alert_queries():
    text = (DOCS / "prometheus-alerts.yml").read_text()
    return re.findall(r"^\s+expr: (.+)$", text, flags=re.MULTILINE)


def test_the_alert_rules_pass_promtool():
    check_rules(DOCS / "prometheus-alerts.yml")


def test_every_dashboard_query_parses(tmp_path):
    rules = tmp_path / "dashboard-rules.yml"
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for index, query in enumerate(dashboard_queries()):
        lines += [f"      - record: dashboard:query_{index}", f"        expr: {json.dumps(query)}"]
    rules.write_text("\n".join(lines) + "\n")
    check_rules(rules)


def test_the_dashboard_and_alerts_use_only_metrics_numsim_exposes(clock):
    registry, app = busy_pool(clock=clock)
    with registry, TestClient(app, headers=AUTH) as client:
        exposed = {s.name for s in samples(exercised(client))}
    used = set()
    for query in dashboard_queries() + alert_queries():
        used |= set(re.findall(r"\bnumsim_[a-z_]+", query))
    assert used and used <= exposed, sorted(used - exposed)
    alerts = " ".join(alert_queries())
    for spec in CAPS:  # "numbers at cap" names every cap's status
        assert spec.cap is not None and spec.cap.reason in alerts


def test_a_changed_setting_shows_in_the_next_scrape(clock):
    registry, app = busy_pool(clock=clock)
    with registry, TestClient(app, headers=AUTH) as client:
        assert value(client.get("/metrics").text, "numsim_max_calls_per_hour", number=CAPPED) == 1
        client.patch(f"/numbers/{CAPPED}", json={"max_calls_per_hour": 9, "max_calls_per_day": 50})
        text = client.get("/metrics").text
        assert value(text, "numsim_max_calls_per_hour", number=CAPPED) == 9
        assert value(text, "numsim_max_calls_per_day", number=CAPPED) == 50
        client.delete(f"/numbers/{IDLE}", params={"force": True})
        text = client.get("/metrics").text
        assert not [s for s in samples(text) if s.labels.get("number") == IDLE]
