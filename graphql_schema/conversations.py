"""conversationMetrics, conversationVolume, conversationDuration, conversationResolution: the core's
answer types, registered as GraphQL types."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import catalog
from app.analytics.answers.conversations import (
    ChannelCount,
    ConversationDuration,
    ConversationMetrics,
    ConversationResolution,
    ConversationVolume,
    DurationBin,
    ResolutionPoint,
    VolumePoint,
)
from graphql_schema.context import Context
from graphql_schema.filters import AnalyticsFilter, answer_type, run_range_query
from graphql_schema.permissions import CanRead

__all__ = ["ConversationsQuery"]

# ConversationMetrics itself is registered because ConversationResolution extends it (Strawberry
# needs the base registered first); the conversationMetrics field answers with the comparable copy
# of the same name (`answer_type`), so only that one is in the schema.
for _answer in (
    ChannelCount,
    ConversationMetrics,
    VolumePoint,
    ConversationVolume,
    DurationBin,
    ResolutionPoint,
    ConversationResolution,
):
    strawberry.type(_answer, name=_answer.__name__)


@strawberry.type
class ConversationsQuery:
    @strawberry.field(permission_classes=[CanRead], graphql_type=answer_type(catalog.CONVERSATIONS))
    async def conversation_metrics(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationMetrics:
        return await run_range_query(info.context, filter, catalog.CONVERSATIONS)

    @strawberry.field(permission_classes=[CanRead])
    async def conversation_volume(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationVolume:
        return await run_range_query(info.context, filter, catalog.CONVERSATION_VOLUME)

    @strawberry.field(permission_classes=[CanRead], graphql_type=answer_type(catalog.CONVERSATION_DURATION))
    async def conversation_duration(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationDuration:
        return await run_range_query(info.context, filter, catalog.CONVERSATION_DURATION)

    @strawberry.field(permission_classes=[CanRead])
    async def conversation_resolution(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationResolution:
        return await run_range_query(info.context, filter, catalog.CONVERSATION_RESOLUTION)
