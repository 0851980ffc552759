"""The one schema: Query, Mutation and Subscription assembled from per-area modules."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.types import ExecutionContext

from app.errors import AppError
from graphql_schema.conversations import ConversationsQuery
from graphql_schema.engagement import EngagementQuery
from graphql_schema.events import EventsMutation
from graphql_schema.realtime import RealtimeQuery, RealtimeSubscription
from graphql_schema.reports import ReportsMutation, ReportsQuery
from graphql_schema.usage import UsageQuery

__all__ = ["MAX_QUERY_DEPTH", "schema"]

MAX_QUERY_DEPTH = 12


@strawberry.type
class Query(UsageQuery, ConversationsQuery, EngagementQuery, RealtimeQuery, ReportsQuery):
    pass


@strawberry.type
class Mutation(EventsMutation, ReportsMutation):
    pass


@strawberry.type
class Subscription(RealtimeSubscription):
    pass


_DEPTH_LIMIT = QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH)
_TOKEN_LIMIT = MaxTokensLimiter(max_token_count=5000)


class AnalyticsSchema(strawberry.Schema):
    """Logs only unexpected errors: contract errors (401, 403, 400...) are answers, not incidents."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [
            e for e in errors if e.original_error is not None and not isinstance(e.original_error, AppError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


schema = AnalyticsSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        # One shared instance each: their validation rules are then the same objects on every
        # request, so ValidationCache (keyed by document and rules) hits.
        lambda: _DEPTH_LIMIT,
        lambda: _TOKEN_LIMIT,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ],
)
