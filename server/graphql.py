"""/graphql: Strawberry's router with the contract's error bodies, WebSocket auth and offline GraphiQL."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.auth import READ_ROLES
from app.errors import InvalidBody
from graphql_schema.context import Context, context_from_headers
from graphql_schema.errors import format_errors

__all__ = ["GRAPHIQL_ASSETS", "AnalyticsGraphQLRouter"]

GRAPHIQL_ASSETS = Path(__file__).parent / "static" / "graphiql"
_CDN_TO_LOCAL = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}


class _WsUnauthorized(Exception):
    pass


class _AuthenticatingWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the contract's close codes: 4401 bad credentials, 4403 missing role."""

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except _WsUnauthorized:
            await self.websocket.close(code=4401, reason="Unauthorized")


class AnalyticsGraphQLRouter(GraphQLRouter[Context, None]):
    """/graphql with the contract's error extensions and no leaked internals."""

    graphql_transport_ws_handler_class = _AuthenticatingWSHandler

    @functools.cached_property
    def graphql_ide_html(self) -> str:
        """GraphiQL with its scripts served by this service (vendored, same files and SRI hashes as
        the CDN's), so it works on machines without internet access. Built once (Strawberry's
        reads its file on every request)."""
        html = super().graphql_ide_html
        for cdn, local in _CDN_TO_LOCAL.items():
            html = html.replace(cdn, f"/graphiql-assets/{local}")
        return html

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Credentials from `connection_init` (or the upgrade request's headers)."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        api_key = params.get("X-API-Key") or params.get("x-api-key")
        authorization = params.get("Authorization") or params.get("authorization")
        if context.extra.get("repeated_credentials"):
            raise _WsUnauthorized
        if api_key is not None or authorization is not None:
            fresh = await context_from_headers(
                str(api_key) if api_key is not None else None,
                str(authorization) if authorization is not None else None,
                request_id=context.request_id,
            )
            context.principal, context.auth_error = fresh.principal, fresh.auth_error
        if context.principal is None:
            raise _WsUnauthorized
        if not context.principal.has_any(READ_ROLES):
            raise ConnectionRejectionError({"reason": "insufficient_permissions"})
        unset: UnsetType = UNSET
        return unset

    def parse_json(self, data: str | bytes) -> Any:
        """Strawberry's parse, with every unreadable body a 400 `invalid_body` in the contract's form:
        also bytes that are not UTF-8 and JSON nested too deep for the parser (RecursionError)."""
        try:
            return json.loads(data)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise InvalidBody("the request body must be JSON in UTF-8 (nested at most ~900 deep)") from None

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """The errors' JSON form; the schema has already logged the internal ones."""
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            request_id = getattr(request.state, "request_id", "") if hasattr(request, "state") else ""
            data["errors"] = format_errors(result.errors, request_id)  # type: ignore[typeddict-item]
        return data
