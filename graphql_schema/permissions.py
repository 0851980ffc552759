"""Permissions as small classes; each raises the contract's 401/403 with its code."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from graphql_schema.context import Context

__all__ = ["CanIngest", "CanRead", "CanReport"]


class _RolePermission(BasePermission):
    message = "insufficient permissions"
    error_extensions = {"code": "FORBIDDEN"}

    def check(self, ctx: Context) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        self.check(info.context)
        return True


class CanRead(_RolePermission):
    """usage, conversations, engagement, realtime: analytics_viewer, analytics_admin, admin."""

    def check(self, ctx: Context) -> None:
        ctx.require_principal().require_read()


class CanReport(_RolePermission):
    """reports: analytics_admin, admin."""

    def check(self, ctx: Context) -> None:
        ctx.require_principal().require_reports()


class CanIngest(_RolePermission):
    """trackEvents: analytics_ingest, admin."""

    def check(self, ctx: Context) -> None:
        ctx.require_principal().require_ingest()
