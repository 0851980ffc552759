"""Mount the route table on FastAPI: one thin endpoint per row, documented in OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from app.errors import InvalidBody
from app.ingest import ingest_events
from app.reports.catalog import DOWNLOAD_PATH, MEDIA_TYPES
from app.reports.store import report_file
from app.vocabulary import EventType, MessageRole, Resolution
from graphql_schema.context import build_context
from graphql_schema.permissions import CanIngest, CanReport
from graphql_schema.schema import schema
from rest_shim.executor import (
    body_variables,
    execute_route,
    filter_variables,
    realtime_variables,
    report_list_variables,
)
from rest_shim.openapi import ERROR_RESPONSES, PARAM_SCHEMAS, enum_schema, json_schema, query_parameters
from rest_shim.routes import (
    FILTER_PARAMS,
    PATH_VARIABLES,
    PREFIX,
    REALTIME_PARAMS,
    REPORT_BODY,
    REPORT_LIST_PARAMS,
    ROUTES,
    Route,
)

__all__ = ["install_routes", "read_json_body"]

Endpoint = Callable[[Request], Awaitable[Response]]


async def read_json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidBody("body must be valid JSON", [{"field": "body"}]) from None


_QUERY_VARIABLES: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "filter": filter_variables,
    "realtime": realtime_variables,
    "reports_list": report_list_variables,
    "none": lambda _query: {},
}
_QUERY_PARAMS = {"filter": FILTER_PARAMS, "realtime": REALTIME_PARAMS, "reports_list": REPORT_LIST_PARAMS}


def _endpoint(route: Route) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        ctx = await build_context(request)
        if route.params == "body":
            variables = body_variables(await read_json_body(request))
        else:
            variables = _QUERY_VARIABLES[route.params](dict(request.query_params))
        for name in route.path_params:
            variables[PATH_VARIABLES[name]] = request.path_params[name]
        data = await execute_route(route, variables, ctx)
        if route.status_code == 204:
            return Response(status_code=204)
        return Response(orjson.dumps(data), status_code=route.status_code, media_type="application/json")

    endpoint.__name__ = route.method.lower() + "_" + route.document_name
    return endpoint


async def download_report(request: Request) -> Response:
    """The file of a completed report (409 `report_not_ready` before), as an attachment."""
    ctx = await build_context(request)
    principal = CanReport.authorize(ctx)
    path, media_type, filename = await report_file(
        principal, request.path_params["report_id"], ctx.settings.reports_dir
    )
    return FileResponse(path, media_type=media_type, filename=filename)


async def post_events(request: Request) -> Response:
    """Ingest a batch. Runs the same validation and storage as the `trackEvents` mutation, without
    GraphQL input coercion of up to 1,000 objects (see README, 'Ingestion path')."""
    ctx = await build_context(request)
    principal = CanIngest.authorize(ctx)
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
                                "type": enum_schema(EventType),
                                "timestamp": {"type": "string", "format": "date-time"},
                                "conversation_id": {"type": "string", "format": "uuid"},
                                "bot_id": {"type": "string", "format": "uuid"},
                                "user_id": {"type": "string", "format": "uuid"},
                                "channel": {"type": "string"},
                                "role": enum_schema(MessageRole),
                                "intent": {"type": "string"},
                                "fallback": {"type": "boolean"},
                                "latency_ms": {"type": "integer", "minimum": 0},
                                "tokens": {"type": "integer", "minimum": 0},
                                "resolution": enum_schema(Resolution),
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


def _body_property(name: str, doc: str) -> dict[str, Any]:
    if name == "days":
        return PARAM_SCHEMAS["days"]
    out: dict[str, Any] = {"type": "string", "description": doc}
    if "enum" in PARAM_SCHEMAS.get(name, {}):
        out["enum"] = PARAM_SCHEMAS[name]["enum"]
    return out


_REPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type"],
                "additionalProperties": False,
                "properties": {name: _body_property(name, doc) for name, (_gql, doc) in REPORT_BODY.items()},
            }
        }
    },
}
_REPORT_ERRORS: dict[str, dict[int | str, dict[str, Any]]] = {
    "none": {404: {"description": "not_found"}},
    "body": {413: {"description": "payload_too_large"}},
}


def install_routes(app: FastAPI) -> None:
    """Add every route of the table (and POST /events) to the app."""
    gql = schema._schema
    assert gql.query_type is not None
    for route in ROUTES:
        root = gql.query_type if route.method == "GET" else gql.mutation_type
        assert root is not None
        field = root.fields[route.field]
        parameters = query_parameters(_QUERY_PARAMS.get(route.params, {}))
        parameters += [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.path_params
        ]
        extra: dict[str, Any] = {"parameters": parameters}
        if route.params == "body":
            extra["requestBody"] = _REPORT_BODY
        ok: dict[str, Any] = (
            {"description": "No content"}
            if route.status_code == 204
            else {"description": "OK", "content": {"application/json": {"schema": json_schema(field.type)}}}
        )
        app.add_api_route(
            route.full_path,
            _endpoint(route),
            methods=[route.method],
            summary=route.summary,
            tags=list(route.tags),
            status_code=route.status_code,
            responses={route.status_code: ok, **ERROR_RESPONSES, **_REPORT_ERRORS.get(route.params, {})},
            openapi_extra=extra,
        )
    app.add_api_route(
        DOWNLOAD_PATH.format(id="{report_id}"),
        download_report,
        methods=["GET"],
        summary="Download a completed report (409 until then)",
        tags=["reports"],
        responses={
            200: {
                "description": "The report file, as an attachment",
                "content": {media.split(";")[0]: {} for media in MEDIA_TYPES.values()},
            },
            404: {"description": "not_found"},
            409: {"description": "report_not_ready"},
            **ERROR_RESPONSES,
        },
        openapi_extra={
            "parameters": [
                {"name": "report_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ]
        },
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
