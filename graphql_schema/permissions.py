"""Roles, decided once per field at the edge: one small permission class per role set.

A class that refuses returns False; Strawberry's `PermissionExtension` then raises the GraphQL
error from the class's `message` and `error_extensions` (`on_unauthorized`). The extensions carry
the contract's `code` and, for the REST shim, `rest_error` (rest_shim/errors.py maps it to the
HTTP status). The two REST routes outside GraphQL check the same classes with `authorize`.
The core never checks roles; it receives the `Principal` only for bot scope.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from app.auth import INGEST_ROLES, READ_ROLES, REPORT_ROLES, Principal
from app.errors import AppError, Forbidden
from graphql_schema.context import Context
from graphql_schema.errors import error_extensions

__all__ = ["CanIngest", "CanRead", "CanReport", "RolePermission"]


class RolePermission(BasePermission):
    """The caller must be authenticated (else 401) and hold one of `roles` (else 403)."""

    roles: ClassVar[frozenset[str]]
    what: ClassVar[str]
    """What the roles allow, for the 403 message ("reading analytics needs one of the roles: ...")."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The class's own answer is its 403; `has_permission` sets the instance's for each refusal.
        refusal = cls.forbidden()
        cls.message = refusal.message
        cls.error_extensions = error_extensions(refusal)

    @classmethod
    def forbidden(cls) -> Forbidden:
        return Forbidden(f"{cls.what} needs one of the roles: {', '.join(sorted(cls.roles))}")

    @classmethod
    def denial(cls, ctx: Context) -> AppError | None:
        """Why `ctx`'s caller may not pass (its 401 or this class's 403), or None when it may."""
        if ctx.principal is None:
            assert ctx.auth_error is not None
            return ctx.auth_error
        if not ctx.principal.has_any(cls.roles):
            return cls.forbidden()
        return None

    @classmethod
    def authorize(cls, ctx: Context) -> Principal:
        """For the REST routes outside GraphQL: the caller's principal, or the 401/403 raised."""
        error = cls.denial(ctx)
        if error is not None:
            raise error
        assert ctx.principal is not None
        return ctx.principal

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        error = self.denial(info.context)
        if error is None:
            return True
        # Strawberry builds the error from these right after this returns (no await in between:
        # this method is synchronous), so concurrent requests sharing the instance cannot mix them.
        self.message = error.message
        self.error_extensions = error_extensions(error)
        return False


class CanRead(RolePermission):
    """usage, conversations, engagement, realtime: analytics_viewer, analytics_admin, admin."""

    roles = READ_ROLES
    what = "reading analytics"


class CanReport(RolePermission):
    """reports: analytics_admin, admin."""

    roles = REPORT_ROLES
    what = "reports"


class CanIngest(RolePermission):
    """trackEvents: analytics_ingest, admin."""

    roles = INGEST_ROLES
    what = "ingesting events"
