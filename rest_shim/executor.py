"""Run a route's GraphQL document in-process, with the same context as /graphql."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from app.analytics.ranges import GROUP_BYS, MAX_DAYS, PERIODS
from app.errors import AppError, InternalError, InvalidBody, InvalidParameter
from graphql_schema.context import Context
from graphql_schema.errors import format_error
from graphql_schema.schema import schema
from rest_shim.documents import load_document
from rest_shim.routes import FILTER_PARAMS, REALTIME_PARAMS, Route

__all__ = ["execute_route", "filter_variables", "realtime_variables"]

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


def _lower_enums(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                v.lower()
                if k in ("group_by", "status", "type", "format") and isinstance(v, str)
                else _lower_enums(v)
            )
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
        formatted = format_error(first, ctx.request_id)
        if original is None:
            if route.params == "body":
                raise InvalidBody(first.message)
            raise InvalidParameter("", first.message)
        raise InternalError(formatted["message"])
    assert result.data is not None
    return _lower_enums(result.data["result"])
