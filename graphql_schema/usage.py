"""usage, dailyUsage, monthlyUsage."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import queries
from graphql_schema.context import Context
from graphql_schema.filters import AnalyticsFilter, RangeEcho, run_range_query
from graphql_schema.permissions import CanRead

__all__ = ["UsageQuery"]


@strawberry.type
class UsageStats:
    range: RangeEcho
    total_conversations: int
    total_messages: int
    user_messages: int
    bot_messages: int
    active_users: int
    new_users: int
    avg_messages_per_conversation: float | None
    avg_conversation_duration_seconds: float | None


@strawberry.type
class DailyUsagePoint:
    date: str
    conversations: int
    messages: int
    active_users: int
    new_users: int


@strawberry.type
class MonthlyUsagePoint:
    month: str
    conversations: int
    messages: int
    active_users: int
    new_users: int


@strawberry.type
class DailyUsage:
    range: RangeEcho
    data: list[DailyUsagePoint]


@strawberry.type
class MonthlyUsage:
    range: RangeEcho
    data: list[MonthlyUsagePoint]


@strawberry.type
class UsageQuery:
    @strawberry.field(permission_classes=[CanRead])
    async def usage(self, info: Info[Context, Any], filter: AnalyticsFilter | None = None) -> UsageStats:
        return await run_range_query(info.context, filter, "usage", queries.usage, UsageStats)

    @strawberry.field(permission_classes=[CanRead])
    async def daily_usage(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> DailyUsage:
        return await run_range_query(info.context, filter, "usage/daily", queries.usage_daily, DailyUsage)

    @strawberry.field(permission_classes=[CanRead])
    async def monthly_usage(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> MonthlyUsage:
        return await run_range_query(
            info.context, filter, "usage/monthly", queries.usage_monthly, MonthlyUsage
        )
