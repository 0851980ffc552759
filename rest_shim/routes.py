"""The REST route table: each documented path names a GraphQL document and how its inputs map.

Nothing here computes a number: a route only turns the query string (or body) into the
document's variables and returns the aliased result, whose keys are already snake_case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from app.analytics.catalog import METRICS
from app.vocabulary import (
    DAYS,
    WINDOW_MINUTES,
    Compare,
    GroupBy,
    Period,
    ReportFormat,
    ReportStatus,
    ReportType,
    spoken,
)

__all__ = [
    "FILTER_PARAMS",
    "INTENTS_PARAMS",
    "PATH_VARIABLES",
    "REALTIME_PARAMS",
    "REPORT_BODY",
    "REPORT_LIST_PARAMS",
    "ROUTES",
    "Route",
]

PREFIX = "/api/v1/analytics"


def spoken_paths(names: Iterable[str]) -> str:
    """`/a, /b and /c`."""
    paths = [f"/{n}" for n in names]
    return ", ".join(paths[:-1]) + " and " + paths[-1] if len(paths) > 1 else "".join(paths)


_ONE_RANGE = "Use one of days, period, or start_date/end_date: mixing them is a 400."
FILTER_PARAMS = {
    "start_date": (
        "startDate",
        "Start of the range (inclusive): YYYY-MM-DD or RFC 3339 datetime, a year from 1970 to 9999; "
        f"alone, the range ends at the end of today. {_ONE_RANGE}",
    ),
    "end_date": (
        "endDate",
        "End of the range: a date includes that day, a datetime is exclusive; alone, the range is "
        f"the 30 days before it. Must be after start_date. {_ONE_RANGE}",
    ),
    "days": (
        "days",
        f"The last N calendar days, today included ({DAYS.minimum} to {DAYS.maximum}). {_ONE_RANGE}",
    ),
    "period": (
        "period",
        f"{spoken(Period)}: the current calendar day, ISO week, month or year, up to the end of today. "
        f"{_ONE_RANGE}",
    ),
    "group_by": (
        "groupBy",
        f"{spoken(GroupBy)}: bucket size of series (default day; retention: week, and hour is a 400 "
        "there); more than 10,000 buckets is a 400",
    ),
    "bot_id": ("botId", "Only this bot (UUID)"),
    "user_id": ("userId", "Only this end user (UUID)"),
    "timezone": ("timezone", "IANA zone name in which days, weeks, months and hours are cut; default UTC"),
    "compare": (
        "compare",
        f"{spoken(Compare)}: {spoken_paths(m.name for m in METRICS if m.comparable)} then fill "
        "`comparison` (the comparison range and the number keys "
        "over it) and `change` ((current - previous) / previous); other routes accept and ignore it. "
        "previous_period: as many local days just before the start when both bounds are local "
        "midnights, else the same length just before it; previous_year: the same wall-clock bounds a "
        "year earlier (29 February becomes 28 February). When the range ends after now, the "
        "comparison covers the same elapsed time. Empty: none",
    ),
}
INTENTS_PARAMS = {
    **FILTER_PARAMS,
    "limit": ("limit", "How many intents `data` lists, 1 to 100 (default 20)"),
}
"""`/intents`: the filter and `limit` (an argument of the `intents` field, not a filter field)."""
REALTIME_PARAMS = {
    "window_minutes": (
        "windowMinutes",
        f"Window in minutes, {WINDOW_MINUTES.minimum} to {WINDOW_MINUTES.maximum} "
        f"(default {WINDOW_MINUTES.default})",
    ),
    "bot_id": ("botId", "Only this bot (UUID)"),
    "timezone": ("timezone", "IANA zone for as_of, default UTC"),
}

REPORT_LIST_PARAMS = {
    "limit": ("limit", "Page size, 1 to 100 (default 20)"),
    "offset": ("offset", "Reports to skip (default 0)"),
    "status": ("status", spoken(ReportStatus)),
    "type": ("type", spoken(ReportType)),
}
REPORT_BODY = {
    "type": ("type", spoken(ReportType)),
    "format": ("format", spoken(ReportFormat).replace("pdf", "pdf (default)", 1)),
    **{k: v for k, v in FILTER_PARAMS.items() if k not in ("user_id", "compare")},
    "title": ("title", "Title printed on the report (default: after its type)"),
}
"""`POST /reports` body keys -> `ReportInput` fields."""
PATH_VARIABLES = {"report_id": "id"}
"""Path parameters -> the GraphQL argument they fill."""


@dataclass(frozen=True)
class Route:
    """One REST route: method, path, the GraphQL field it runs and how variables are made."""

    name: str
    method: Literal["GET", "POST", "DELETE"]
    path: str
    field: str
    params: Literal["filter", "intents", "realtime", "none", "body", "reports_list"] = "filter"
    summary: str = ""
    status_code: int = 200
    path_params: tuple[str, ...] = ()
    tags: tuple[str, ...] = ("analytics",)

    @property
    def document_name(self) -> str:
        return self.name.replace("/", "_").replace("{", "").replace("}", "")

    @property
    def full_path(self) -> str:
        return PREFIX + self.path


ROUTES: tuple[Route, ...] = (
    Route("usage", "GET", "/usage", "usage", summary="Usage totals for the range", tags=("usage",)),
    Route("usage/daily", "GET", "/usage/daily", "dailyUsage", summary="Usage per day", tags=("usage",)),
    Route(
        "usage/monthly", "GET", "/usage/monthly", "monthlyUsage", summary="Usage per month", tags=("usage",)
    ),
    Route(
        "conversations",
        "GET",
        "/conversations",
        "conversationMetrics",
        summary="Conversation outcomes, rates and channels",
        tags=("conversations",),
    ),
    Route(
        "conversations/volume",
        "GET",
        "/conversations/volume",
        "conversationVolume",
        summary="Conversations and messages per bucket",
        tags=("conversations",),
    ),
    Route(
        "conversations/duration",
        "GET",
        "/conversations/duration",
        "conversationDuration",
        summary="Duration statistics and distribution of closed conversations",
        tags=("conversations",),
    ),
    Route(
        "conversations/resolution",
        "GET",
        "/conversations/resolution",
        "conversationResolution",
        summary="Outcomes per bucket",
        tags=("conversations",),
    ),
    Route("engagement", "GET", "/engagement", "engagement", summary="User engagement", tags=("engagement",)),
    Route(
        "engagement/retention",
        "GET",
        "/engagement/retention",
        "retention",
        summary="Cohort retention",
        tags=("engagement",),
    ),
    Route(
        "engagement/satisfaction",
        "GET",
        "/engagement/satisfaction",
        "satisfaction",
        summary="Satisfaction scores",
        tags=("engagement",),
    ),
    Route(
        "intents",
        "GET",
        "/intents",
        "intents",
        params="intents",
        summary="Messages by intent: fallbacks and outcomes",
        tags=("insights",),
    ),
    Route(
        "performance",
        "GET",
        "/performance",
        "performance",
        summary="Latency, tokens and cost, per conversation, per model and over time",
        tags=("insights",),
    ),
    Route(
        "conversations/outcomes",
        "GET",
        "/conversations/outcomes",
        "conversationOutcomes",
        summary="Durable resolutions, escalation reasons, outcomes and ratings per channel",
        tags=("conversations", "insights"),
    ),
    Route(
        "realtime",
        "GET",
        "/realtime",
        "realtime",
        params="realtime",
        summary="Activity in the last minutes",
        tags=("realtime",),
    ),
    Route(
        "realtime/active",
        "GET",
        "/realtime/active",
        "activeSessions",
        params="realtime",
        summary="Active sessions per bot",
        tags=("realtime",),
    ),
    Route(
        "reports/create",
        "POST",
        "/reports",
        "createReport",
        params="body",
        summary="Queue a report (generated in the background)",
        status_code=202,
        tags=("reports",),
    ),
    Route(
        "reports/list",
        "GET",
        "/reports",
        "reports",
        params="reports_list",
        summary="Your reports, newest first",
        tags=("reports",),
    ),
    Route(
        "reports/get",
        "GET",
        "/reports/{report_id}",
        "report",
        params="none",
        summary="One report",
        path_params=("report_id",),
        tags=("reports",),
    ),
    Route(
        "reports/delete",
        "DELETE",
        "/reports/{report_id}",
        "deleteReport",
        params="none",
        summary="Delete a report and its file",
        status_code=204,
        path_params=("report_id",),
        tags=("reports",),
    ),
)
