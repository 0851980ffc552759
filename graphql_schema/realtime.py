"""realtime, activeSessions and the realtime subscription."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.types import Info

from app.analytics import catalog
from app.analytics.answers import LiveQuestion
from app.analytics.answers.realtime import ActiveSessions, BotSessions, Realtime
from app.analytics.catalog import LiveMetric
from app.analytics.ranges import resolve_range
from app.analytics.zones import parse_timezone
from app.errors import InvalidParameter
from app.limits import MAX_INTERVAL_SECONDS
from app.vocabulary import WINDOW_MINUTES, normalise_uuid
from graphql_schema.context import Context
from graphql_schema.filters import AnalyticsFilter, range_params, scope_for
from graphql_schema.permissions import CanRead

__all__ = ["RealtimeQuery", "RealtimeSubscription"]

A = TypeVar("A")


for _answer in (Realtime, BotSessions, ActiveSessions):
    strawberry.type(_answer, name=_answer.__name__)


_FILTER_ARG = strawberry.argument(
    description=(
        "Accepted so one filter can serve a whole dashboard: validated like on any analytics field "
        "(an invalid value is an error), then ignored, except botId and timezone, which apply when "
        "the arguments of the same name are not given."
    )
)


async def realtime_answer(
    ctx: Context,
    metric: LiveMetric[A],
    window_minutes: int | None,
    bot_id: str | None,
    timezone: str | None,
    f: AnalyticsFilter | None = None,
) -> A:
    """Check the caller and the parameters, then answer a realtime metric (`REALTIME` or
    `ACTIVE_SESSIONS`) on the API's connections with the configured session timeout.

    A `filter` is checked as on a range field (API.md 8: an invalid value is a 400 on every route,
    also where a valid one would be ignored); then only its `botId` and `timezone` are used, and
    only where the arguments of the same name are absent.
    """
    principal = ctx.require_principal()
    window = WINDOW_MINUTES.check(window_minutes)
    if f is not None:
        params = range_params(f)
        if params.timezone is None and timezone is not None:
            # The range is read in the zone of the answer (REST passes `timezone` only as the
            # argument): a date valid there, e.g. today east of UTC, is not an error.
            params = dataclasses.replace(params, timezone=timezone)
        resolve_range(params, ctx.now)
        scope_for(principal, None, f.user_id)
        if bot_id is None:
            bot_id = f.bot_id
        elif f.bot_id is not None:
            normalise_uuid(f.bot_id, "bot_id")
        if timezone is None:
            timezone = f.timezone
    tz, tz_name = parse_timezone(timezone)
    question = LiveQuestion(
        scope_for(principal, bot_id), ctx.now, window, tz, tz_name, ctx.settings.session_timeout_us
    )
    return await metric.answer(ctx.readers, question)


@strawberry.type
class RealtimeQuery:
    @strawberry.field(permission_classes=[CanRead])
    async def realtime(
        self,
        info: Info[Context, Any],
        window_minutes: int | None = None,
        bot_id: str | None = None,
        timezone: str | None = None,
        filter: Annotated[AnalyticsFilter | None, _FILTER_ARG] = None,
    ) -> Realtime:
        return await realtime_answer(info.context, catalog.REALTIME, window_minutes, bot_id, timezone, filter)

    @strawberry.field(permission_classes=[CanRead])
    async def active_sessions(
        self,
        info: Info[Context, Any],
        window_minutes: int | None = None,
        bot_id: str | None = None,
        timezone: str | None = None,
        filter: Annotated[AnalyticsFilter | None, _FILTER_ARG] = None,
    ) -> ActiveSessions:
        return await realtime_answer(
            info.context, catalog.ACTIVE_SESSIONS, window_minutes, bot_id, timezone, filter
        )


@strawberry.type
class RealtimeSubscription:
    @strawberry.subscription(permission_classes=[CanRead])
    async def realtime(
        self,
        info: Info[Context, Any],
        interval_seconds: int = 5,
        window_minutes: int | None = None,
        bot_id: str | None = None,
        timezone: str | None = None,
        filter: Annotated[AnalyticsFilter | None, _FILTER_ARG] = None,
    ) -> AsyncGenerator[Realtime, None]:
        if not 1 <= interval_seconds <= MAX_INTERVAL_SECONDS:
            message = f"intervalSeconds must be from 1 to {MAX_INTERVAL_SECONDS}"
            raise InvalidParameter("interval_seconds", message)
        ctx = info.context
        while True:
            ctx.now = datetime.now(UTC)
            yield await realtime_answer(ctx, catalog.REALTIME, window_minutes, bot_id, timezone, filter)
            await asyncio.sleep(interval_seconds)
