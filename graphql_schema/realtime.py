"""realtime, activeSessions and the realtime subscription."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.types import Info

from app.analytics import queries
from app.analytics.ranges import parse_timezone, resolve_range
from app.errors import InvalidParameter
from app.vocabulary import WINDOW_MINUTES, normalise_uuid
from graphql_schema.context import Context
from graphql_schema.filters import AnalyticsFilter, range_params, scope_for, to_object
from graphql_schema.permissions import CanRead

__all__ = ["RealtimeQuery", "RealtimeSubscription"]


@strawberry.type
class Realtime:
    as_of: str
    window_minutes: int
    active_sessions: int
    active_users: int
    messages_per_minute: float
    conversations_started: int


@strawberry.type
class BotSessions:
    bot_id: str
    active_sessions: int


@strawberry.type
class ActiveSessions:
    as_of: str
    window_minutes: int
    active_sessions: int
    by_bot: list[BotSessions]


_FILTER_ARG = strawberry.argument(
    description=(
        "Accepted so one filter can serve a whole dashboard: validated like on any analytics field "
        "(an invalid value is an error), then ignored, except botId and timezone, which apply when "
        "the arguments of the same name are not given."
    )
)


async def realtime_answer(
    ctx: Context,
    window_minutes: int | None,
    bot_id: str | None,
    timezone: str | None,
    f: AnalyticsFilter | None = None,
    query: Callable[..., Awaitable[dict[str, Any]]] = queries.realtime,
) -> dict[str, Any]:
    """Check the caller and the parameters, then run a realtime query (`realtime` or `active_sessions`).

    A `filter` is checked as on a range field (API.md 8: an invalid value is a 400 on every route,
    also where a valid one would be ignored); then only its `botId` and `timezone` are used, and
    only where the arguments of the same name are absent.
    """
    principal = ctx.require_principal()
    window = WINDOW_MINUTES.check(window_minutes)
    if f is not None:
        resolve_range(range_params(f), ctx.now)
        scope_for(principal, None, f.user_id)
        if bot_id is None:
            bot_id = f.bot_id
        elif f.bot_id is not None:
            normalise_uuid(f.bot_id, "bot_id")
        if timezone is None:
            timezone = f.timezone
    tz, tz_name = parse_timezone(timezone)
    return await query(scope_for(principal, bot_id), ctx.now, window, tz, tz_name)


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
        data = await realtime_answer(info.context, window_minutes, bot_id, timezone, filter)
        return cast(Realtime, to_object(data))

    @strawberry.field(permission_classes=[CanRead])
    async def active_sessions(
        self,
        info: Info[Context, Any],
        window_minutes: int | None = None,
        bot_id: str | None = None,
        timezone: str | None = None,
        filter: Annotated[AnalyticsFilter | None, _FILTER_ARG] = None,
    ) -> ActiveSessions:
        data = await realtime_answer(
            info.context, window_minutes, bot_id, timezone, filter, queries.active_sessions
        )
        return cast(ActiveSessions, to_object(data))


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
        if not 1 <= interval_seconds <= 3600:
            raise InvalidParameter("interval_seconds", "intervalSeconds must be from 1 to 3600")
        ctx = info.context
        while True:
            ctx.now = datetime.now(UTC)
            data = await realtime_answer(ctx, window_minutes, bot_id, timezone, filter)
            yield cast(Realtime, to_object(data))
            await asyncio.sleep(interval_seconds)
