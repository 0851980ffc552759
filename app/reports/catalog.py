"""What each report type holds and how its range is cut for each route (API.md sections 7 and 8).

A report freezes its range when it is created: every section runs on the same `[start, end)`,
given to each route as absolute datetimes, so a report regenerated after a restart shows the
range that was asked for. Each route keeps its own bucket rules (the ones its GraphQL field uses).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from app.analytics import catalog
from app.analytics.catalog import Metric
from app.analytics.ranges import RangeParams, ResolvedRange
from app.vocabulary import GroupBy, ReportFormat, ReportType

__all__ = [
    "DOWNLOAD_PATH",
    "MEDIA_TYPES",
    "REPORT_TYPES",
    "ROUTES_BY_TYPE",
    "route_range",
]

REPORT_TYPES: tuple[str, ...] = tuple(ReportType)
DOWNLOAD_PATH = "/api/v1/analytics/reports/{id}/download"

MEDIA_TYPES: dict[str, str] = {
    ReportFormat.PDF: "application/pdf",
    ReportFormat.CSV: "text/csv; charset=utf-8",
    ReportFormat.JSON: "application/json",
    ReportFormat.HTML: "text/html; charset=utf-8",
}

_USAGE = (catalog.USAGE, catalog.USAGE_DAILY)
_CONVERSATIONS = (
    catalog.CONVERSATIONS,
    catalog.CONVERSATION_VOLUME,
    catalog.CONVERSATION_DURATION,
    catalog.CONVERSATION_RESOLUTION,
)
_ENGAGEMENT = (catalog.ENGAGEMENT, catalog.RETENTION, catalog.SATISFACTION)
_INSIGHTS = (catalog.INTENTS, catalog.PERFORMANCE, catalog.CONVERSATION_OUTCOMES)

ROUTES_BY_TYPE: dict[str, tuple[Metric[Any], ...]] = {
    ReportType.USAGE: _USAGE,
    ReportType.CONVERSATIONS: _CONVERSATIONS,
    ReportType.ENGAGEMENT: _ENGAGEMENT,
    ReportType.SATISFACTION: (catalog.SATISFACTION,),
    ReportType.RETENTION: (catalog.RETENTION,),
    ReportType.INSIGHTS: _INSIGHTS,
    ReportType.FULL: (*_USAGE, catalog.USAGE_MONTHLY, *_CONVERSATIONS, *_ENGAGEMENT, *_INSIGHTS),
}
"""The metrics (API.md sections 6 and 9) of each report type, in the order the report shows them; the
section 9 routes answer as without `limit` (`intents`: its default 20)."""


def route_range(metric: Metric[Any], params: RangeParams, now: datetime) -> ResolvedRange:
    """The range and buckets of one section of a report (retention uses `week` for `group_by=hour`)."""
    if metric is catalog.RETENTION and params.group_by == GroupBy.HOUR:
        params = dataclasses.replace(params, group_by=GroupBy.WEEK.value)
    return metric.resolve(params, now)
