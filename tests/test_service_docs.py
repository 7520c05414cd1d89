"""/docs works offline and without a bearer header (a browser cannot send one), the API
stays protected, and the OpenAPI document declares the bearer scheme."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

import numsim
from numsim.service import create_app
from numsim.service.auth import is_public

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def app():
    with numsim.NumberRegistry() as registry:
        yield create_app(registry, token=TOKEN, sync_interval=None)


def referenced(html):
    """Every URL the page loads: src and href attributes, and the document it fetches."""
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", html)
    return urls


@pytest.mark.parametrize("prefix", ["", "/numsim"])
def test_docs_and_every_file_it_loads_come_from_the_app_without_a_token(app, prefix):
    outer = Starlette(routes=[Mount(prefix, app)]) if prefix else app
    with TestClient(outer) as client:  # no Authorization header at all
        page = client.get(f"{prefix}/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        urls = referenced(page.text)
        assert len(urls) >= 4  # the script, the stylesheet, the icon, /openapi.json
        for url in urls:
            assert url.startswith(f"{prefix}/"), url  # no CDN, no other host
            answer = client.get(url)
            assert answer.status_code == 200 and answer.content, url
        assert '"validatorUrl": null' in page.text  # nor validator.swagger.io
        assert client.get(f"{prefix}/numbers").status_code == 401  # the API is not public


def test_the_document_declares_the_bearer_scheme_on_every_protected_operation(app):
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "the API token: $NUMSIM_API_TOKEN or serve's --token-file",
        }
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if is_public(path):
                assert "security" not in operation, (method, path)
            else:
                assert operation["security"] == [{"bearer": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
    assert "/templates/{template}/numbers/{e164}" in schema["paths"]


def test_only_the_docs_page_and_its_files_are_public(app):
    with TestClient(app) as client:
        assert client.get("/docs/assets/../../numbers").status_code in (401, 404)
        assert client.get("/docs/assets/nope.js").status_code == 404
        assert client.get("/redoc").status_code == 401  # not served: it needs a CDN


SAMPLE_SID, SAMPLE_TOKEN = "AC00000000000000000000000000000001", "sample-auth-token"
SAMPLE = Path(__file__).parent.parent / "data" / "numbers.csv"
AFTERNOON = 1_796_839_200.0  # 2026-12-09 18:00 UTC: 13:00 in New York, within calling hours


def example_of(document, path, method, kind="application/json"):
    """What /docs' "Try it out" pre-fills: the first example of the body's schema."""
    schema = document["paths"][path][method]["requestBody"]["content"][kind]["schema"]
    schema = schema.get("anyOf", [schema])[0]  # an optional body: the body, or none
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema["examples"][0]


def test_try_it_out_works_with_each_bodys_example_on_the_sample_data(monkeypatch):
    from numsim.testing import FakeTwilio

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", SAMPLE_TOKEN)
    us_numbers = ["+14155550100", "+14155550101", "+12125550142", "+13125550199"]
    with (
        numsim.NumberRegistry() as registry,
        FakeTwilio.started(SAMPLE_SID, SAMPLE_TOKEN, numbers=us_numbers) as twilio,
    ):
        registry.import_csv(SAMPLE)
        app = create_app(
            registry,
            token=TOKEN,
            sync_interval=None,
            clock=numsim.ManualClock(AFTERNOON),
            provider_urls={"twilio": twilio.url},
            public_url="https://numsim.example.com",
        )
        with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            document = client.get("/openapi.json").json()

            def send(method, path, template=None, **kwargs):
                if "content" not in kwargs:
                    kwargs["json"] = example_of(document, template or path, method)
                answer = client.request(method.upper(), path, **kwargs)
                assert answer.status_code in (200, 201), (method, path, answer.text)
                return answer.json()

            csv = example_of(document, "/numbers/import", "post", "text/csv")
            send("post", "/numbers/import", content=csv, headers={"content-type": "text/csv"})
            send("post", "/numbers")
            send("patch", "/numbers/+14155550100", "/numbers/{e164}")
            send("post", "/numbers/+14155550101/rotate", "/numbers/{e164}/rotate")
            send("put", "/templates/us-appointments/numbers", "/templates/{template}/numbers")
            lease = send("post", "/allocations")["lease_id"]
            send("put", f"/allocations/{lease}/call", "/allocations/{lease_id}/call")
            send("post", f"/allocations/{lease}/renew", "/allocations/{lease_id}/renew")
            assert send("post", "/calls")["call_id"]
