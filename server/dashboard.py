"""/dashboard: the built-in dashboard, static files under server/static/dashboard (no build step, no
third-party code). The page reads everything through /graphql with the credential the person signs
in with; the server only serves files. Served gzipped, with a Content-Security-Policy that allows
only this origin's scripts, styles and connections (no inline script, no eval)."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Scope

__all__ = ["DASHBOARD_ASSETS", "DASHBOARD_PATH", "install_dashboard"]

DASHBOARD_PATH = "/dashboard"
DASHBOARD_ASSETS = Path(__file__).parent / "static" / "dashboard"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Vary": "Accept-Encoding",
}


@cache
def _page() -> tuple[bytes, bytes]:
    raw = (DASHBOARD_ASSETS / "index.html").read_bytes()
    return raw, gzip.compress(raw, compresslevel=9)


class _Assets(StaticFiles):
    """The page's scripts and styles, revalidated on each load (an upgrade shows at once)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install_dashboard(app: FastAPI) -> None:
    """GET /dashboard (the page) and /dashboard/assets/* (its files), both gzipped when accepted."""
    app.mount(
        DASHBOARD_PATH + "/assets",
        GZipMiddleware(_Assets(directory=DASHBOARD_ASSETS), minimum_size=256),
        name="dashboard-assets",
    )

    @app.get(DASHBOARD_PATH, include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        raw, packed = _page()
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers = {**_HEADERS, "Content-Encoding": "gzip"}
            return Response(packed, media_type="text/html; charset=utf-8", headers=headers)
        return Response(raw, media_type="text/html; charset=utf-8", headers=_HEADERS)
