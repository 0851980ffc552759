"""engagement, retention, satisfaction."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import queries
from graphql_schema.context import Context
from graphql_schema.enums import GroupBy
from graphql_schema.filters import AnalyticsFilter, RangeEcho, run_range_query
from graphql_schema.permissions import CanRead

__all__ = ["EngagementQuery"]


@strawberry.type
class Engagement:
    range: RangeEcho
    active_users: int
    new_users: int
    returning_users: int
    avg_daily_active_users: float
    stickiness: float | None
    conversations_per_user: float | None
    messages_per_user: float | None


@strawberry.type
class RetentionPeriod:
    period: int
    users: int
    rate: float | None


@strawberry.type
class Cohort:
    cohort_start: str
    size: int
    retention: list[RetentionPeriod]


@strawberry.type
class Retention:
    range: RangeEcho
    group_by: GroupBy
    cohorts: list[Cohort]


@strawberry.type
class ScoreCount:
    score: int
    count: int


@strawberry.type
class SatisfactionPoint:
    bucket_start: str
    responses: int
    average_score: float | None


@strawberry.type
class Satisfaction:
    range: RangeEcho
    responses: int
    average_score: float | None
    csat: float | None
    distribution: list[ScoreCount]
    data: list[SatisfactionPoint]


@strawberry.type
class EngagementQuery:
    @strawberry.field(permission_classes=[CanRead])
    async def engagement(self, info: Info[Context, Any], filter: AnalyticsFilter | None = None) -> Engagement:
        return await run_range_query(info.context, filter, "engagement", queries.engagement, Engagement)

    @strawberry.field(permission_classes=[CanRead])
    async def retention(self, info: Info[Context, Any], filter: AnalyticsFilter | None = None) -> Retention:
        return await run_range_query(
            info.context, filter, "engagement/retention", queries.retention, Retention
        )

    @strawberry.field(permission_classes=[CanRead])
    async def satisfaction(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> Satisfaction:
        return await run_range_query(
            info.context, filter, "engagement/satisfaction", queries.satisfaction, Satisfaction
        )
