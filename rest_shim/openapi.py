"""OpenAPI descriptions of the REST routes, derived from the GraphQL schema (one source of truth)."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
)

from app.analytics.ranges import MAX_DAYS
from rest_shim.documents import snake

__all__ = ["ERROR_RESPONSES", "json_schema", "query_parameters"]

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
        out = {"type": "string", "enum": [str(v.value).lower() for v in t.values.values()]}
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


PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "days": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS},
    "window_minutes": {"type": "integer", "minimum": 1, "maximum": 60},
    "period": {"type": "string", "enum": ["today", "week", "month", "year"]},
    "group_by": {"type": "string", "enum": ["hour", "day", "week", "month"]},
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
