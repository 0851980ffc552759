"""Report rows and files: create, find (within the caller's scope), list, delete, download, and the
report object of API.md section 7.

Visibility (API.md 8, "Auth"): a report covers its `bot_id`, or else its creator's scope (`bot_scope`
NULL: every bot). A caller sees a report only if it may see every bot the report covers; any other
report is answered 404, as if it did not exist.

Roles are checked at the edge (graphql_schema/permissions.py) before any function here is called;
the `Principal` these functions take decides bot scope only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.analytics.answers import Question, rest_dict
from app.analytics.ranges import RangeParams, resolve_range
from app.analytics.scope import Scope
from app.analytics.zones import format_datetime, parse_timezone
from app.auth import Principal
from app.db import Readers
from app.errors import Conflict, InvalidBody, InvalidParameter, NotFound
from app.models import Report
from app.reports.catalog import DOWNLOAD_PATH, MEDIA_TYPES, ROUTES_BY_TYPE, route_range
from app.vocabulary import (
    REPORT_LIMIT,
    REPORT_OFFSET,
    ReportFormat,
    ReportStatus,
    ReportType,
    member,
    normalise_uuid,
)

__all__ = [
    "PARAMETER_KEYS",
    "DataSpec",
    "ReportData",
    "ReportRequest",
    "create_report",
    "data_spec",
    "delete_report",
    "download_name",
    "get_report",
    "list_reports",
    "read_report_data",
    "report_file",
    "report_object",
    "visible_to",
]

MAX_TITLE = 200
REPORT_ID_LENGTH = 36
PARAMETER_KEYS = ("start_date", "end_date", "days", "period", "group_by", "bot_id", "timezone")
_TYPE_TITLES = {
    ReportType.USAGE: "Usage report",
    ReportType.CONVERSATIONS: "Conversations report",
    ReportType.ENGAGEMENT: "Engagement report",
    ReportType.SATISFACTION: "Satisfaction report",
    ReportType.RETENTION: "Retention report",
    ReportType.INSIGHTS: "Insights report",
    ReportType.FULL: "Full analytics report",
}


@dataclass(frozen=True)
class ReportRequest:
    """What a client asks for (`POST /reports` body, GraphQL `ReportInput`), enums as lowercase strings."""

    type: str
    format: str = ReportFormat.PDF.value
    start_date: str | None = None
    end_date: str | None = None
    days: int | None = None
    period: str | None = None
    group_by: str | None = None
    bot_id: str | None = None
    timezone: str | None = None
    title: str | None = None


def _body_error(exc: InvalidParameter) -> InvalidBody:
    return InvalidBody(exc.message, [{"field": exc.field}])


def frozen_params(parameters: dict[str, Any]) -> RangeParams:
    """The report's range as absolute bounds, with its `group_by` and zone: what every section runs on."""
    r = parameters["range"]
    return RangeParams(
        start_date=r["start"],
        end_date=r["end"],
        group_by=parameters.get("group_by"),
        timezone=parameters.get("timezone"),
    )


async def create_report(principal: Principal, req: ReportRequest, now: datetime) -> Report:
    """Validate a request, resolve and freeze its range, and store it as a `pending` report.

    A bad type, format, range, bucket count or title is a 400 `invalid_body` naming the field; a
    `bot_id` outside the caller's scope is a 403. The caller has checked the role (`CanReport`);
    `principal` is used for bot scope only.
    """
    try:
        report_type = member(ReportType, req.type, "type")
        report_format = member(ReportFormat, req.format, "format")
        if req.title is not None and len(req.title) > MAX_TITLE:
            raise InvalidBody(f"title must be at most {MAX_TITLE} characters", [{"field": "title"}])
        if req.title is not None and "\x00" in req.title:
            # PostgreSQL cannot store NUL in text; refused on every database alike.
            raise InvalidBody("title must not contain NUL characters", [{"field": "title"}])
        bot = normalise_uuid(req.bot_id, "bot_id") if req.bot_id is not None else None
    except InvalidParameter as exc:
        raise _body_error(exc) from None
    bots = principal.bots_for(bot)
    params = RangeParams(
        start_date=req.start_date,
        end_date=req.end_date,
        days=req.days,
        period=req.period,
        group_by=req.group_by,
        timezone=req.timezone,
    )
    try:
        resolved = resolve_range(params, now)
        parameters: dict[str, Any] = {
            "start_date": req.start_date,
            "end_date": req.end_date,
            "days": req.days,
            "period": req.period,
            "group_by": req.group_by,
            "bot_id": bot,
            "timezone": resolved.tz_name,
            "range": resolved.echo(),
        }
        # Every section must be computable on the frozen range (bucket limits differ by route).
        for metric in ROUTES_BY_TYPE[report_type]:
            route_range(metric, frozen_params(parameters), now)
    except InvalidParameter as exc:
        raise _body_error(exc) from None
    return await Report.create(
        id=str(uuid.uuid4()),
        status=ReportStatus.PENDING.value,
        type=report_type.value,
        format=report_format.value,
        title=req.title if req.title else _TYPE_TITLES[report_type],
        parameters=parameters,
        bot_scope=sorted(bots) if bots is not None else None,
        created_at=now,
    )


def visible_to(principal: Principal, row: Report | list[str] | None) -> bool:
    """May `principal` see a report covering these bots (a row, its `bot_scope`, None = every bot)?"""
    covered = row.bot_scope if isinstance(row, Report) else row
    if principal.bot_scope is None:
        return True
    if covered is None:
        return False
    return set(covered) <= principal.bot_scope


async def get_report(principal: Principal, report_id: str) -> Report:
    """The report, or 404 when it does not exist or covers a bot the caller may not see.

    The caller has checked the role; `principal` is used for bot scope only.
    """
    # Ids are UUIDs (36 characters): a longer id, or one with NUL, cannot exist and is not looked up.
    exists = len(report_id) <= REPORT_ID_LENGTH and "\x00" not in report_id
    row = await Report.get_or_none(id=report_id) if exists else None
    if row is None or not visible_to(principal, row):
        raise NotFound(f"no report {report_id if exists else report_id[:REPORT_ID_LENGTH] + '...'}")
    return row


async def list_reports(
    principal: Principal,
    limit: int = 20,
    offset: int = 0,
    status: str | None = None,
    type: str | None = None,
) -> tuple[list[Report], int]:
    """One page of the caller's visible reports, newest first, and how many there are in all.

    The caller has checked the role; `principal` is used for bot scope only.
    """
    limit = REPORT_LIMIT.check(limit)
    offset = REPORT_OFFSET.check(offset)
    qs = Report.all()
    if status is not None:
        qs = qs.filter(status=status)
    if type is not None:
        qs = qs.filter(type=type)
    order = ("-created_at", "-id")
    if principal.bot_scope is None:
        total = await qs.count()
        rows = await qs.order_by(*order).offset(offset).limit(limit)
        return list(rows), total
    # A JSON subset test per row is not portable SQL; report lists are small, so filter here.
    pairs = await qs.order_by(*order).values_list("id", "bot_scope")
    ids = [str(rid) for rid, scope in pairs if visible_to(principal, scope)]
    page = ids[offset : offset + limit]
    rows = await Report.filter(id__in=page).order_by(*order) if page else []
    return list(rows), len(ids)


async def delete_report(principal: Principal, report_id: str, reports_dir: Path) -> None:
    """Delete the row and its file (a report still rendering drops its file when it finishes).

    The caller has checked the role; `principal` is used for bot scope only.
    """
    row = await get_report(principal, report_id)
    await Report.filter(id=row.id).delete()
    if row.file_path:
        (reports_dir / row.file_path).unlink(missing_ok=True)


async def report_file(principal: Principal, report_id: str, reports_dir: Path) -> tuple[Path, str, str]:
    """Path, media type and download file name of a completed report; 409 `report_not_ready` before.

    The caller has checked the role; `principal` is used for bot scope only.
    """
    row = await get_report(principal, report_id)
    if row.status != ReportStatus.COMPLETED or not row.file_path:
        raise Conflict(f"report {report_id} is {row.status}, not completed")
    path = reports_dir / row.file_path
    if not path.is_file():
        raise NotFound(f"the file of report {report_id} is missing")
    return path, MEDIA_TYPES[row.format], download_name(row)


def download_name(row: Report) -> str:
    """`full-report-2025-01-01-to-2025-01-31.pdf`: type, first and last local day of the range."""
    r = row.parameters["range"]
    first = datetime.fromisoformat(r["start"]).date()
    last = (datetime.fromisoformat(r["end"]) - timedelta(microseconds=1)).date()
    return f"{row.type}-report-{first.isoformat()}-to-{last.isoformat()}.{row.format}"


def report_object(row: Report, **override: Any) -> dict[str, Any]:
    """The report as REST answers it (API.md 7); `override` replaces fields (the JSON file uses it).

    Times are RFC 3339 in the report's zone. `download_url` is a path on this service.
    """
    tz, tz_name = parse_timezone(row.parameters.get("timezone") or None)

    def when(value: datetime | None) -> str | None:
        return format_datetime(value, tz, tz_name) if value is not None else None

    params = {key: row.parameters.get(key) for key in PARAMETER_KEYS}
    params["range"] = row.parameters["range"]
    out: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "type": row.type,
        "format": row.format,
        "title": row.title,
        "parameters": params,
        "created_at": when(row.created_at),
        "completed_at": when(row.completed_at),
        "size_bytes": row.size_bytes,
        "error": row.error,
        "download_url": DOWNLOAD_PATH.format(id=row.id),
    }
    for key, value in override.items():
        out[key] = when(value) if isinstance(value, datetime) else value
    return out


@dataclass(frozen=True)
class DataSpec:
    """What `read_report_data` needs from a report row, as plain data (it crosses into a worker
    process)."""

    type: str
    parameters: dict[str, Any]
    bot_scope: list[str] | None
    created_at: datetime
    session_timeout_us: int


ReportData = dict[str, dict[str, Any]]
"""Each section's REST answer, by route name."""


def data_spec(row: Report, session_timeout_us: int) -> DataSpec:
    """The `DataSpec` of a report row, read with the service's session timeout."""
    return DataSpec(
        type=row.type,
        parameters=row.parameters,
        bot_scope=row.bot_scope,
        created_at=row.created_at,
        session_timeout_us=session_timeout_us,
    )


async def read_report_data(spec: DataSpec, db: Readers) -> ReportData:
    """Each section's REST answer for the report's frozen range, from the metric catalog, on the
    connections `db`.

    `now` (which decides whether a quiet conversation counts as abandoned) is the report's creation
    time, so a report regenerated after a restart shows what was asked for.
    """
    params = frozen_params(spec.parameters)
    scope = Scope(bots=None if spec.bot_scope is None else frozenset(spec.bot_scope))
    now = spec.created_at
    out: ReportData = {}
    for metric in ROUTES_BY_TYPE[spec.type]:
        question = Question(route_range(metric, params, now), scope, now, spec.session_timeout_us)
        out[metric.name] = rest_dict(await metric.run(db, question))
    return out
