"""OpenAPI descriptions of the REST routes, derived from the GraphQL schema (one source of truth)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
)

from app.vocabulary import (
    DAYS,
    WINDOW_MINUTES,
    GroupBy,
    IntRange,
    Period,
    ReportFormat,
    ReportStatus,
    ReportType,
)
from rest_shim.documents import snake

__all__ = ["ERROR_RESPONSES", "PARAM_SCHEMAS", "enum_schema", "json_schema", "query_parameters"]

_SCALARS = {"Int": {"type": "integer"}, "Float": {"type": "number"}, "String": {"type": "string"}}
_SCALARS["Boolean"] = {"type": "boolean"}


def json_schema(t: GraphQLOutputType, nullable: bool = True) -> dict[str, Any]:
    """JSON Schema of a GraphQL output type with snake_case keys (as the REST shim returns it)."""
    if isinstance(t, GraphQLNonNull):
        return json_schema(t.of_type, nullable=False)
    out: dict[str, Any]
    if isinstance(t, GraphQLList):
        out = {"type": "array", "items": json_schema(t.of_type)}
    elif isinstance(t, GraphQLEnumType):
        out = {"type": "string", "enum": [str(v.value) for v in t.values.values()]}
    elif isinstance(t, GraphQLScalarType):
        out = dict(_SCALARS.get(t.name, {}))
    elif isinstance(t, GraphQLObjectType):
        props = {snake(n): json_schema(f.type) for n, f in t.fields.items()}
        required = [snake(n) for n, f in t.fields.items() if isinstance(f.type, GraphQLNonNull)]
        out = {"type": "object", "title": t.name, "properties": props, "required": required}
    else:  # pragma: no cover
        out = {}
    if nullable and out:
        out["nullable"] = True
    return out


def enum_schema(kind: type[StrEnum]) -> dict[str, Any]:
    """A string limited to the values of a closed set of `app.vocabulary`."""
    return {"type": "string", "enum": [m.value for m in kind]}


def _int_schema(bounds: IntRange) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer", "minimum": bounds.minimum}
    if bounds.maximum is not None:
        out["maximum"] = bounds.maximum
    return out


PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "days": _int_schema(DAYS),
    "window_minutes": _int_schema(WINDOW_MINUTES),
    "period": enum_schema(Period),
    "group_by": enum_schema(GroupBy),
    "status": enum_schema(ReportStatus),
    "type": enum_schema(ReportType),
    "format": enum_schema(ReportFormat),
    "bot_id": {"type": "string", "format": "uuid"},
    "user_id": {"type": "string", "format": "uuid"},
    "timezone": {"type": "string", "example": "Europe/Berlin"},
    "start_date": {"type": "string", "example": "2025-01-01"},
    "end_date": {"type": "string", "example": "2025-02-01"},
}
"""The JSON schema of each query parameter."""


def query_parameters(params: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    types = PARAM_SCHEMAS
    return [
        {"name": name, "in": "query", "required": False, "description": doc, "schema": types.get(name, {})}
        for name, (_gql, doc) in params.items()
    ]


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["error", "message"],
}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _err("invalid_parameter or invalid_body"),
    401: _err("missing_token or invalid_token"),
    403: _err("insufficient_permissions (role or bot scope)"),
    500: _err("internal_error"),
}
