"""conversationMetrics, conversationVolume, conversationDuration, conversationResolution."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import queries
from graphql_schema.context import Context
from graphql_schema.enums import GroupBy
from graphql_schema.filters import AnalyticsFilter, RangeEcho, run_range_query
from graphql_schema.permissions import CanRead

__all__ = ["ConversationsQuery"]


@strawberry.type
class ChannelCount:
    channel: str
    conversations: int


@strawberry.type
class ConversationMetrics:
    range: RangeEcho
    total_conversations: int
    active: int
    resolved: int
    escalated: int
    abandoned: int
    resolution_rate: float | None
    escalation_rate: float | None
    abandonment_rate: float | None
    avg_duration_seconds: float | None
    avg_messages_per_conversation: float | None
    fallback_rate: float | None
    by_channel: list[ChannelCount]


@strawberry.type
class VolumePoint:
    bucket_start: str
    conversations: int
    messages: int


@strawberry.type
class ConversationVolume:
    range: RangeEcho
    group_by: GroupBy
    data: list[VolumePoint]


@strawberry.type
class DurationBin:
    min_seconds: float
    max_seconds: float | None
    count: int


@strawberry.type
class ConversationDuration:
    range: RangeEcho
    count: int
    avg_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    min_seconds: float | None
    max_seconds: float | None
    distribution: list[DurationBin]


@strawberry.type
class ResolutionPoint:
    bucket_start: str
    resolved: int
    escalated: int
    abandoned: int
    resolution_rate: float | None


@strawberry.type
class ConversationResolution(ConversationMetrics):
    data: list[ResolutionPoint]


@strawberry.type
class ConversationsQuery:
    @strawberry.field(permission_classes=[CanRead])
    async def conversation_metrics(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationMetrics:
        return await run_range_query(
            info.context, filter, "conversations", queries.conversations, ConversationMetrics
        )

    @strawberry.field(permission_classes=[CanRead])
    async def conversation_volume(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationVolume:
        return await run_range_query(
            info.context, filter, "conversations/volume", queries.conversation_volume, ConversationVolume
        )

    @strawberry.field(permission_classes=[CanRead])
    async def conversation_duration(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationDuration:
        return await run_range_query(
            info.context,
            filter,
            "conversations/duration",
            queries.conversation_duration,
            ConversationDuration,
        )

    @strawberry.field(permission_classes=[CanRead])
    async def conversation_resolution(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationResolution:
        return await run_range_query(
            info.context,
            filter,
            "conversations/resolution",
            queries.conversation_resolution,
            ConversationResolution,
        )
