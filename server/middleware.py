"""ASGI middleware: the request id on every HTTP request and WebSocket connection (also on every log
line meanwhile, server/logs.py), one access log line per HTTP request, the body-size limit (413), and
the one log of a failure outside GraphQL (500)."""

from __future__ import annotations

import logging
import time
import uuid

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError, InternalError, PayloadTooLarge
from server import logs
from server.metrics import route_template

__all__ = ["RequestMiddleware", "error_response"]

log = logging.getLogger("bot_analytics")
access_log = logging.getLogger("bot_analytics.access")


def error_response(exc: AppError) -> JSONResponse:
    """The contract's error body; the request id travels in the `X-Request-ID` header."""
    return JSONResponse(exc.body(), status_code=exc.status)


class RequestMiddleware:
    """Per HTTP request: a request id (`X-Request-ID`); 413 for bodies over the limit, whether or not a
    Content-Length was sent; and for an unexpected exception, one log record with the stack under the
    request id and a 500 that names only the id.

    The 500 is answered here rather than by a FastAPI handler for `Exception`: Starlette re-raises
    after such a handler, so the server would log the same failure a second time. GraphQL catches
    its resolvers' exceptions itself; the schema logs those (graphql_schema/schema.py)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = logs.request_id.set(request_id)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id)
        finally:
            logs.request_id.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started_at = time.perf_counter()
        status = 0

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._limited(scope, receive, logged_send, request_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                route = route_template(scope)
                client = scope.get("client")
                access_log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started_at) * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )

    async def _limited(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        too_large = PayloadTooLarge(f"request body is larger than {self.max_bytes} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await error_response(too_large)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await error_response(too_large)(scope, receive, send)
        except Exception as exc:
            if started:
                raise  # too late for an error body; the server logs and closes the connection
            log.error("internal error request_id=%s", request_id, exc_info=exc)
            await error_response(InternalError.for_request(request_id))(scope, receive, tracking_send)


class _BodyTooLarge(Exception):
    pass
