"""One family of application errors, each with a REST status, a contract code and a GraphQL code."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppError",
    "Conflict",
    "Forbidden",
    "InternalError",
    "InvalidBody",
    "InvalidParameter",
    "InvalidToken",
    "MissingToken",
    "NotFound",
    "PayloadTooLarge",
]


class AppError(Exception):
    """An error that reaches the client with the body of API.md section 2."""

    status = 500
    code = "internal_error"
    graphql_code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        """The JSON body a REST client receives."""
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class InvalidParameter(AppError):
    """A bad query-string parameter (or GraphQL filter field); names the parameter."""

    status = 400
    code = "invalid_parameter"
    graphql_code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, [{"field": field}])
        self.field = field


class InvalidBody(AppError):
    """A bad JSON body; `details` lists each bad field (and event `index`)."""

    status = 400
    code = "invalid_body"
    graphql_code = "BAD_USER_INPUT"


class MissingToken(AppError):
    status = 401
    code = "missing_token"
    graphql_code = "UNAUTHENTICATED"


class InvalidToken(AppError):
    status = 401
    code = "invalid_token"
    graphql_code = "UNAUTHENTICATED"


class Forbidden(AppError):
    status = 403
    code = "insufficient_permissions"
    graphql_code = "FORBIDDEN"


class NotFound(AppError):
    status = 404
    code = "not_found"
    graphql_code = "NOT_FOUND"


class Conflict(AppError):
    status = 409
    code = "report_not_ready"
    graphql_code = "CONFLICT"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    graphql_code = "BAD_USER_INPUT"


class InternalError(AppError):
    status = 500
    code = "internal_error"
    graphql_code = "INTERNAL_SERVER_ERROR"

    @classmethod
    def for_request(cls, request_id: str) -> InternalError:
        """What a client sees of an unexpected failure: only the id under which the log has the stack."""
        return cls(f"internal error (request id {request_id})" if request_id else "internal error")
