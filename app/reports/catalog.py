"""What each report type holds and how its range is cut for each route (API.md sections 7 and 8).

A report freezes its range when it is created: every section runs on the same `[start, end)`,
given to each route as absolute datetimes, so a report regenerated after a restart shows the
range that was asked for. Each route keeps its own bucket rules (the ones its GraphQL field uses).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from app.analytics.queries import RANGE_OPTIONS
from app.analytics.ranges import RangeParams, ResolvedRange, resolve_range
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

_USAGE = ("usage", "usage/daily")
_CONVERSATIONS = (
    "conversations",
    "conversations/volume",
    "conversations/duration",
    "conversations/resolution",
)
_ENGAGEMENT = ("engagement", "engagement/retention", "engagement/satisfaction")

ROUTES_BY_TYPE: dict[str, tuple[str, ...]] = {
    ReportType.USAGE: _USAGE,
    ReportType.CONVERSATIONS: _CONVERSATIONS,
    ReportType.ENGAGEMENT: _ENGAGEMENT,
    ReportType.SATISFACTION: ("engagement/satisfaction",),
    ReportType.RETENTION: ("engagement/retention",),
    ReportType.FULL: (*_USAGE, "usage/monthly", *_CONVERSATIONS, *_ENGAGEMENT),
}
"""Route names (API.md section 6) of each report type, in the order the report shows them."""


def route_range(route: str, params: RangeParams, now: datetime) -> ResolvedRange:
    """The range and buckets of one section of a report (retention uses `week` for `group_by=hour`)."""
    if route == "engagement/retention" and params.group_by == GroupBy.HOUR:
        params = dataclasses.replace(params, group_by=GroupBy.WEEK.value)
    return resolve_range(params, now, **RANGE_OPTIONS[route])
