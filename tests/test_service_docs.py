"""/docs works offline and without a bearer header (a browser cannot send one), the API
stays protected, and the OpenAPI document declares the bearer scheme."""

import re

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
