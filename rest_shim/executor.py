"""Run a route's GraphQL document in-process, with the same context as /graphql."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from app.analytics.ranges import GROUP_BYS, MAX_DAYS, PERIODS
from app.errors import AppError, InternalError, InvalidBody, InvalidParameter
from app.reports.catalog import FORMATS, REPORT_TYPES, STATUSES
from graphql_schema.context import Context
from graphql_schema.schema import schema
from rest_shim.documents import load_document
from rest_shim.routes import FILTER_PARAMS, REALTIME_PARAMS, REPORT_BODY, REPORT_LIST_PARAMS, Route

__all__ = [
    "body_variables",
    "execute_route",
    "filter_variables",
    "realtime_variables",
    "report_list_variables",
]

_DIGITS = re.compile(r"[0-9]{1,9}")


@cache
def _document(name: str) -> str:
    return load_document(name)


def _int_param(name: str, value: str, message: str) -> int:
    if not _DIGITS.fullmatch(value):
        raise InvalidParameter(name, message)
    return int(value)


def _enum_param(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidParameter(name, f"{name} must be one of {', '.join(allowed)}")
    return value.upper()


def filter_variables(query: dict[str, str]) -> dict[str, Any]:
    """Query string -> `AnalyticsFilter` (enums upper-cased: the transport's only conversion)."""
    f: dict[str, Any] = {}
    for param, (gql_name, _doc) in FILTER_PARAMS.items():
        value = query.get(param)
        if value is None:
            continue
        if param == "days":
            f[gql_name] = _int_param("days", value, f"days must be an integer from 1 to {MAX_DAYS}")
        elif param == "period":
            f[gql_name] = _enum_param("period", value, PERIODS)
        elif param == "group_by":
            f[gql_name] = _enum_param("group_by", value, GROUP_BYS)
        else:
            f[gql_name] = value
    return {"filter": f}


def realtime_variables(query: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for param, (gql_name, _doc) in REALTIME_PARAMS.items():
        value = query.get(param)
        if value is None:
            continue
        if param == "window_minutes":
            out[gql_name] = _int_param(param, value, "window_minutes must be an integer from 1 to 60")
        else:
            out[gql_name] = value
    return out


def report_list_variables(query: dict[str, str]) -> dict[str, Any]:
    """`GET /reports` query string -> `reports(limit, offset, status, type)` (the resolver checks ranges)."""
    out: dict[str, Any] = {}
    for param, (gql_name, _doc) in REPORT_LIST_PARAMS.items():
        value = query.get(param)
        if value is None:
            continue
        if param in ("limit", "offset"):
            out[gql_name] = _int_param(param, value, f"{param} must be a non-negative integer")
        else:
            out[gql_name] = _enum_param(param, value, STATUSES if param == "status" else REPORT_TYPES)
    return out


_BODY_ENUMS: dict[str, tuple[str, ...]] = {
    "type": REPORT_TYPES,
    "format": FORMATS,
    "period": PERIODS,
    "group_by": GROUP_BYS,
}


def body_variables(body: Any) -> dict[str, Any]:
    """`POST /reports` JSON body -> `{"input": ReportInput}`: keys camelCased, enums upper-cased.

    Wrong JSON types, unknown keys and unknown enum values are 400 `invalid_body` naming the field.
    """
    if not isinstance(body, dict):
        raise InvalidBody("body must be a JSON object", [{"field": "body"}])
    unknown = sorted(k for k in body if k not in REPORT_BODY)
    if unknown:
        raise InvalidBody(
            f"unknown field(s): {', '.join(map(str, unknown))}", [{"field": k} for k in unknown]
        )
    out: dict[str, Any] = {}
    for key, (gql_name, _doc) in REPORT_BODY.items():
        value = body.get(key)
        if value is None:
            continue
        if key == "days":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
                raise InvalidBody(f"days must be an integer from 1 to {MAX_DAYS}", [{"field": "days"}])
            out[gql_name] = value
        elif not isinstance(value, str):
            raise InvalidBody(f"{key} must be a string", [{"field": key}])
        elif key in _BODY_ENUMS:
            if value not in _BODY_ENUMS[key]:
                allowed = ", ".join(_BODY_ENUMS[key])
                raise InvalidBody(f"{key} must be one of {allowed}", [{"field": key}])
            out[gql_name] = value.upper()
        else:
            out[gql_name] = value
    if "type" not in out:
        raise InvalidBody("type is required", [{"field": "type"}])
    return {"input": out}


_ENUM_KEYS = frozenset({"group_by", "status", "type", "format", "period"})


def _lower_enums(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (v.lower() if k in _ENUM_KEYS and isinstance(v, str) else _lower_enums(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_lower_enums(v) for v in value]
    return value


async def execute_route(route: Route, variables: dict[str, Any], ctx: Context) -> Any:
    """Execute the route's document; a GraphQL error becomes the contract's AppError."""
    result = await schema.execute(
        _document(route.document_name), variable_values=variables, context_value=ctx
    )
    if result.errors:
        first = result.errors[0]
        original = first.original_error
        if isinstance(original, AppError):
            raise original
        if original is None:
            if route.params == "body":
                raise InvalidBody(first.message)
            raise InvalidParameter("", first.message)
        # Already logged with its stack by the schema; the client sees only the request id.
        raise InternalError.for_request(ctx.request_id)
    assert result.data is not None
    return _lower_enums(result.data["result"])
