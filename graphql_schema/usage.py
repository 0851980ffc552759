"""usage, dailyUsage, monthlyUsage: the core's answer types, registered as GraphQL types."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import catalog
from app.analytics.answers.usage import (
    DailyUsage,
    DailyUsagePoint,
    MonthlyUsage,
    MonthlyUsagePoint,
    UsageStats,
)
from graphql_schema.context import Context
from graphql_schema.filters import AnalyticsFilter, answer_type, run_range_query
from graphql_schema.permissions import CanRead

__all__ = ["UsageQuery"]

for _answer in (DailyUsagePoint, MonthlyUsagePoint, DailyUsage, MonthlyUsage):
    strawberry.type(_answer, name=_answer.__name__)


@strawberry.type
class UsageQuery:
    @strawberry.field(permission_classes=[CanRead], graphql_type=answer_type(catalog.USAGE))
    async def usage(self, info: Info[Context, Any], filter: AnalyticsFilter | None = None) -> UsageStats:
        return await run_range_query(info.context, filter, catalog.USAGE)

    @strawberry.field(permission_classes=[CanRead])
    async def daily_usage(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> DailyUsage:
        return await run_range_query(info.context, filter, catalog.USAGE_DAILY)

    @strawberry.field(permission_classes=[CanRead])
    async def monthly_usage(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> MonthlyUsage:
        return await run_range_query(info.context, filter, catalog.USAGE_MONTHLY)
