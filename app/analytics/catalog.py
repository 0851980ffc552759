"""The metric catalog: one row per analytics route of API.md section 6, referenced as objects
(`catalog.USAGE_DAILY`) by the GraphQL resolvers, the reports and the cache.

A row names the route, the function that answers it, its answer type, how its range is resolved
(`RangeOptions`) and its section title in reports. Adding a metric is its counter and answer in
`app/analytics`, one row here, one GraphQL field and one REST route row: docs/adding-a-metric.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from app.analytics.answers import LiveQuestion, Question
from app.analytics.answers import conversations as conv
from app.analytics.answers import engagement as eng
from app.analytics.answers import intents as ints
from app.analytics.answers import performance as perf
from app.analytics.answers import realtime as live
from app.analytics.answers import usage as use
from app.analytics.comparison import answer_compared, compared_type
from app.analytics.cost import Work, work_cost
from app.analytics.ranges import (
    GROUP_BYS,
    MAX_BUCKETS,
    MAX_COHORTS,
    RangeParams,
    ResolvedRange,
    resolve_range,
)
from app.db import Readers
from app.vocabulary import GroupBy

__all__ = [
    "ACTIVE_SESSIONS",
    "CONVERSATIONS",
    "CONVERSATION_DURATION",
    "CONVERSATION_OUTCOMES",
    "CONVERSATION_RESOLUTION",
    "CONVERSATION_VOLUME",
    "ENGAGEMENT",
    "INTENTS",
    "LIVE_METRICS",
    "METRICS",
    "PERFORMANCE",
    "REALTIME",
    "RETENTION",
    "SATISFACTION",
    "USAGE",
    "USAGE_DAILY",
    "USAGE_MONTHLY",
    "LiveMetric",
    "Metric",
    "RangeOptions",
]

A = TypeVar("A")


@dataclass(frozen=True)
class RangeOptions:
    """How a route resolves its range (the keyword arguments of `ranges.resolve_range`)."""

    default: str = "days30"
    default_group_by: str = GroupBy.DAY.value
    series: bool = False
    bucket_field: str = "group_by"
    allowed_group_bys: tuple[str, ...] = GROUP_BYS
    max_buckets: int = MAX_BUCKETS
    work: Work | None = None
    """How its cost grows with the range (app/analytics/cost.py); None: per bucket for a series,
    else one."""


@dataclass(frozen=True)
class Metric(Generic[A]):
    """A range route: `name` as in API.md section 6, its answer function and type, its range rules
    and its section title in reports. A `comparable` metric answers `compare` (API.md section 9):
    its answer gains `comparison` and `change` (app/analytics/comparison.py), always present."""

    name: str
    answer: Callable[[Readers, Question], Awaitable[A]]
    answer_type: type[A]
    title: str
    range_options: RangeOptions = field(default_factory=RangeOptions)
    comparable: bool = False

    @property
    def result_type(self) -> type[A]:
        """The type `run` answers with: the answer type, with `comparison` and `change` if comparable."""
        return compared_type(self.answer_type) if self.comparable else self.answer_type

    async def run(self, db: Readers, q: Question) -> A:
        """The route's answer to `q`: with its comparison when the metric is comparable (`compare`
        is read only then; the other routes accept and ignore it)."""
        if self.comparable:
            return await answer_compared(self.answer, self.answer_type, db, q)
        return await self.answer(db, q)

    def resolve(self, params: RangeParams, now: datetime) -> ResolvedRange:
        """The range and buckets of this route for `params` at `now` (400s name the parameter)."""
        o = self.range_options
        return resolve_range(
            params,
            now,
            default=o.default,
            default_group_by=o.default_group_by,
            series=o.series,
            bucket_field=o.bucket_field,
            allowed_group_bys=o.allowed_group_bys,
            max_buckets=o.max_buckets,
        )

    def cost(self, params: RangeParams, now: datetime) -> int:
        """What answering `params` at `now` costs (app/analytics/cost.py), from the range alone.

        Raises the 400 the answer would raise for a bad parameter."""
        o = self.range_options
        r = resolve_range(
            params,
            now,
            default=o.default,
            default_group_by=o.default_group_by,
            bucket_field=o.bucket_field,
            allowed_group_bys=o.allowed_group_bys,
        )
        work = o.work or (Work.BUCKETS if o.series else Work.ONE)
        return work_cost(work, r, o.max_buckets)


@dataclass(frozen=True)
class LiveMetric(Generic[A]):
    """A realtime route: `name` as in API.md section 6, its answer function and type."""

    name: str
    answer: Callable[[Readers, LiveQuestion], Awaitable[A]]
    answer_type: type[A]


_SERIES = RangeOptions(series=True)
_NO_GROUP_BY = RangeOptions(series=True, bucket_field="end_date")

USAGE = Metric("usage", use.usage, use.UsageStats, "Usage", comparable=True)
USAGE_DAILY = Metric("usage/daily", use.usage_daily, use.DailyUsage, "Usage per day", _NO_GROUP_BY)
USAGE_MONTHLY = Metric(
    "usage/monthly",
    use.usage_monthly,
    use.MonthlyUsage,
    "Usage per month",
    RangeOptions(
        series=True, bucket_field="end_date", default="months12", default_group_by=GroupBy.MONTH.value
    ),
)
CONVERSATIONS = Metric(
    "conversations", conv.conversations, conv.ConversationMetrics, "Conversations", comparable=True
)
CONVERSATION_VOLUME = Metric(
    "conversations/volume", conv.conversation_volume, conv.ConversationVolume, "Conversation volume", _SERIES
)
CONVERSATION_DURATION = Metric(
    "conversations/duration",
    conv.conversation_duration,
    conv.ConversationDuration,
    "Conversation duration",
    comparable=True,
)
CONVERSATION_RESOLUTION = Metric(
    "conversations/resolution",
    conv.conversation_resolution,
    conv.ConversationResolution,
    "Outcomes over time",
    _SERIES,
)
ENGAGEMENT = Metric(
    "engagement", eng.engagement, eng.Engagement, "Engagement", RangeOptions(work=Work.DAYS), comparable=True
)
RETENTION = Metric(
    "engagement/retention",
    eng.retention,
    eng.Retention,
    "Retention",
    RangeOptions(
        series=True,
        default_group_by=GroupBy.WEEK.value,
        allowed_group_bys=tuple(g for g in GroupBy if g != GroupBy.HOUR),
        max_buckets=MAX_COHORTS,
        work=Work.CELLS,
    ),
)
SATISFACTION = Metric(
    "engagement/satisfaction", eng.satisfaction, eng.Satisfaction, "Satisfaction", _SERIES, comparable=True
)
INTENTS = Metric("intents", ints.intents, ints.Intents, "Intents", RangeOptions(work=Work.DAYS))
PERFORMANCE = Metric(
    "performance",
    perf.performance,
    perf.Performance,
    "Performance and cost",
    RangeOptions(series=True, work=Work.SCAN),
    comparable=True,
)
CONVERSATION_OUTCOMES = Metric(
    "conversations/outcomes",
    conv.conversation_outcomes,
    conv.ConversationOutcomes,
    "Outcomes",
    RangeOptions(work=Work.DAYS),
)

REALTIME = LiveMetric("realtime", live.realtime, live.Realtime)
ACTIVE_SESSIONS = LiveMetric("realtime/active", live.active_sessions, live.ActiveSessions)

METRICS: tuple[Metric[Any], ...] = (
    USAGE,
    USAGE_DAILY,
    USAGE_MONTHLY,
    CONVERSATIONS,
    CONVERSATION_VOLUME,
    CONVERSATION_DURATION,
    CONVERSATION_RESOLUTION,
    ENGAGEMENT,
    RETENTION,
    SATISFACTION,
    INTENTS,
    PERFORMANCE,
    CONVERSATION_OUTCOMES,
)
"""The range routes, in API.md's order."""

LIVE_METRICS: tuple[LiveMetric[Any], ...] = (REALTIME, ACTIVE_SESSIONS)
"""The realtime routes."""
