"""The ASGI application: /graphql, the REST shim, /health, OpenAPI; one error contract for all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings, get_settings
from app.db import close_db, init_db
from app.errors import InternalError
from app.pg_stats import StatisticsKeeper
from app.reports.jobs import ReportRunner
from graphql_schema.context import build_context
from graphql_schema.schema import schema
from rest_shim.app import install_routes
from server.dashboard import install_dashboard
from server.docs import declare_security, install_docs
from server.errors import install_error_handlers
from server.graphql import GRAPHIQL_ASSETS, AnalyticsGraphQLRouter
from server.health import DatabaseProbe
from server.metrics import MetricsMiddleware, install_metrics
from server.middleware import RequestMiddleware
from server.ratelimit import RateLimitMiddleware
from server.runtime import tune_gc
from server.shutdown import OpenWebSockets, TrackWebSockets
from server.stream import install_stream

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    manage_database: bool = True,
    on_startup: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> FastAPI:
    """Build the service. `manage_database=False` leaves Tortoise set-up to the caller (tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_database:
            await init_db(settings.database_url)
        probe = DatabaseProbe()
        app.state.database_probe = probe
        await probe.start()
        # PostgreSQL: ANALYZE what changed (app/pg_stats.py)
        statistics = StatisticsKeeper(settings.pg_analyze_seconds)
        await statistics.start()
        runner = ReportRunner(settings)
        app.state.report_runner = runner
        await runner.start()
        if on_startup is not None:
            await on_startup(app)
        tune_gc()
        try:
            yield
        finally:
            await runner.stop()
            await statistics.stop()
            await probe.stop()
            if manage_database:
                await close_db()

    app = FastAPI(
        title="bot-analytics",
        version="0.1.0",
        description=(
            "Analytics of the General Bots botserver. GraphQL at /graphql is the primary API; "
            "every REST route below runs the matching GraphQL document. Authenticate with "
            "`X-API-Key` or `Authorization: Bearer <JWT>`. Errors: "
            '`{"error": code, "message": text, "details": [...]}`.'
        ),
        lifespan=lifespan,
        default_response_class=_ORJSONResponse,
        docs_url=None,  # served by install_docs with vendored Swagger UI assets
    )
    app.state.settings = settings
    install_error_handlers(app)
    if settings.rate_limits_on:
        app.add_middleware(RateLimitMiddleware, settings=settings)
    app.state.open_websockets = OpenWebSockets()
    app.add_middleware(TrackWebSockets, sockets=app.state.open_websockets)
    app.add_middleware(RequestMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    # Outermost: the client address from X-Forwarded-For when the peer is a trusted proxy (the
    # rate limits and logs see the real client). uvicorn's own copy is off (server/shutdown.py).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)

    graphql = AnalyticsGraphQLRouter(schema, context_getter=build_context, graphql_ide="graphiql")
    app.include_router(graphql, prefix="/graphql", include_in_schema=False)
    app.mount("/graphiql-assets", StaticFiles(directory=GRAPHIQL_ASSETS), name="graphiql-assets")
    install_docs(app)
    install_dashboard(app)
    install_metrics(app)

    @app.get("/health", tags=["service"], summary="Liveness and database check (no auth)")
    async def health(request: Request) -> dict[str, Any]:
        # From memory: the database is checked in the background (server/health.py), so /health
        # never waits behind the API's queries.
        probe: DatabaseProbe = request.app.state.database_probe
        if not probe.healthy:
            raise InternalError("internal error: the database is not reachable")
        return {"status": "ok"}

    install_routes(app)
    install_stream(app, graphql, app.state.open_websockets)
    declare_security(app)
    return app


class _ORJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
