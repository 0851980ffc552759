"""Mount the route table on FastAPI: one thin endpoint per row, documented in OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from app.errors import InvalidBody
from app.ingest import ingest_events
from app.ingest.parse import MAX_COST
from app.reports.catalog import DOWNLOAD_PATH, MEDIA_TYPES
from app.reports.store import report_file
from app.vocabulary import EventType, ReportFormat
from graphql_schema.context import build_context
from graphql_schema.permissions import CanIngest, CanReport
from graphql_schema.schema import schema
from rest_shim.executor import (
    body_variables,
    execute_route,
    filter_variables,
    intents_variables,
    realtime_variables,
    report_list_variables,
)
from rest_shim.openapi import (
    COMPONENTS,
    ERROR_RESPONSES,
    PARAM_SCHEMAS,
    RETENTION_GROUP_BY,
    error_response,
    json_schema,
    query_parameters,
    ref,
)
from rest_shim.routes import (
    FILTER_PARAMS,
    INTENTS_PARAMS,
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
    "intents": intents_variables,
    "realtime": realtime_variables,
    "reports_list": report_list_variables,
    "none": lambda _query: {},
}
_QUERY_PARAMS = {
    "filter": FILTER_PARAMS,
    "intents": INTENTS_PARAMS,
    "realtime": REALTIME_PARAMS,
    "reports_list": REPORT_LIST_PARAMS,
}


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


_EVENT_COMMON: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid", "description": "Idempotency key (generated when absent)"},
    "timestamp": {
        "type": "string",
        "format": "date-time",
        "pattern": "^(19[7-9][0-9]|[2-9][0-9]{3})-",
        "description": "RFC 3339 with an offset, a year from 1970, at most 24 hours in the future",
    },
    "conversation_id": {"type": "string", "format": "uuid"},
    "bot_id": {"type": "string", "format": "uuid"},
    "user_id": {"type": "string", "format": "uuid"},
}
_NO_NUL = "^[^\\u0000]*$"
"""Text fields refuse NUL characters (PostgreSQL cannot store them), on every database alike."""
_EVENT_EXTRA: dict[EventType, tuple[dict[str, Any], list[str], str]] = {
    EventType.CONVERSATION_STARTED: (
        {"channel": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "\\S", "default": "web"}},
        [],
        "A conversation starts (on a channel: web, whatsapp, teams, ...)",
    ),
    EventType.MESSAGE: (
        {
            "role": ref("MessageRole"),
            "intent": {"type": "string", "maxLength": 200, "pattern": _NO_NUL},
            "fallback": {"type": "boolean", "description": "The bot did not understand"},
            "latency_ms": {"type": "integer", "minimum": 0, "maximum": 2**53},
            "tokens": {"type": "integer", "minimum": 0, "maximum": 2**53},
            "model": {
                "type": "string",
                "maxLength": 100,
                "pattern": _NO_NUL,
                "description": "The model or engine behind it",
            },
            "cost": {
                "type": "number",
                "minimum": 0,
                "maximum": MAX_COST,
                "description": "What it cost (a finite number, at most 1e9)",
            },
        },
        ["role"],
        "A message of the user or the bot",
    ),
    EventType.CONVERSATION_ENDED: (
        {
            "resolution": ref("Resolution"),
            "reason": {
                "type": "string",
                "maxLength": 100,
                "pattern": _NO_NUL,
                "description": "Why, e.g. user_request",
            },
        },
        ["resolution"],
        "A conversation ends, resolved, escalated or abandoned (bot_id and user_id optional)",
    ),
    EventType.SATISFACTION: (
        {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "comment": {"type": "string", "maxLength": 2000, "pattern": _NO_NUL},
        },
        ["score"],
        "A rating of the conversation, 1 to 5",
    ),
}


def _event_schemas() -> dict[str, Any]:
    """One named schema per event type, and `Event`: their `oneOf`, told apart by `type`."""
    mapping: dict[str, str] = {}
    for kind, (extra, required, doc) in _EVENT_EXTRA.items():
        name = "".join(part.title() for part in kind.value.split("_")) + "Event"
        owner = [] if kind is EventType.CONVERSATION_ENDED else ["bot_id", "user_id"]
        COMPONENTS[name] = {
            "type": "object",
            "title": name,
            "description": doc,
            "required": ["type", "timestamp", "conversation_id", *owner, *required],
            "properties": {"type": {"type": "string", "const": kind.value}, **_EVENT_COMMON, **extra},
        }
        mapping[kind.value] = f"#/components/schemas/{name}"
    COMPONENTS["Event"] = {
        "title": "Event",
        "description": "One event (API.md section 4)",
        "oneOf": [{"$ref": target} for target in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    return ref("Event")


COMPONENTS["EventBatch"] = {
    "type": "object",
    "title": "EventBatch",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": _event_schemas(),
            "description": "At most 1,000 events, stored all or none",
        }
    },
}
_EVENTS_BODY = {"required": True, "content": {"application/json": {"schema": ref("EventBatch")}}}
COMPONENTS["TrackEventsResult"] = {
    "type": "object",
    "title": "TrackEventsResult",
    "properties": {
        "accepted": {"type": "integer", "minimum": 0, "description": "Events stored"},
        "duplicates": {"type": "integer", "minimum": 0, "description": "Events whose id was stored before"},
    },
    "required": ["accepted", "duplicates"],
    "additionalProperties": False,
}


def _body_property(name: str, doc: str) -> dict[str, Any]:
    out: dict[str, Any] = dict(PARAM_SCHEMAS.get(name, {"type": "string"}))
    return {**out, "description": doc}


COMPONENTS["ReportInput"] = {
    "type": "object",
    "title": "ReportInput",
    "required": ["type"],
    "additionalProperties": False,
    "description": "A report request. Use one of days, period, or start_date/end_date (mixing is a 400).",
    "properties": {
        **{name: _body_property(name, doc) for name, (_gql, doc) in REPORT_BODY.items()},
        "title": {"type": "string", "maxLength": 200, "description": REPORT_BODY["title"][1]},
    },
}
_REPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": ref("ReportInput"),
            "example": {"type": "usage", "format": "pdf", "days": 7},
        }
    },
}
_REPORT_ERRORS: dict[str, dict[int | str, dict[str, Any]]] = {
    "none": {404: error_response("not_found (also a report outside your scope)")},
    "body": {413: error_response("payload_too_large")},
}
_REPORT_ID = {
    "name": "report_id",
    "in": "path",
    "required": True,
    "description": "The report's id (any other text is a 404)",
    "schema": {"type": "string", "format": "uuid"},
}
_LINKS: dict[str, dict[str, Any]] = {
    "GetReport": {"operationId": "get_report", "parameters": {"report_id": "$response.body#/id"}},
    "DownloadReport": {
        "operationId": "download_report",
        "parameters": {"report_id": "$response.body#/id"},
    },
    "DeleteReport": {"operationId": "delete_report", "parameters": {"report_id": "$response.body#/id"}},
}
"""What to do with a report just created (Schemathesis' stateful phase follows these)."""
_OPERATION_IDS = {
    "reports/create": "create_report",
    "reports/get": "get_report",
    "reports/delete": "delete_report",
}


def _operation_id(route: Route) -> str:
    return _OPERATION_IDS.get(route.name) or route.method.lower() + "_" + route.document_name.replace(
        "reports_list", "reports"
    )


def _parameters(route: Route) -> list[dict[str, Any]]:
    params = _QUERY_PARAMS.get(route.params, {})
    overrides = {"group_by": RETENTION_GROUP_BY} if route.field == "retention" else None
    out = query_parameters(params, overrides)
    out += [_REPORT_ID for _name in route.path_params]
    return out


def install_routes(app: FastAPI) -> None:
    """Add every route of the table (and POST /events) to the app."""
    gql = schema._schema
    assert gql.query_type is not None
    for route in ROUTES:
        root = gql.query_type if route.method == "GET" else gql.mutation_type
        assert root is not None
        field = root.fields[route.field]
        extra: dict[str, Any] = {"parameters": _parameters(route)}
        if field.description:
            extra["description"] = field.description
        if route.params == "body":
            extra["requestBody"] = _REPORT_BODY
        ok: dict[str, Any] = (
            {"description": "No content"}
            if route.status_code == 204
            else {"description": "OK", "content": {"application/json": {"schema": json_schema(field.type)}}}
        )
        if route.name == "reports/create":
            ok["links"] = _LINKS
        app.add_api_route(
            route.full_path,
            _endpoint(route),
            methods=[route.method],
            summary=route.summary,
            tags=list(route.tags),
            status_code=route.status_code,
            operation_id=_operation_id(route),
            responses={route.status_code: ok, **ERROR_RESPONSES, **_REPORT_ERRORS.get(route.params, {})},
            openapi_extra=extra,
        )
    binary = {"type": "string", "format": "binary"}
    media = [MEDIA_TYPES[ReportFormat.PDF], MEDIA_TYPES[ReportFormat.CSV], MEDIA_TYPES[ReportFormat.HTML]]
    files: dict[str, Any] = {
        m.split(";")[0]: {"schema": {**binary, "contentMediaType": m.split(";")[0]}} for m in media
    }
    files["application/json"] = {
        "schema": {
            "type": "object",
            "description": 'A JSON report: {"report": <the report>, "data": {<route name>: <its answer>}}',
            "properties": {"report": ref("Report"), "data": {"type": "object"}},
            "required": ["report", "data"],
        }
    }
    app.add_api_route(
        DOWNLOAD_PATH.format(id="{report_id}"),
        download_report,
        methods=["GET"],
        summary="Download a completed report (409 until then)",
        tags=["reports"],
        operation_id="download_report",
        response_class=Response,  # no default application/json ahead of the file types
        responses={
            200: {
                "description": "The report file, as an attachment, in the report's format",
                "content": files,
            },
            404: error_response("not_found"),
            409: error_response("report_not_ready (pending or running; a failed report never is)"),
            **ERROR_RESPONSES,
        },
        openapi_extra={"parameters": [_REPORT_ID]},
    )
    app.add_api_route(
        PREFIX + "/events",
        post_events,
        methods=["POST"],
        summary="Ingest up to 1,000 events atomically",
        tags=["events"],
        operation_id="post_events",
        responses={
            200: {
                "description": "accepted and duplicate counts",
                "content": {"application/json": {"schema": ref("TrackEventsResult")}},
            },
            413: error_response("payload_too_large (a body over 1 MiB)"),
            **ERROR_RESPONSES,
        },
        openapi_extra={"requestBody": _EVENTS_BODY},
    )
