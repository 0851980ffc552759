"""realtime, activeSessions and the realtime subscription."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import strawberry
from strawberry.types import Info

from app.analytics import queries
from app.analytics.ranges import parse_timezone
from app.errors import InvalidParameter
from graphql_schema.context import Context
from graphql_schema.filters import scope_for, to_object
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


def _window(value: int | None) -> int:
    if value is None:
        return 5
    if not 1 <= value <= 60:
        raise InvalidParameter("window_minutes", "window_minutes must be an integer from 1 to 60")
    return value


async def realtime_answer(
    ctx: Context,
    window_minutes: int | None,
    bot_id: str | None,
    timezone: str | None,
    query: Callable[..., Awaitable[dict[str, Any]]] = queries.realtime,
) -> dict[str, Any]:
    """Check the caller and the parameters, then run a realtime query (`realtime` or `active_sessions`)."""
    principal = ctx.require_principal()
    principal.require_read()
    tz, tz_name = parse_timezone(timezone)
    window = _window(window_minutes)
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
    ) -> Realtime:
        return cast(
            Realtime, to_object(await realtime_answer(info.context, window_minutes, bot_id, timezone))
        )

    @strawberry.field(permission_classes=[CanRead])
    async def active_sessions(
        self,
        info: Info[Context, Any],
        window_minutes: int | None = None,
        bot_id: str | None = None,
        timezone: str | None = None,
    ) -> ActiveSessions:
        data = await realtime_answer(info.context, window_minutes, bot_id, timezone, queries.active_sessions)
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
    ) -> AsyncGenerator[Realtime, None]:
        if not 1 <= interval_seconds <= 3600:
            raise InvalidParameter("interval_seconds", "intervalSeconds must be from 1 to 3600")
        ctx = info.context
        while True:
            ctx.now = datetime.now(UTC)
            data = await realtime_answer(ctx, window_minutes, bot_id, timezone)
            yield cast(Realtime, to_object(data))
            await asyncio.sleep(interval_seconds)
