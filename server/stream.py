"""GET /api/v1/analytics/realtime/stream: the realtime answer as Server-Sent Events, for clients that
cannot speak WebSocket (issue 13).

Same parameters and credentials as GET /realtime, plus `interval_seconds` (1 to 60, default 5). Each
push runs the /realtime route's GraphQL document, so the numbers are the route's. The first answer is
computed before the stream starts: a bad parameter, credential or scope is the usual 400/401/403 body.
Then, every interval: the credential is checked again (a JWT past its `exp`, a revoked API key) and an
`error` event ends the stream; otherwise a `realtime` event carries the answer. A stream counts as one
subscription of its credential (`ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CREDENTIAL`, shared with the
WebSocket subscriptions of the process); one more is a 429. Shutdown ends open streams like it
closes WebSockets.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from app.auth import still_valid
from app.errors import InvalidParameter
from app.vocabulary import STREAM_INTERVAL
from graphql_schema.context import build_context
from graphql_schema.permissions import CanRead
from rest_shim.executor import execute_route, realtime_variables
from rest_shim.openapi import ERROR_RESPONSES, error_response, query_parameters
from rest_shim.routes import PREFIX, REALTIME_PARAMS, ROUTES
from server.graphql import AnalyticsGraphQLRouter
from server.ratelimit import RateLimited
from server.shutdown import OpenWebSockets

__all__ = ["STREAM_PATH", "install_stream"]

STREAM_PATH = PREFIX + "/realtime/stream"
_REALTIME = next(route for route in ROUTES if route.name == "realtime")
_INTERVAL = re.compile(r"[0-9]{1,2}")
_EXPIRED = {"error": "invalid_token", "message": "credentials expired or revoked: sign in again"}
_STREAM_OVERRIDES = {
    "interval_seconds": {
        "type": "integer",
        "minimum": STREAM_INTERVAL.minimum,
        "maximum": STREAM_INTERVAL.maximum,
        "default": STREAM_INTERVAL.default,
    }
}
_STREAM_PARAMS = {
    **REALTIME_PARAMS,
    "interval_seconds": (
        "intervalSeconds",
        f"Seconds between two events, {STREAM_INTERVAL.minimum} to {STREAM_INTERVAL.maximum} "
        f"(default {STREAM_INTERVAL.default})",
    ),
}


def _interval(query: dict[str, str]) -> int:
    raw = query.get("interval_seconds")
    if raw is not None and not _INTERVAL.fullmatch(raw):
        raise InvalidParameter(STREAM_INTERVAL.field, STREAM_INTERVAL.message)
    return STREAM_INTERVAL.check(None if raw is None else int(raw))


def _event(name: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def install_stream(app: FastAPI, router: AnalyticsGraphQLRouter, streams: OpenWebSockets) -> None:
    """Add the SSE route; `router` holds the per-credential subscription counts, `streams` the
    closers that shutdown calls."""

    async def realtime_stream(request: Request) -> StreamingResponse:
        ctx = await build_context(request)
        principal = CanRead.authorize(ctx)
        query = dict(request.query_params)
        interval = _interval(query)
        query.pop("interval_seconds", None)
        variables = realtime_variables(query)
        first = await execute_route(_REALTIME, variables, ctx)  # 400/403 before the stream starts
        key = f"{principal.kind}:{principal.subject}"
        limit = ctx.settings.ws_max_subscriptions_per_credential
        counts = router.subscriptions_by_credential
        if counts.get(key, 0) >= limit:
            raise RateLimited(f"at most {limit} subscriptions and streams per credential")
        stop = asyncio.Event()
        closer_key = id(stop)

        async def close() -> None:
            stop.set()

        async def events() -> AsyncIterator[bytes]:
            # Counted and registered only once the stream runs: a client gone before its first event
            # never starts this generator, so nothing would release a count taken outside it.
            counts[key] = counts.get(key, 0) + 1
            streams.closers[closer_key] = close
            try:
                answer, sent = first, 0
                while True:
                    yield _event("realtime", answer, sent)
                    sent += 1
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=interval)
                        return  # the server is shutting down
                    except TimeoutError:
                        pass
                    if not await still_valid(principal):
                        yield _event("error", _EXPIRED)
                        return
                    ctx.now = datetime.now(UTC)
                    answer = await execute_route(_REALTIME, variables, ctx)
            finally:
                streams.closers.pop(closer_key, None)
                router.release_subscription(key)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    app.add_api_route(
        STREAM_PATH,
        realtime_stream,
        methods=["GET"],
        summary="Activity in the last minutes, pushed as Server-Sent Events every interval",
        description=(
            "Same parameters and credentials as `GET /realtime`, plus `interval_seconds`. A `realtime` "
            "event carries the answer of `/realtime` (the first at once, then one every interval); when "
            "the credential expires or is revoked, an `error` event with the contract's error body "
            "ends the stream. A stream counts against the credential's subscription limit."
        ),
        tags=["realtime"],
        operation_id="get_realtime_stream",
        responses={
            200: {
                "description": "An event stream: `event: realtime` with the /realtime answer as `data`",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            429: error_response("rate_limited (too many open streams and subscriptions)"),
            **ERROR_RESPONSES,
        },
        response_class=StreamingResponse,
        openapi_extra={"parameters": query_parameters(_STREAM_PARAMS, _STREAM_OVERRIDES)},
    )
