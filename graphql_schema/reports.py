"""Reports (API.md section 7): createReport, report, reports, deleteReport."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.models import Report as ReportRow
from app.reports import store
from app.reports.jobs import wake_runners
from graphql_schema.context import Context
from graphql_schema.enums import GroupBy, Period, ReportFormat, ReportStatus, ReportType
from graphql_schema.filters import RangeEcho
from graphql_schema.permissions import CanReport

__all__ = ["ReportsMutation", "ReportsQuery"]


@strawberry.input(description="A report request: its type and format, and the range parameters of API.md 3.")
class ReportInput:
    type: ReportType
    format: ReportFormat = ReportFormat.PDF
    start_date: str | None = None
    end_date: str | None = None
    days: int | None = None
    period: Period | None = None
    group_by: GroupBy | None = None
    bot_id: str | None = None
    timezone: str | None = None
    title: str | None = None


@strawberry.type(description="The parameters a report was asked with, and its resolved range.")
class ReportParameters:
    start_date: str | None
    end_date: str | None
    days: int | None
    period: Period | None
    group_by: GroupBy | None
    bot_id: str | None
    timezone: str | None
    range: RangeEcho


@strawberry.type
class Report:
    id: str
    status: ReportStatus
    type: ReportType
    format: ReportFormat
    title: str
    parameters: ReportParameters
    created_at: str
    completed_at: str | None
    size_bytes: int | None
    error: str | None
    download_url: str = strawberry.field(description="Where the file is served (409 until completed).")


@strawberry.type
class ReportList:
    data: list[Report]
    total: int
    limit: int
    offset: int


def _report(row: ReportRow) -> Report:
    obj = store.report_object(row)
    p = obj["parameters"]
    return Report(
        id=obj["id"],
        status=ReportStatus(obj["status"]),
        type=ReportType(obj["type"]),
        format=ReportFormat(obj["format"]),
        title=obj["title"],
        parameters=ReportParameters(
            start_date=p["start_date"],
            end_date=p["end_date"],
            days=p["days"],
            period=Period(p["period"]) if p["period"] else None,
            group_by=GroupBy(p["group_by"]) if p["group_by"] else None,
            bot_id=p["bot_id"],
            timezone=p["timezone"],
            range=RangeEcho(**p["range"]),
        ),
        created_at=obj["created_at"],
        completed_at=obj["completed_at"],
        size_bytes=obj["size_bytes"],
        error=obj["error"],
        download_url=obj["download_url"],
    )


def _request(i: ReportInput) -> store.ReportRequest:
    return store.ReportRequest(
        type=i.type.value,
        format=i.format.value,
        start_date=i.start_date,
        end_date=i.end_date,
        days=i.days,
        period=i.period.value if i.period else None,
        group_by=i.group_by.value if i.group_by else None,
        bot_id=i.bot_id,
        timezone=i.timezone,
        title=i.title,
    )


@strawberry.type
class ReportsQuery:
    @strawberry.field(
        permission_classes=[CanReport], description="One report (NOT_FOUND outside your scope)."
    )
    async def report(self, info: Info[Context, Any], id: str) -> Report:
        return _report(await store.get_report(info.context.require_principal(), id))

    @strawberry.field(permission_classes=[CanReport], description="Your reports, newest first.")
    async def reports(
        self,
        info: Info[Context, Any],
        limit: int = 20,
        offset: int = 0,
        status: ReportStatus | None = None,
        type: ReportType | None = None,
    ) -> ReportList:
        rows, total = await store.list_reports(
            info.context.require_principal(),
            limit=limit,
            offset=offset,
            status=status.value if status else None,
            type=type.value if type else None,
        )
        return ReportList(data=[_report(r) for r in rows], total=total, limit=limit, offset=offset)


@strawberry.type
class ReportsMutation:
    @strawberry.mutation(
        permission_classes=[CanReport], description="Queue a report; it is generated in the background."
    )
    async def create_report(self, info: Info[Context, Any], input: ReportInput) -> Report:
        ctx = info.context
        row = await store.create_report(ctx.require_principal(), _request(input), ctx.now)
        wake_runners()
        return _report(row)

    @strawberry.mutation(permission_classes=[CanReport], description="Delete a report and its file.")
    async def delete_report(self, info: Info[Context, Any], id: str) -> bool:
        ctx = info.context
        await store.delete_report(ctx.require_principal(), id, ctx.settings.reports_dir)
        return True
