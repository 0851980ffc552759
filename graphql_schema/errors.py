"""GraphQL error formatting: every error carries `extensions.code`; internals never leak."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from app.errors import AppError

__all__ = ["format_error", "format_errors"]

log = logging.getLogger("bot_analytics.graphql")


def format_error(error: GraphQLError, request_id: str = "") -> dict[str, Any]:
    """The JSON form of one GraphQL error, with the contract's `extensions.code`."""
    original = error.original_error
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    if isinstance(original, AppError):
        ext: dict[str, Any] = {"code": original.graphql_code, "rest_error": original.code}
        if original.details:
            ext["details"] = original.details
        out["extensions"] = ext
    elif original is None:
        # Syntax, validation and variable-coercion errors: the client's document is at fault.
        out["extensions"] = {"code": "BAD_USER_INPUT", "rest_error": "invalid_parameter"}
    else:
        log.error("internal error request_id=%s", request_id, exc_info=original)
        out["message"] = f"internal error (request id {request_id})" if request_id else "internal error"
        out["extensions"] = {"code": "INTERNAL_SERVER_ERROR", "rest_error": "internal_error"}
        out.pop("locations", None)
    return out


def format_errors(errors: list[GraphQLError], request_id: str = "") -> list[dict[str, Any]]:
    return [format_error(e, request_id) for e in errors]
