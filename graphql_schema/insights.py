"""intents, performance, conversationOutcomes (API.md section 9): the core's answer types, registered
as GraphQL types."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics import catalog
from app.analytics.answers.conversations import ChannelOutcomes, ConversationOutcomes, EscalationReason
from app.analytics.answers.intents import Intents, IntentStats
from app.analytics.answers.performance import ModelPerformance, Performance, PerformancePoint
from app.vocabulary import INTENTS_LIMIT
from graphql_schema.context import Context
from graphql_schema.filters import AnalyticsFilter, answer_type, run_range_query
from graphql_schema.permissions import CanRead

__all__ = ["InsightsQuery"]

for _answer in (
    IntentStats,
    Intents,
    ModelPerformance,
    PerformancePoint,
    EscalationReason,
    ChannelOutcomes,
    ConversationOutcomes,
):
    strawberry.type(_answer, name=_answer.__name__)


@strawberry.type
class InsightsQuery:
    @strawberry.field(permission_classes=[CanRead])
    async def intents(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None, limit: int | None = None
    ) -> Intents:
        checked = INTENTS_LIMIT.check(limit)  # BAD_USER_INPUT naming `limit`, before any work
        answer: Intents = await run_range_query(info.context, filter, catalog.INTENTS, limit=checked)
        return answer

    @strawberry.field(permission_classes=[CanRead], graphql_type=answer_type(catalog.PERFORMANCE))
    async def performance(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> Performance:
        return await run_range_query(info.context, filter, catalog.PERFORMANCE)

    @strawberry.field(permission_classes=[CanRead])
    async def conversation_outcomes(
        self, info: Info[Context, Any], filter: AnalyticsFilter | None = None
    ) -> ConversationOutcomes:
        return await run_range_query(info.context, filter, catalog.CONVERSATION_OUTCOMES)
