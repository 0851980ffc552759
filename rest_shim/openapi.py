"""OpenAPI 3.1 descriptions of the REST routes, derived from the GraphQL schema (one source of truth).

Each GraphQL object type of an answer becomes a named schema under `components/schemas` (the
range echo is `Range`), referenced with `$ref`; a nullable value is `type: [X, "null"]` (JSON
Schema 2020-12, which OpenAPI 3.1 uses: 3.0's `nullable` is not a keyword there). GraphQL
carries dates and ids as `String`, so their formats are stated here, by field name.
"""

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

from app.analytics.ranges import MAX_COHORTS
from app.vocabulary import (
    DAYS,
    REPORT_LIMIT,
    REPORT_OFFSET,
    WINDOW_MINUTES,
    Compare,
    ConversationStatus,
    GroupBy,
    IntRange,
    MessageRole,
    Period,
    ReportFormat,
    ReportStatus,
    ReportType,
    Resolution,
)
from rest_shim.documents import snake

__all__ = [
    "COMPONENTS",
    "ERROR_RESPONSES",
    "PARAM_SCHEMAS",
    "RETENTION_GROUP_BY",
    "TIMEZONE_PATTERN",
    "component_name",
    "enum_schema",
    "error_response",
    "json_schema",
    "query_parameters",
    "ref",
]

COMPONENTS: dict[str, dict[str, Any]] = {}
"""`components/schemas` of /openapi.json, filled as the routes are described."""

_RENAMED = {"RangeEcho": "Range"}
"""GraphQL type name -> schema name, where the REST name reads better."""

_VOCABULARY: dict[str, type[StrEnum]] = {
    kind.__name__: kind
    for kind in (Period, GroupBy, Compare, ReportType, ReportFormat, ReportStatus, MessageRole, Resolution)
}
_VOCABULARY["ConversationStatus"] = ConversationStatus


def enum_schema(kind: type[StrEnum]) -> dict[str, Any]:
    """A string limited to the values of a closed set of `app.vocabulary`."""
    return {"type": "string", "enum": [m.value for m in kind]}


def component_name(type_name: str) -> str:
    return _RENAMED.get(type_name, type_name)


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


for _kind in _VOCABULARY.values():
    if _kind is not ConversationStatus:
        COMPONENTS[_kind.__name__] = {**enum_schema(_kind), "title": _kind.__name__}
        if _kind.__doc__ and "StrEnum" not in _kind.__doc__:
            COMPONENTS[_kind.__name__]["description"] = _kind.__doc__

_DATE_TIME = {"type": "string", "format": "date-time"}
_UUID = {"type": "string", "format": "uuid"}
_FRACTION = {"minimum": 0, "maximum": 1}
_STRING_FIELDS: dict[str, dict[str, Any]] = {
    "start": {**_DATE_TIME, "description": "Start of the range (inclusive), RFC 3339"},
    "end": {**_DATE_TIME, "description": "End of the range (exclusive), RFC 3339"},
    "bucketStart": {**_DATE_TIME, "description": "Aligned start of the bucket, RFC 3339"},
    "cohortStart": {**_DATE_TIME, "description": "Aligned start of the cohort's bucket, RFC 3339"},
    "asOf": {**_DATE_TIME, "description": "The instant the answer was computed, in `timezone`"},
    "createdAt": _DATE_TIME,
    "completedAt": _DATE_TIME,
    "date": {"type": "string", "format": "date"},
    "month": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "description": "YYYY-MM"},
    "botId": _UUID,
    "id": {**_UUID, "description": "The report's id"},
    "downloadUrl": {"type": "string", "format": "uri-reference"},
    "timezone": {"type": "string", "description": "IANA zone name"},
    "startDate": {"type": "string", "description": "As given: YYYY-MM-DD or RFC 3339"},
    "endDate": {"type": "string", "description": "As given: YYYY-MM-DD or RFC 3339"},
}
"""GraphQL `String` fields whose text has a format, by field name."""


def _number_bounds(type_name: str, field: str) -> dict[str, Any]:
    if type_name.endswith("Change"):  # a relative change (app/analytics/comparison.py): any sign
        return {}
    if field in {"score", "averageScore"}:
        return {"minimum": 1, "maximum": 5}
    if field == "windowMinutes" and type_name in {"Realtime", "ActiveSessions"}:
        return {"minimum": WINDOW_MINUTES.minimum, "maximum": WINDOW_MINUTES.maximum}
    if field.lower().endswith("rate") or field in {"stickiness", "csat"}:
        return dict(_FRACTION)
    return {"minimum": 0}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _leaf(t: GraphQLScalarType, owner: str, field: str) -> dict[str, Any]:
    if t.name == "String":
        return dict(_STRING_FIELDS.get(field, {"type": "string"}))
    if t.name == "Boolean":
        return {"type": "boolean"}
    if field == "tokens" and not owner.endswith("Change"):
        # A `Float` in GraphQL (a year's sum can pass 2^31), a 64-bit integer in REST (API.md 9).
        return {"type": "integer", "format": "int64", "minimum": 0}
    kind = "integer" if t.name == "Int" else "number"
    return {"type": kind, **_number_bounds(owner, field)}


def json_schema(
    t: GraphQLOutputType, nullable: bool = True, owner: str = "", field: str = ""
) -> dict[str, Any]:
    """JSON Schema of a GraphQL output type with snake_case keys (as the REST shim returns it).

    Object types and enums are registered in `COMPONENTS` and referenced."""
    if isinstance(t, GraphQLNonNull):
        return json_schema(t.of_type, nullable=False, owner=owner, field=field)
    out: dict[str, Any]
    if isinstance(t, GraphQLList):
        out = {"type": "array", "items": json_schema(t.of_type, owner=owner, field=field)}
    elif isinstance(t, GraphQLEnumType):
        name = component_name(t.name)
        if name not in COMPONENTS:
            kind = _VOCABULARY.get(t.name)
            values = [m.value for m in kind] if kind else [str(v.value) for v in t.values.values()]
            COMPONENTS[name] = {"type": "string", "enum": values, "title": name}
            if t.description:
                COMPONENTS[name]["description"] = t.description
        out = ref(name)
    elif isinstance(t, GraphQLScalarType):
        out = _leaf(t, owner, field)
    elif isinstance(t, GraphQLObjectType):
        name = component_name(t.name)
        if name not in COMPONENTS:
            COMPONENTS[name] = {}  # placeholder: a type may refer to itself
            props: dict[str, Any] = {}
            for n, f in t.fields.items():
                prop = json_schema(f.type, owner=t.name, field=n)
                if f.description:
                    prop = {**prop, "description": f.description}
                props[snake(n)] = prop
            required = [snake(n) for n, f in t.fields.items() if isinstance(f.type, GraphQLNonNull)]
            COMPONENTS[name] = {
                "type": "object",
                "title": name,
                "properties": props,
                "required": required,
                "additionalProperties": False,
            }
            if t.description:
                COMPONENTS[name]["description"] = t.description
        out = ref(name)
    else:  # pragma: no cover
        return {}
    return _nullable(out) if nullable else out


def _int_schema(bounds: IntRange) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer", "minimum": bounds.minimum}
    if bounds.maximum is not None:
        out["maximum"] = bounds.maximum
    if bounds.default is not None:
        out["default"] = bounds.default
    return out


_YEAR = "(19[7-9][0-9]|[2-9][0-9]{3})"
"""Years 1970 to 9999 (API.md 8)."""
_DATE = {
    "anyOf": [
        {"type": "string", "format": "date", "pattern": f"^{_YEAR}-"},
        {"type": "string", "format": "date-time", "pattern": f"^{_YEAR}-"},
    ]
}
"""A range bound: a date `YYYY-MM-DD` or an RFC 3339 datetime, of a year from 1970 to 9999."""

TIMEZONE_PATTERN = "^[A-Za-z][A-Za-z0-9_+-]{0,40}(/[A-Za-z0-9_+-]{1,40}){0,2}$"
COMPONENTS["Timezone"] = {
    "type": "string",
    "title": "Timezone",
    "description": "An IANA zone name such as `UTC` or `Europe/Berlin` (default `UTC`); a name the "
    "IANA database does not have is a 400. (Not an `enum`: its ~600 names would make a type of their "
    "own in every generated client.)",
    "pattern": TIMEZONE_PATTERN,
}

PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "days": _int_schema(DAYS),
    "window_minutes": _int_schema(WINDOW_MINUTES),
    "limit": _int_schema(REPORT_LIMIT),
    "offset": {**_int_schema(REPORT_OFFSET), "maximum": 999_999_999},
    "period": ref("Period"),
    "group_by": ref("GroupBy"),
    "compare": ref("Compare"),
    "status": ref("ReportStatus"),
    "type": ref("ReportType"),
    "format": ref("ReportFormat"),
    "bot_id": dict(_UUID),
    "user_id": dict(_UUID),
    "timezone": ref("Timezone"),
    "start_date": _DATE,
    "end_date": _DATE,
}
"""The JSON schema of each query parameter."""
COMPONENTS["RetentionGroupBy"] = {
    "type": "string",
    "title": "RetentionGroupBy",
    "description": "The bucket size of cohorts (`hour` is a 400 there); a range of more than "
    f"{MAX_COHORTS} buckets is a 400",
    "enum": [g.value for g in GroupBy if g is not GroupBy.HOUR],
}
RETENTION_GROUP_BY = ref("RetentionGroupBy")

_EXAMPLES: dict[str, Any] = {"days": 7, "timezone": "UTC", "window_minutes": 5, "limit": 20}
"""Examples that work on any day's data (no fixed dates)."""


def query_parameters(
    params: dict[str, tuple[str, str]], overrides: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    out = []
    for name, (_gql, doc) in params.items():
        schema = (overrides or {}).get(name, PARAM_SCHEMAS.get(name, {}))
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": False,
            "description": doc,
            "schema": schema,
        }
        if name in _EXAMPLES:
            param["example"] = _EXAMPLES[name]
        out.append(param)
    return out


COMPONENTS["Error"] = {
    "type": "object",
    "title": "Error",
    "description": "Every REST error (API.md section 2)",
    "properties": {
        "error": {
            "type": "string",
            "description": "The code: invalid_parameter, invalid_body, missing_token, invalid_token, "
            "insufficient_permissions, not_found, report_not_ready, payload_too_large, internal_error",
        },
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "description": "The parameter or body field at fault"},
                    "index": {"type": "integer", "minimum": 0, "description": "The event's index"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "required": ["error", "message"],
}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_response("invalid_parameter or invalid_body"),
    401: error_response("missing_token or invalid_token"),
    403: error_response("insufficient_permissions (role or bot scope)"),
    500: error_response("internal_error (the log has the details, under the X-Request-ID)"),
}
