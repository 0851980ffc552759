"""Prometheus metrics at `/metrics` (role `admin`, same port as the API; README "Operations").

HTTP requests and their latency per route template; rejected requests by reason (the status; for
/graphql, which answers 200, the statuses of its errors' codes; for a WebSocket, its close code's);
open WebSocket connections and GraphQL subscriptions. The core's counters (ingested events, report
jobs by outcome) live in app/telemetry.py. All in the process-wide default registry, with the
process collector's CPU, memory and file descriptors.

Subscriptions are counted from the graphql-transport-ws messages that pass (a client's `subscribe`
opens one; a `complete` either way, an `error` from the server, or the socket's end closes it), so
the count needs no hook inside the GraphQL layer.
"""

from __future__ import annotations

import re
import time

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_schema.context import build_context

__all__ = ["METRICS_ROLES", "MetricsMiddleware", "install_metrics", "route_template"]

METRICS_ROLES = frozenset({"admin"})
REJECTED_STATUSES = frozenset({400, 401, 403, 413, 429})
# /graphql answers 200 with errors in the body; their codes are its rejections.
_GRAPHQL_REJECTION = re.compile(rb'"code":\s*"(UNAUTHENTICATED|FORBIDDEN|BAD_USER_INPUT)"')
_GRAPHQL_CODE_AS_STATUS = {b"UNAUTHENTICATED": "401", b"FORBIDDEN": "403", b"BAD_USER_INPUT": "400"}
_WS_CLOSE_AS_STATUS = {4400: 400, 4401: 401, 4403: 403, 4429: 429, 1008: 429, 1009: 413}

HTTP_REQUESTS = Counter(
    "analytics_http_requests_total",
    "HTTP requests answered, by route template",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "analytics_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REJECTED = Counter(
    "analytics_rejected_requests_total",
    "Requests and WebSocket connections refused, by reason (HTTP status: 400, 401, 403, 413, 429)",
    ["reason"],
)
OPEN_WEBSOCKETS = Gauge("analytics_websocket_connections", "WebSocket connections open")
OPEN_SUBSCRIPTIONS = Gauge("analytics_graphql_subscriptions", "GraphQL subscriptions running")


def route_template(scope: Scope) -> str | None:
    """The matched route's template (bounded label values), or None before or without a match.
    A route included under a prefix may carry its path without the prefix: an empty one (the
    /graphql router's) matches only the prefix itself, which is then the request's path."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return None
    return path or scope["path"]


def _route(scope: Scope) -> str:
    return route_template(scope) or "unmatched"


class MetricsMiddleware:
    """Counts every HTTP answer and WebSocket connection; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        graphql_rejections: set[str] = set()

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif status == 200 and _route(scope) == "/graphql":
                body = message.get("body", b"")
                if b'"errors"' in body or graphql_rejections:
                    for code in _GRAPHQL_REJECTION.findall(body):
                        graphql_rejections.add(_GRAPHQL_CODE_AS_STATUS[code])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route, method = _route(scope), scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            if status in REJECTED_STATUSES:
                REJECTED.labels(str(status)).inc()
            for reason in graphql_rejections:
                REJECTED.labels(reason).inc()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscriptions: set[str] = set()
        accepted = False

        def finished(operation_id: object) -> None:
            if isinstance(operation_id, str) and operation_id in subscriptions:
                subscriptions.discard(operation_id)
                OPEN_SUBSCRIPTIONS.dec()

        async def watching_receive() -> Message:
            message = await receive()
            text = message.get("text") if message["type"] == "websocket.receive" else None
            if text and ('"subscribe"' in text or '"complete"' in text):
                parsed = _json(text)
                operation_id = parsed.get("id")
                if parsed.get("type") == "subscribe" and isinstance(operation_id, str):
                    if operation_id not in subscriptions:
                        subscriptions.add(operation_id)
                        OPEN_SUBSCRIPTIONS.inc()
                elif parsed.get("type") == "complete":
                    finished(parsed.get("id"))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal accepted
            kind = message["type"]
            if kind == "websocket.accept":
                accepted = True
                OPEN_WEBSOCKETS.inc()
            elif kind == "websocket.send":
                text = message.get("text")
                if text and subscriptions and ('"complete"' in text or '"error"' in text):
                    parsed = _json(text)
                    if parsed.get("type") in ("complete", "error"):
                        finished(parsed.get("id"))
            elif kind == "websocket.close" and message.get("code") in _WS_CLOSE_AS_STATUS:
                REJECTED.labels(str(_WS_CLOSE_AS_STATUS[message["code"]])).inc()
            elif kind == "websocket.http.response.start" and message["status"] in REJECTED_STATUSES:
                REJECTED.labels(str(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, watching_receive, watching_send)
        finally:
            if subscriptions:
                OPEN_SUBSCRIPTIONS.dec(len(subscriptions))
            if accepted:
                OPEN_WEBSOCKETS.dec()


def _json(text: str) -> dict[str, object]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def install_metrics(app: FastAPI) -> None:
    """GET /metrics in the Prometheus text format, for a credential with the `admin` role."""

    # Not in OpenAPI: an operations endpoint for Prometheus, not part of the analytics API.
    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # The same credential reading as every other route (a credential header sent twice is a 401).
        principal = (await build_context(request)).require_principal()
        principal.require(METRICS_ROLES, "reading metrics")
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
