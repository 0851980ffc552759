"""The one schema: Query, Mutation and Subscription assembled from per-area modules."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxTokensLimiter, ParserCache, QueryDepthLimiter, ValidationCache

from graphql_schema.conversations import ConversationsQuery
from graphql_schema.engagement import EngagementQuery
from graphql_schema.events import EventsMutation
from graphql_schema.realtime import RealtimeQuery, RealtimeSubscription
from graphql_schema.usage import UsageQuery

__all__ = ["MAX_QUERY_DEPTH", "schema"]

MAX_QUERY_DEPTH = 12


@strawberry.type
class Query(UsageQuery, ConversationsQuery, EngagementQuery, RealtimeQuery):
    pass


@strawberry.type
class Mutation(EventsMutation):
    pass


@strawberry.type
class Subscription(RealtimeSubscription):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
        MaxTokensLimiter(max_token_count=5000),
        ParserCache(maxsize=256),
        ValidationCache(maxsize=256),
    ],
)
