"""A GraphQL error's `extensions` -> the contract's HTTP status and body (API.md section 2)."""

from __future__ import annotations

from graphql import GraphQLError

from app.errors import AppError, Forbidden, InvalidToken, MissingToken

__all__ = ["REST_ERRORS", "rest_error"]

REST_ERRORS: dict[str, type[AppError]] = {cls.code: cls for cls in (MissingToken, InvalidToken, Forbidden)}
"""`extensions.rest_error` of the errors GraphQL raises itself (the permission classes' refusals:
UNAUTHENTICATED is 401 `missing_token`/`invalid_token`, FORBIDDEN is 403 `insufficient_permissions`)
-> the error with that status and body."""


def rest_error(error: GraphQLError) -> AppError | None:
    """The contract error a GraphQL error stands for, or None when it is not one."""
    if isinstance(error.original_error, AppError):
        return error.original_error
    ext = error.extensions or {}
    kind = REST_ERRORS.get(str(ext.get("rest_error")))
    if kind is None or ext.get("code") != kind.graphql_code:
        return None
    return kind(error.message, list(ext.get("details") or []))
