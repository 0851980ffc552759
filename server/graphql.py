"""/graphql: Strawberry's router with the contract's error bodies, WebSocket auth and offline GraphiQL."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, cast

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.auth import READ_ROLES, still_valid
from app.errors import InvalidBody
from app.limits import MAX_QUERY_TOKENS
from graphql_schema.context import Context, context_from_headers
from graphql_schema.errors import format_errors

__all__ = ["GRAPHIQL_ASSETS", "GRAPHIQL_EXAMPLE_QUERY", "GRAPHIQL_HEADERS", "AnalyticsGraphQLRouter"]

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

GRAPHIQL_EXAMPLE_QUERY = """# bot-analytics: the last 7 days (API.md section 5).
# Put your token in the Headers tab below, then run with Ctrl-Enter.
query LastSevenDays {
  usage(filter: {days: 7}) {
    range { start end timezone }
    totalConversations
    totalMessages
    activeUsers
    newUsers
    avgMessagesPerConversation
  }
  conversationVolume(filter: {days: 7}) {
    groupBy
    data { bucketStart conversations messages }
  }
}
"""
GRAPHIQL_HEADERS = json.dumps({"Authorization": "Bearer <token>"}, indent=2)
_EXAMPLE_QUERY_JS = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.DOTALL)
_HEADERS_STATE_JS = "React.useState(parameters.headers)"


class _WsUnauthorized(Exception):
    pass


_CREDENTIAL_RECHECK_SECONDS = 1.0
"""How long an API key found unrevoked is trusted on an open socket before it is read again."""
_LIMIT_EXTENSIONS: dict[str, object] = {"code": "BAD_USER_INPUT", "rest_error": "invalid_parameter"}


class _AuthenticatingWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the contract's close codes (4401 bad credentials, 4403 missing role)
    and bounds (docs/decisions.md, issue 10 items 4 and 5):

    - the credential is checked again before each push and each new operation: a JWT past its `exp`
      or a revoked API key closes the socket with 4401;
    - at most ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION operations per socket and
      ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CREDENTIAL per credential (per process); one more is
      refused with an `error` message for its id, the socket stays open;
    - a push that cannot be written within ANALYTICS_WS_SEND_TIMEOUT_SECONDS (a client that does not
      read) closes the socket with 1008; a client that does not answer pings is closed by uvicorn.
    """

    _credential_checked_at = float("-inf")

    async def handle_connection_init(self, message: Any) -> None:
        if isinstance(message, dict) and message.get("payload", {}) is None:
            # The protocol's payload is optional: `null` is no payload (credentials then come from
            # the upgrade request's headers), not a malformed one (Strawberry closes with 4400).
            message = {**message, "payload": {}}
        try:
            await super().handle_connection_init(message)
        except _WsUnauthorized:
            await self.websocket.close(code=4401, reason="Unauthorized")

    @property
    def _router(self) -> AnalyticsGraphQLRouter:
        return cast(AnalyticsGraphQLRouter, self.view)

    def _credential_key(self) -> str:
        principal = self.context.principal
        return f"{principal.kind}:{principal.subject}" if principal is not None else ""

    async def _credential_holds(self) -> bool:
        principal = self.context.principal
        if principal is None:
            return True  # before connection_ack: Strawberry refuses operations itself
        if principal.key_id is not None:
            now = time.monotonic()
            if now - self._credential_checked_at < _CREDENTIAL_RECHECK_SECONDS:
                return True
            if await still_valid(principal):
                self._credential_checked_at = now
                return True
            return False
        return await still_valid(principal)

    async def _close(self, code: int, reason: str) -> None:
        # A client that does not read may never let the close frame out: do not wait for it for ever.
        with suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code=code, reason=reason), timeout=1)

    async def _refuse(self, operation_id: str, message: str) -> None:
        error = GraphQLError(message, extensions=_LIMIT_EXTENSIONS)
        await self.send_message(ErrorMessage(id=operation_id, type="error", payload=[error.formatted]))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)
            return
        if not await self._credential_holds():
            await self._close(4401, "credentials expired or revoked")
            return
        settings = self.context.settings
        counts = self._router.subscriptions_by_credential
        key = self._credential_key()
        if len(self.operations) >= settings.ws_max_subscriptions_per_connection:
            limit = settings.ws_max_subscriptions_per_connection
            await self._refuse(message["id"], f"at most {limit} operations per connection")
            return
        if counts.get(key, 0) >= settings.ws_max_subscriptions_per_credential:
            limit = settings.ws_max_subscriptions_per_credential
            await self._refuse(message["id"], f"at most {limit} subscriptions per credential")
            return
        await super().handle_subscribe(message)
        operation = self.operations.get(message["id"])
        if operation is not None and operation.task is not None:
            counts[key] = counts.get(key, 0) + 1
            operation.task.add_done_callback(lambda _task: self._router.release_subscription(key))

    async def send_message(self, message: Message) -> None:
        in_operation = "id" in message
        if message["type"] == "next" and not await self._credential_holds():
            await self._close(4401, "credentials expired or revoked")
            raise _OperationStreamClosed
        try:
            await asyncio.wait_for(
                super().send_message(message), timeout=self.context.settings.ws_send_timeout_seconds
            )
        except TimeoutError:
            await self._close(1008, "slow consumer: messages are not read")
            if in_operation:
                raise _OperationStreamClosed from None


class _MethodNotAllowed(Exception):
    pass


_WS_ONLY = (
    "subscriptions are not served over HTTP: open a WebSocket to /graphql with the "
    "graphql-transport-ws subprotocol"
)


_CACHED_DOCUMENT_CHARS = 10_000
"""Documents up to this size are parsed once (the cache holds at most 256 of them: ~2.5 MB)."""


def _operations(query: str) -> tuple[OperationDefinitionNode, ...] | None:
    """The operations of a document, parsed once per distinct small document (dashboards and the
    REST shim's clients send the same few again and again); None when it does not parse. A large
    document is parsed each time, so the cache cannot be filled with megabytes of them."""
    if len(query) <= _CACHED_DOCUMENT_CHARS:
        return _cached_operations(query)
    return _parse_operations(query)


@functools.lru_cache(maxsize=256)
def _cached_operations(query: str) -> tuple[OperationDefinitionNode, ...] | None:
    return _parse_operations(query)


def _parse_operations(query: str) -> tuple[OperationDefinitionNode, ...] | None:
    try:
        document = parse(query, max_tokens=MAX_QUERY_TOKENS)
    except GraphQLError:
        return None
    return tuple(d for d in document.definitions if isinstance(d, OperationDefinitionNode))


def _refusal(query: str | None, operation_name: str | None, method: str) -> GraphQLError | None:
    """Why a well-formed request's document cannot run over HTTP, before Strawberry runs it: it
    names no operation among several (Strawberry would run the first), an unknown one, a
    subscription (which needs the WebSocket). A mutation by GET raises `_MethodNotAllowed`.
    Documents that do not parse are left to the schema, which reports them with its limits."""
    if not query:
        return None
    operations = _operations(query)
    if operations is None:
        return None
    if operation_name is None:
        if len(operations) > 1:
            return GraphQLError(
                f"the document has {len(operations)} operations: name the one to run in operationName"
            )
        selected = operations[0] if operations else None
    else:
        found = [d for d in operations if d.name is not None and d.name.value == operation_name]
        if not found:
            return GraphQLError(f'unknown operation named "{operation_name}"')
        selected = found[0]
    if selected is None:
        return None
    if selected.operation == OperationType.SUBSCRIPTION:
        return GraphQLError(_WS_ONLY)
    if selected.operation == OperationType.MUTATION and method == "GET":
        raise _MethodNotAllowed
    return None


def _request_error(
    status: int, message: str, rest_error: str = "invalid_parameter", headers: dict[str, str] | None = None
) -> JSONResponse:
    """GraphQL-over-HTTP's answer to a request that cannot run, in the GraphQL response shape."""
    error = {"message": message, "extensions": {"code": "BAD_USER_INPUT", "rest_error": rest_error}}
    return JSONResponse({"data": None, "errors": [error]}, status_code=status, headers=headers)


class AnalyticsGraphQLRouter(GraphQLRouter[Context, None]):
    """/graphql with the contract's error extensions and no leaked internals."""

    graphql_transport_ws_handler_class = _AuthenticatingWSHandler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The handler applies the configured per-connection limit itself (with the contract's codes).
        self.max_subscriptions_per_connection = None
        self.subscriptions_by_credential: dict[str, int] = {}

    def release_subscription(self, key: str) -> None:
        left = self.subscriptions_by_credential.get(key, 0) - 1
        if left > 0:
            self.subscriptions_by_credential[key] = left
        else:
            self.subscriptions_by_credential.pop(key, None)

    @functools.cached_property
    def graphql_ide_html(self) -> str:
        """GraphiQL with its scripts served by this service (vendored, same files and SRI hashes as
        the CDN's), so it works on machines without internet access; it opens with an example query
        and an Authorization header template. Built once (Strawberry's reads its file on every
        request)."""
        html = super().graphql_ide_html
        for cdn, local in _CDN_TO_LOCAL.items():
            html = html.replace(cdn, f"/graphiql-assets/{local}")
        if not _EXAMPLE_QUERY_JS.search(html) or _HEADERS_STATE_JS not in html:
            raise RuntimeError("Strawberry's GraphiQL page changed: update graphql_ide_html")
        html = _EXAMPLE_QUERY_JS.sub(
            lambda _m: f"const EXAMPLE_QUERY = {json.dumps(GRAPHIQL_EXAMPLE_QUERY)};", html, count=1
        )
        return html.replace(
            _HEADERS_STATE_JS, f"React.useState(parameters.headers || {json.dumps(GRAPHIQL_HEADERS)})"
        )

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

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Requests that cannot run answer in the GraphQL response shape with `BAD_USER_INPUT`
        (Strawberry answers text/plain): 400 for a body that is not a GraphQL request (not JSON,
        no query), 405 with `Allow: POST` for a mutation by GET."""
        try:
            return await super().run(request, context, root_value)
        except _MethodNotAllowed:
            return _request_error(405, "mutations must be sent by POST", headers={"Allow": "POST"})
        except InvalidBody as error:
            return _request_error(400, error.message, "invalid_body")
        except HTTPException as error:
            return _request_error(error.status_code, error.reason)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        refusal = _refusal(request_data.query, request_data.operation_name, request_adapter.method)
        if refusal is not None:
            return ExecutionResult(data=None, errors=[refusal])
        return await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )

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
