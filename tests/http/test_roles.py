"""Roles are decided once, at the edge: one permission class per GraphQL field, whose refusal
reaches GraphQL clients through Strawberry's own mechanism and REST clients as the contract's body."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from strawberry.permission import PermissionExtension
from strawberry.types.base import StrawberryObjectDefinition

from app.auth import Principal
from app.config import get_settings
from app.errors import MissingToken
from graphql_schema.context import Context
from graphql_schema.permissions import CanIngest, CanRead, CanReport, RolePermission
from graphql_schema.schema import schema
from tests.factories import bearer

ROOT = Path(__file__).resolve().parents[2]

# Roles by hand from API.md section 1, independent of the permission classes.
EXPECTED_CHECKS: dict[str, dict[str, type[RolePermission]]] = {
    "Query": {
        "usage": CanRead,
        "dailyUsage": CanRead,
        "monthlyUsage": CanRead,
        "conversationMetrics": CanRead,
        "conversationVolume": CanRead,
        "conversationDuration": CanRead,
        "conversationResolution": CanRead,
        "engagement": CanRead,
        "retention": CanRead,
        "satisfaction": CanRead,
        "intents": CanRead,
        "performance": CanRead,
        "conversationOutcomes": CanRead,
        "realtime": CanRead,
        "activeSessions": CanRead,
        "bots": CanRead,
        "report": CanReport,
        "reports": CanReport,
    },
    "Mutation": {"trackEvents": CanIngest, "createReport": CanReport, "deleteReport": CanReport},
    "Subscription": {"realtime": CanRead},
}


def _role_checks() -> dict[str, dict[str, list[type[RolePermission]]]]:
    """Every root field of the schema -> the role permission classes applied to it."""
    out: dict[str, dict[str, list[type[RolePermission]]]] = {}
    for root in (schema.query, schema.mutation, schema.subscription):
        definition = getattr(root, "__strawberry_definition__", None)
        assert isinstance(definition, StrawberryObjectDefinition)
        out[definition.name] = {
            schema.config.name_converter.get_graphql_name(field): [
                type(permission)
                for extension in field.extensions
                if isinstance(extension, PermissionExtension)
                for permission in extension.permissions
                if isinstance(permission, RolePermission)
            ]
            for field in definition.fields
        }
    return out


def test_every_root_field_has_exactly_one_role_check() -> None:
    checks = _role_checks()
    assert {root: sorted(fields) for root, fields in checks.items()} == {
        root: sorted(fields) for root, fields in EXPECTED_CHECKS.items()
    }
    for root, fields in checks.items():
        for name, classes in fields.items():
            assert classes == [EXPECTED_CHECKS[root][name]], f"{root}.{name}"


def _names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every name, attribute and imported name in a module."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            out.append((node.lineno, node.attr))
        elif isinstance(node, ast.alias):
            out.append((node.lineno, node.name))
    return out


@pytest.mark.parametrize("layer", ["app", "graphql_schema", "rest_shim"])
def test_no_role_check_outside_the_permission_classes(layer: str) -> None:
    """Roles are named only where they are defined (app/auth.py) and by the permission classes."""
    allowed = {ROOT / "app" / "auth.py", ROOT / "graphql_schema" / "permissions.py"}
    role_checks = {"READ_ROLES", "REPORT_ROLES", "INGEST_ROLES", "has_any", "require"}
    found = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        if path not in allowed
        for line, name in _names(ast.parse(path.read_text()))
        if name in role_checks
    ]
    assert found == []


def _context(principal: Principal | None) -> Context:
    error = None if principal is not None else MissingToken("credentials required")
    return Context(principal=principal, auth_error=error, settings=get_settings(), request_id="r")


class _Info:
    def __init__(self, context: Context) -> None:
        self.context = context


def test_a_refusal_returns_false_and_leaves_the_error_to_strawberry() -> None:
    permission = CanReport()
    viewer = Principal(subject="v", roles=frozenset({"analytics_viewer"}))
    assert permission.has_permission(None, _Info(_context(viewer))) is False  # type: ignore[arg-type]
    assert permission.message == "reports needs one of the roles: admin, analytics_admin"
    assert permission.error_extensions == {"code": "FORBIDDEN", "rest_error": "insufficient_permissions"}
    assert permission.has_permission(None, _Info(_context(None))) is False  # type: ignore[arg-type]
    assert permission.message == "credentials required"
    assert permission.error_extensions == {"code": "UNAUTHENTICATED", "rest_error": "missing_token"}
    admin = Principal(subject="a", roles=frozenset({"analytics_admin"}))
    assert permission.has_permission(None, _Info(_context(admin))) is True  # type: ignore[arg-type]


async def test_graphql_clients_get_the_permission_class_message_and_code(client: httpx.AsyncClient) -> None:
    query = {"query": "{ reports { total } }"}
    r = await client.post("/graphql", json=query, headers=bearer(["analytics_viewer"]))
    assert r.status_code == 200
    body = r.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["path"] == ["reports"]
    assert error["message"] == "reports needs one of the roles: admin, analytics_admin"
    assert error["extensions"] == {"code": "FORBIDDEN", "rest_error": "insufficient_permissions"}

    r = await client.post("/graphql", json={"query": "{ usage { totalConversations } }"})
    (error,) = r.json()["errors"]
    assert error["message"] == "credentials required: X-API-Key or Authorization: Bearer <token>"
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "rest_error": "missing_token"}

    r = await client.post(
        "/graphql",
        json={"query": "mutation { trackEvents(events: []) { accepted } }"},
        headers={"Authorization": "Bearer not.a.jwt"},
    )
    (error,) = r.json()["errors"]
    assert error["message"] == "malformed token"
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "rest_error": "invalid_token"}


async def test_rest_clients_get_the_same_refusal_as_the_contract_body(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/analytics/reports", headers=bearer(["analytics_viewer"]))
    assert r.status_code == 403
    assert r.json() == {
        "error": "insufficient_permissions",
        "message": "reports needs one of the roles: admin, analytics_admin",
    }
    r = await client.get("/api/v1/analytics/usage", headers=bearer(["analytics_ingest"]))
    assert r.status_code == 403
    assert r.json() == {
        "error": "insufficient_permissions",
        "message": "reading analytics needs one of the roles: admin, analytics_admin, analytics_viewer",
    }
    r = await client.get("/api/v1/analytics/reports/x/download", headers=bearer(["analytics_viewer"]))
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_permissions")
    r = await client.post("/api/v1/analytics/events", json={"events": []})
    assert (r.status_code, r.json()["error"]) == (401, "missing_token")
