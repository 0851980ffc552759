"""The one schema: Query, Mutation and Subscription assembled from per-area modules."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    FieldExtension,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext
from strawberry.types.base import get_object_definition

from app.config import get_settings
from app.limits import MAX_QUERY_TOKENS
from graphql_schema.bots import BotsQuery
from graphql_schema.conversations import ConversationsQuery
from graphql_schema.cost import QueryCost
from graphql_schema.descriptions import describe
from graphql_schema.engagement import EngagementQuery
from graphql_schema.errors import is_internal
from graphql_schema.events import EventsMutation
from graphql_schema.insights import InsightsQuery
from graphql_schema.realtime import RealtimeQuery, RealtimeSubscription
from graphql_schema.reports import ReportsMutation, ReportsQuery
from graphql_schema.usage import UsageQuery

__all__ = ["schema"]

log = logging.getLogger("bot_analytics.graphql")


class RunsToTheEnd(FieldExtension):
    """A root field's resolver runs to its end as a task of its own, shielded from cancellation.

    When a sibling field fails with a non-null error, graphql-core cancels the other root fields.
    A cancellation that lands while Tortoise opens a connection lazily (inside its connection
    wrapper's `__aenter__`, after taking the lock) never releases that connection's lock, and every
    later query on it waits forever: one mixed document could wedge the service. The shielded task
    finishes its (bounded) work and releases what it holds; the request itself is still cancelled.
    """

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return await asyncio.shield(asyncio.ensure_future(next_(source, info, **kwargs)))


@strawberry.type
class Query(
    UsageQuery, ConversationsQuery, EngagementQuery, InsightsQuery, RealtimeQuery, ReportsQuery, BotsQuery
):
    pass


@strawberry.type
class Mutation(EventsMutation, ReportsMutation):
    pass


@strawberry.type
class Subscription(RealtimeSubscription):
    pass


for _root in (Query, Mutation):
    for _field in get_object_definition(_root, strict=True).fields:
        if _field.is_async:
            _field.extensions.append(RunsToTheEnd())


_TOKEN_LIMIT = MaxTokensLimiter(max_token_count=MAX_QUERY_TOKENS)


@functools.cache
def _depth_limit(max_depth: int) -> QueryDepthLimiter:
    return QueryDepthLimiter(max_depth=max_depth)


def _configured_depth_limit() -> QueryDepthLimiter:
    """ANALYTICS_MAX_QUERY_DEPTH, read when a document runs (not at import, before settings exist)."""
    return _depth_limit(get_settings().max_query_depth)


class AnalyticsSchema(strawberry.Schema):
    """The one logging point of GraphQL errors, for /graphql, the REST shim and subscriptions alike:
    each unexpected error once, with its request id. Contract errors (401, 403, 400...) are answers,
    not incidents, and are not logged."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context is not None else None
        request_id = getattr(context, "request_id", "")
        for error in errors:
            if is_internal(error):
                log.error("internal error request_id=%s", request_id, exc_info=error.original_error)


schema = AnalyticsSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        # One shared instance each: their validation rules are then the same objects on every
        # request, so ValidationCache (keyed by document and rules) hits.
        _configured_depth_limit,
        lambda: _TOKEN_LIMIT,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        # After validation, before execution: the document's cost with its variables (cost.py).
        QueryCost,
    ],
)
describe(schema._schema)
