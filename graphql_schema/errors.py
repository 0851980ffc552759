"""GraphQL error formatting: every error carries `extensions.code`; internals never leak.

Pure: formatting logs nothing. Unexpected errors are logged once, by `AnalyticsSchema.process_errors`
(graphql_schema/schema.py), which sees every execution: /graphql, the REST shim and subscriptions.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from app.errors import AppError, InternalError

__all__ = ["error_extensions", "format_error", "format_errors", "is_coercion_error", "is_internal"]


def error_extensions(error: AppError) -> dict[str, Any]:
    """The `extensions` of a contract error: GraphQL `code`, and `rest_error`/`details` for REST."""
    ext: dict[str, Any] = {"code": error.graphql_code, "rest_error": error.code}
    if error.details:
        ext["details"] = error.details
    return ext


def _is_answer(error: GraphQLError) -> bool:
    """A GraphQL error raised on purpose with a contract code (a permission class's refusal)."""
    return isinstance(error.original_error, GraphQLError) and "code" in (error.extensions or {})


def is_coercion_error(error: GraphQLError) -> bool:
    """A variable of the wrong type, a missing required one or an unknown enum value: graphql-core
    3.3 wraps the coercion's GraphQLError as `original_error` of an error outside execution (no
    `path`). The client's input is at fault, as for any error without an `original_error`."""
    return isinstance(error.original_error, GraphQLError) and error.path is None and not _is_answer(error)


def is_internal(error: GraphQLError) -> bool:
    """An unexpected failure of the service, as opposed to an answer the contract defines."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, AppError)
        and not _is_answer(error)
        and not is_coercion_error(error)
    )


def format_error(error: GraphQLError, request_id: str = "") -> dict[str, Any]:
    """The JSON form of one GraphQL error, with the contract's `extensions.code`."""
    original = error.original_error
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    if isinstance(original, AppError):
        out["extensions"] = error_extensions(original)
    elif _is_answer(error):
        out["extensions"] = dict(error.extensions or {})
    elif original is None or is_coercion_error(error):
        # Syntax, validation and variable-coercion errors: the client's document is at fault.
        out["extensions"] = {"code": "BAD_USER_INPUT", "rest_error": "invalid_parameter"}
    else:
        out["message"] = InternalError.for_request(request_id).message
        out["extensions"] = {"code": "INTERNAL_SERVER_ERROR", "rest_error": "internal_error"}
        out.pop("locations", None)
    return out


def format_errors(errors: list[GraphQLError], request_id: str = "") -> list[dict[str, Any]]:
    return [format_error(e, request_id) for e in errors]
