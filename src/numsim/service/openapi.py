"""The API's own documentation: `/openapi.json` and `/docs` (Swagger UI).

Both are public (a browser cannot send a bearer header; the API itself stays behind the
token) and work without internet: Swagger UI's files ship in the package
(`static/swagger-ui`, from the npm package swagger-ui-dist). The document says what the
middleware does, derived from the same rules rather than restated per route: every
operation `auth.is_public` does not name needs the bearer token (an HTTPBearer security
scheme, so Swagger UI shows an Authorize button and "Try it out" sends the token), and
answers 401 without it; every operation answers bad input with the error body, and one
with a body answers 413 past the limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from .auth import is_public
from .models import ERRORS, ErrorOut

SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui"
ASSETS = "/docs/assets"
DOCS = "/docs"
SCHEME = "bearer"
ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
FASTAPI_422 = "#/components/schemas/HTTPValidationError"
# Answers an operation gives by what it takes, whichever route it is: bad input (422),
# a body that cannot be read (400) or is too large (413), no token (401).
ON_INPUT = (422,)
ON_BODY = (400, 413)
ON_PROTECTED = {401: "no bearer token, or the wrong one"}


def install(app: FastAPI) -> None:
    """Serve `/docs` and its assets from the package, and the document `app.openapi()`
    builds with the bearer scheme and the error answers declared."""
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get(DOCS, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            # No call to validator.swagger.io; the token is kept for the page only.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["ErrorOut"] = ErrorOut.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "the API token: $NUMSIM_API_TOKEN or serve's --token-file",
        }
    }
    components["schemas"].pop("HTTPValidationError", None)  # numsim's 422s are ErrorOut
    components["schemas"].pop("ValidationError", None)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            answers: dict[int, str] = {}
            if "parameters" in operation or "requestBody" in operation:
                answers |= {status: ERRORS[status] for status in ON_INPUT}
            if "requestBody" in operation:
                answers |= {status: ERRORS[status] for status in ON_BODY}
            if not is_public(path):
                operation["security"] = [{SCHEME: []}]
                answers |= ON_PROTECTED
            responses = operation.setdefault("responses", {})
            for status, description in answers.items():
                declared = responses.get(str(status))
                if declared is None or FASTAPI_422 in str(declared):
                    responses[str(status)] = {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    }
    return schema
