"""Mount the route table on FastAPI: one thin endpoint per row, documented in OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from app.errors import InvalidBody
from app.ingest import ingest_events
from graphql_schema.context import build_context
from graphql_schema.schema import schema
from rest_shim.executor import execute_route, filter_variables, realtime_variables
from rest_shim.openapi import ERROR_RESPONSES, json_schema, query_parameters
from rest_shim.routes import FILTER_PARAMS, PREFIX, REALTIME_PARAMS, ROUTES, Route

__all__ = ["install_routes", "read_json_body"]

Endpoint = Callable[[Request], Awaitable[Response]]


async def read_json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidBody("body must be valid JSON", [{"field": "body"}]) from None


def _endpoint(route: Route) -> Endpoint:
    to_variables = filter_variables if route.params == "filter" else realtime_variables

    async def endpoint(request: Request) -> Response:
        ctx = await build_context(request)
        variables = to_variables(dict(request.query_params))
        data = await execute_route(route, variables, ctx)
        return Response(orjson.dumps(data), media_type="application/json")

    endpoint.__name__ = "get_" + route.document_name
    return endpoint


async def post_events(request: Request) -> Response:
    """Ingest a batch. Runs the same validation and storage as the `trackEvents` mutation, without
    GraphQL input coercion of up to 1,000 objects (see README, 'Ingestion path')."""
    ctx = await build_context(request)
    principal = ctx.require_principal()
    principal.require_ingest()
    body = await read_json_body(request)
    if not isinstance(body, dict) or "events" not in body:
        raise InvalidBody('body must be {"events": [...]}', [{"field": "events"}])
    result = await ingest_events(body["events"], principal)
    return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates})


_EVENTS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "maxItems": 1000,
                        "items": {
                            "type": "object",
                            "required": ["type", "timestamp", "conversation_id"],
                            "properties": {
                                "id": {"type": "string", "format": "uuid"},
                                "type": {
                                    "type": "string",
                                    "enum": [
                                        "conversation_started",
                                        "message",
                                        "conversation_ended",
                                        "satisfaction",
                                    ],
                                },
                                "timestamp": {"type": "string", "format": "date-time"},
                                "conversation_id": {"type": "string", "format": "uuid"},
                                "bot_id": {"type": "string", "format": "uuid"},
                                "user_id": {"type": "string", "format": "uuid"},
                                "channel": {"type": "string"},
                                "role": {"type": "string", "enum": ["user", "bot"]},
                                "intent": {"type": "string"},
                                "fallback": {"type": "boolean"},
                                "latency_ms": {"type": "integer", "minimum": 0},
                                "tokens": {"type": "integer", "minimum": 0},
                                "resolution": {
                                    "type": "string",
                                    "enum": ["resolved", "escalated", "abandoned"],
                                },
                                "score": {"type": "integer", "minimum": 1, "maximum": 5},
                                "comment": {"type": "string", "maxLength": 2000},
                            },
                        },
                    }
                },
            }
        }
    },
}


def install_routes(app: FastAPI) -> None:
    """Add every route of the table (and POST /events) to the app."""
    gql = schema._schema
    assert gql.query_type is not None
    for route in ROUTES:
        field = gql.query_type.fields[route.field]
        params = FILTER_PARAMS if route.params == "filter" else REALTIME_PARAMS
        app.add_api_route(
            route.full_path,
            _endpoint(route),
            methods=[route.method],
            summary=route.summary,
            tags=list(route.tags),
            responses={
                200: {
                    "description": "OK",
                    "content": {"application/json": {"schema": json_schema(field.type)}},
                },
                **ERROR_RESPONSES,
            },
            openapi_extra={"parameters": query_parameters(params)},
        )
    app.add_api_route(
        PREFIX + "/events",
        post_events,
        methods=["POST"],
        summary="Ingest up to 1,000 events atomically",
        tags=["events"],
        responses={
            200: {
                "description": "accepted and duplicate counts",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "accepted": {"type": "integer"},
                                "duplicates": {"type": "integer"},
                            },
                        }
                    }
                },
            },
            413: {"description": "payload_too_large"},
            **ERROR_RESPONSES,
        },
        openapi_extra={"requestBody": _EVENTS_BODY},
    )
