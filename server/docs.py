"""/docs (Swagger UI from vendored assets) and the credentials OpenAPI declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from rest_shim.openapi import COMPONENTS, error_response

__all__ = ["SWAGGER_ASSETS", "declare_security", "install_docs"]

SWAGGER_ASSETS = Path(__file__).parent / "static" / "swagger"
_HEALTH = {
    "type": "object",
    "properties": {"status": {"type": "string", "const": "ok"}},
    "required": ["status"],
    "additionalProperties": False,
}


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its scripts served by this service (works without internet access)."""
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="bot-analytics API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def declare_security(app: FastAPI) -> None:
    """Document both credentials in OpenAPI, so /docs has an Authorize button that works, and add the
    shared schemas (`components/schemas`) that the routes reference."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {})
            components["schemas"] = {**components.get("schemas", {}), **COMPONENTS}
            components["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            }
            schema["security"] = [{"ApiKey": []}, {"Bearer": []}]
            health = schema["paths"].get("/health", {}).get("get", {})
            health["security"] = []
            health["operationId"] = "health"
            health["responses"] = {
                "200": {"description": "OK", "content": {"application/json": {"schema": _HEALTH}}},
                "500": error_response("internal_error (the database is not reachable)"),
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
