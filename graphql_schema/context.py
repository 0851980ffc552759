"""The per-request context shared by /graphql, the REST shim and subscriptions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from app.auth import Principal, authenticate
from app.config import Settings, get_settings
from app.db import Readers, readers
from app.errors import AppError, InvalidToken

__all__ = ["CREDENTIAL_HEADERS", "Context", "build_context", "context_from_headers"]

CREDENTIAL_HEADERS = ("X-API-Key", "Authorization")


@dataclass
class Context(BaseContext):
    """Who is calling (or why they could not be identified) and request-scoped facts."""

    principal: Principal | None
    auth_error: AppError | None
    settings: Settings
    request_id: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    base_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    connection_params: Any = None

    @property
    def readers(self) -> Readers:
        """The connections analytics answers read on: the API's "default", with "side" beside it."""
        return readers()

    def require_principal(self) -> Principal:
        """The authenticated principal, or the 401 that explains why there is none."""
        if self.principal is not None:
            return self.principal
        assert self.auth_error is not None
        raise self.auth_error


async def context_from_headers(
    api_key: str | None,
    authorization: str | None,
    *,
    request_id: str | None = None,
    base_url: str = "",
    settings: Settings | None = None,
) -> Context:
    """Authenticate once; an error is kept, and answered by the permission classes (permissions.py)."""
    settings = settings or get_settings()
    principal: Principal | None = None
    error: AppError | None = None
    try:
        principal = await authenticate(api_key, authorization, settings)
    except AppError as exc:
        error = exc
    return Context(
        principal=principal,
        auth_error=error,
        settings=settings,
        request_id=request_id or uuid.uuid4().hex,
        base_url=base_url,
    )


async def build_context(request: HTTPConnection) -> Context:
    """Context for an HTTP or WebSocket request (FastAPI injects either as `HTTPConnection`)."""
    headers = request.headers
    state = getattr(request, "state", None)
    request_id = getattr(state, "request_id", None) if state is not None else None
    context = await context_from_headers(
        headers.get("x-api-key"),
        headers.get("authorization"),
        request_id=request_id,
        base_url=str(request.base_url).rstrip("/"),
    )
    repeated = [name for name in CREDENTIAL_HEADERS if len(headers.getlist(name)) > 1]
    if repeated:
        # Which of two credentials counts would be a guess: neither does (issue 10 item 12).
        context.principal = None
        context.auth_error = InvalidToken(f"the {repeated[0]} header may be sent only once")
        context.extra["repeated_credentials"] = True
    return context
