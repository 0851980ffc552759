"""engagement, retention, satisfaction: the core's answer types, registered as GraphQL types."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import catalog
from app.analytics.answers.engagement import (
    Cohort,
    Engagement,
    Retention,
    RetentionPeriod,
    Satisfaction,
    SatisfactionPoint,
    ScoreCount,
)
from graphql_schema.context import Context
from graphql_schema.filters import AnalyticsFilter, answer_type, run_range_query
from graphql_schema.permissions import CanRead

__all__ = ["EngagementQuery"]

for _answer in (RetentionPeriod, Cohort, Retention, ScoreCount, SatisfactionPoint):
    strawberry.type(_answer, name=_answer.__name__)


@strawberry.type
class EngagementQuery:
    @strawberry.field(permission_classes=[CanRead], graphql_type=answer_type(catalog.ENGAGEMENT))
    async def engagement(self, info: Info[Context, Any], filter: AnalyticsFilter | None = None) -> Engagement:
        return await run_range_query(info.context, filter, catalog.ENGAGEMENT)

    @strawberry.field(permission_classes=[CanRead])
    async def retention(self, info: Info[Context, Any], filter: AnalyticsFilter | None = None) -> Retention:
        return await run_range_query(info.context, filter, catalog.RETENTION)

    @strawberry.field(permission_classes=[CanRead], graphql_type=answer_type(catalog.SATISFACTION))
    async def satisfaction(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> Satisfaction:
        return await run_range_query(info.context, filter, catalog.SATISFACTION)
