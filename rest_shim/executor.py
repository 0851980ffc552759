"""Run a route's GraphQL document in-process, with the same context as /graphql."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from typing import Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    parse,
    visit,
)

from app.errors import InternalError, InvalidBody, InvalidParameter
from app.vocabulary import (
    DAYS,
    REPORT_LIMIT,
    REPORT_OFFSET,
    WINDOW_MINUTES,
    Compare,
    GroupBy,
    IntRange,
    Period,
    ReportFormat,
    ReportStatus,
    ReportType,
)
from graphql_schema.context import Context
from graphql_schema.schema import schema
from rest_shim.documents import load_document
from rest_shim.errors import rest_error
from rest_shim.routes import (
    FILTER_PARAMS,
    INTENTS_PARAMS,
    REALTIME_PARAMS,
    REPORT_BODY,
    REPORT_LIST_PARAMS,
    Route,
)

__all__ = [
    "EnumPaths",
    "body_variables",
    "enum_paths",
    "execute_route",
    "filter_variables",
    "integral_tokens",
    "intents_variables",
    "realtime_variables",
    "report_list_variables",
    "restore_enum_values",
]

_DIGITS = re.compile(r"[0-9]{1,9}")
"""The integers a query string may carry: at most 9 digits, so every one fits GraphQL's Int."""

_INT_PARAMS: dict[str, IntRange] = {
    "days": DAYS,
    "window_minutes": WINDOW_MINUTES,
    "limit": REPORT_LIMIT,
    "offset": REPORT_OFFSET,
}
"""The integer parameters; the core checks their ranges, the shim only reads the number."""

_ENUM_PARAMS: dict[str, type[StrEnum]] = {
    "compare": Compare,
    "period": Period,
    "group_by": GroupBy,
    "status": ReportStatus,
    "type": ReportType,
    "format": ReportFormat,
}
"""The enum parameters (query string and report body): REST carries the value, GraphQL the name."""
_EMPTY_IS_NONE = frozenset({"compare"})
"""Parameters for which an empty value (`compare=`) means the parameter is absent (API.md section 9)."""


@cache
def _document(name: str) -> str:
    return load_document(name)


def _int_param(name: str, value: str) -> int:
    if not _DIGITS.fullmatch(value):
        raise InvalidParameter(name, _INT_PARAMS[name].syntax_message)
    return int(value)


def _enum_name(name: str, value: str) -> str:
    """The GraphQL name of the enum value `value` of parameter `name` (`day` -> `DAY`)."""
    kind = _ENUM_PARAMS[name]
    try:
        return kind(value).name
    except ValueError:
        raise InvalidParameter(name, f"{name} must be one of {', '.join(kind)}") from None


def _query_variables(
    query: dict[str, str], params: dict[str, tuple[str, str]], *, skip: frozenset[str] = frozenset()
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for param, (gql_name, _doc) in params.items():
        value = query.get(param)
        if value is None or param in skip or (value == "" and param in _EMPTY_IS_NONE):
            continue
        if param in _INT_PARAMS:
            out[gql_name] = _int_param(param, value)
        elif param in _ENUM_PARAMS:
            out[gql_name] = _enum_name(param, value)
        else:
            out[gql_name] = value
    return out


def filter_variables(query: dict[str, str]) -> dict[str, Any]:
    """Query string -> `AnalyticsFilter` (numbers read, enum values named: the transport's only work)."""
    return {"filter": _query_variables(query, FILTER_PARAMS)}


def intents_variables(query: dict[str, str]) -> dict[str, Any]:
    """Query string -> `intents(filter, limit)` (the core checks limit's range)."""
    out = filter_variables(query)
    out.update(_query_variables(query, INTENTS_PARAMS, skip=frozenset(FILTER_PARAMS)))
    return out


def realtime_variables(query: dict[str, str]) -> dict[str, Any]:
    """Query string -> `realtime(windowMinutes, botId, timezone, filter)`.

    The other common parameters go into `filter`, which the resolver validates and ignores
    (API.md 8: an invalid value is a 400 on every route, also where a valid one would be ignored).
    """
    out = _query_variables(query, REALTIME_PARAMS)
    ignored = _query_variables(query, FILTER_PARAMS, skip=frozenset(REALTIME_PARAMS))
    if ignored:
        out["filter"] = ignored
    return out


def report_list_variables(query: dict[str, str]) -> dict[str, Any]:
    """`GET /reports` query string -> `reports(limit, offset, status, type)` (the core checks ranges)."""
    return _query_variables(query, REPORT_LIST_PARAMS)


_INT32 = 2**31


def body_variables(body: Any) -> dict[str, Any]:
    """`POST /reports` JSON body -> `{"input": ReportInput}`: keys camelCased, enums named.

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
        if key in _INT_PARAMS:
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # 7.0 is an integer in JSON Schema (and so in /openapi.json)
            # Only what GraphQL's Int can carry; the core checks the range.
            if isinstance(value, bool) or not isinstance(value, int) or not -_INT32 <= value < _INT32:
                raise InvalidBody(_INT_PARAMS[key].syntax_message, [{"field": key}])
            out[gql_name] = value
        elif not isinstance(value, str):
            raise InvalidBody(f"{key} must be a string", [{"field": key}])
        elif key in _ENUM_PARAMS:
            try:
                out[gql_name] = _enum_name(key, value)
            except InvalidParameter as exc:
                raise InvalidBody(exc.message, exc.details) from None
        else:
            out[gql_name] = value
    if "type" not in out:
        raise InvalidBody("type is required", [{"field": "type"}])
    return {"input": out}


# --------------------------------------------------------------------------- enum values in answers

EnumPaths = dict[str, "EnumPaths | GraphQLEnumType"]
"""Response keys down to the fields whose type is an enum (lists are walked through)."""


def enum_paths(gql: GraphQLSchema, document: str) -> EnumPaths:
    """Where a document's answer holds enum values: its selection set walked against the schema."""
    root: EnumPaths = {}
    stack: list[EnumPaths] = [root]
    type_info = TypeInfo(gql)

    class _Fields(Visitor):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            key = node.alias.value if node.alias else node.name.value
            named = get_named_type(type_info.get_type())
            if isinstance(named, GraphQLEnumType):
                stack[-1][key] = named
            child: EnumPaths = {}
            stack.append(child)

        def leave_field(self, node: FieldNode, *_args: Any) -> None:
            child = stack.pop()
            key = node.alias.value if node.alias else node.name.value
            if child:
                stack[-1][key] = child

    visit(parse(document), TypeInfoVisitor(type_info, _Fields()))
    return root


def restore_enum_values(value: Any, paths: EnumPaths | GraphQLEnumType) -> Any:
    """The answer with each enum name at `paths` replaced by the enum's value (`COMPLETED` -> `completed`)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [restore_enum_values(v, paths) for v in value]
    if isinstance(paths, GraphQLEnumType):
        return paths.values[value].value
    if isinstance(value, dict):
        return {k: restore_enum_values(v, paths[k]) if k in paths else v for k, v in value.items()}
    return value


@cache
def _answer_enums(document_name: str) -> EnumPaths:
    return enum_paths(schema._schema, _document(document_name))


async def execute_route(route: Route, variables: dict[str, Any], ctx: Context) -> Any:
    """Execute the route's document; a GraphQL error becomes the contract's AppError."""
    result = await schema.execute(
        _document(route.document_name), variable_values=variables, context_value=ctx
    )
    if result.errors:
        first = result.errors[0]
        contract_error = rest_error(first)
        if contract_error is not None:
            raise contract_error
        if first.original_error is None:
            if route.params == "body":
                raise InvalidBody(first.message)
            raise InvalidParameter("", first.message)
        # Already logged with its stack by the schema; the client sees only the request id.
        raise InternalError.for_request(ctx.request_id)
    assert result.data is not None
    return integral_tokens(restore_enum_values(result.data, _answer_enums(route.document_name))["result"])


def integral_tokens(value: Any) -> Any:
    """Token sums as integers: GraphQL carries them as `Float` (a year's sum can pass 2^31), REST as
    64-bit integers (API.md section 9). A `change` object holds ratios, not sums, and is left alone."""
    if isinstance(value, list):
        return [integral_tokens(v) for v in value]
    if isinstance(value, dict):
        return {
            k: int(v)
            if k == "tokens" and isinstance(v, float)
            else (v if k == "change" else integral_tokens(v))
            for k, v in value.items()
        }
    return value
