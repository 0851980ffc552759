"""Usage answers: `/usage` (totals), `/usage/daily` and `/usage/monthly` (series)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.analytics.answers import US, Question, RangeEcho, range_echo, ratio
from app.analytics.buckets import Bucket, series_buckets, to_us
from app.analytics.counters.conversations import Convs, count_conversations
from app.analytics.counters.messages import Messages, count_messages
from app.analytics.counters.users import active_users, new_users
from app.analytics.scope import resolve_filter
from app.analytics.sqlparts import Bounds, Filter, bounds_of
from app.db import Readers

__all__ = [
    "DailyUsage",
    "DailyUsagePoint",
    "MonthlyUsage",
    "MonthlyUsagePoint",
    "UsageStats",
    "usage",
    "usage_daily",
    "usage_monthly",
]


@dataclass(frozen=True)
class UsageStats:
    range: RangeEcho
    total_conversations: int
    total_messages: int
    user_messages: int
    bot_messages: int
    active_users: int
    new_users: int
    avg_messages_per_conversation: float | None
    avg_conversation_duration_seconds: float | None


@dataclass(frozen=True)
class DailyUsagePoint:
    date: str
    conversations: int
    messages: int
    active_users: int
    new_users: int


@dataclass(frozen=True)
class MonthlyUsagePoint:
    month: str
    conversations: int
    messages: int
    active_users: int
    new_users: int


@dataclass(frozen=True)
class DailyUsage:
    range: RangeEcho
    data: tuple[DailyUsagePoint, ...]


@dataclass(frozen=True)
class MonthlyUsage:
    range: RangeEcho
    data: tuple[MonthlyUsagePoint, ...]


async def count_usage(
    db: Readers, q: Question, f: Filter, bounds: Bounds
) -> tuple[list[Convs], list[Messages], list[int], list[int]]:
    """Conversations, messages, active and new users per bucket; the distinct users (the costliest
    part) on the side connection, beside the rest."""
    convs, msgs, active, new = await asyncio.gather(
        count_conversations(db.main, bounds, f, to_us(q.now), q.session_timeout_us),
        count_messages(db.main, bounds, f),
        active_users(db.side, bounds, f),
        new_users(db.main, bounds, f),
    )
    return convs, msgs, active, new


async def usage(db: Readers, q: Question) -> UsageStats:
    """`GET /usage`: totals over the range."""
    r = q.range
    f = await resolve_filter(db.main, q.scope)
    (c,), (m,), (active,), (new,) = await count_usage(db, q, f, [(to_us(r.start), to_us(r.end))])
    return UsageStats(
        range=range_echo(r),
        total_conversations=c.total,
        total_messages=m.messages,
        user_messages=m.user,
        bot_messages=m.bot,
        active_users=active,
        new_users=new,
        avg_messages_per_conversation=ratio(c.messages, c.total),
        avg_conversation_duration_seconds=ratio(c.duration_us / US, c.closed),
    )


async def _series(db: Readers, q: Question, group_by: str) -> list[tuple[Bucket, int, int, int, int]]:
    """Per bucket: the bucket, conversations, messages, active users, new users."""
    f = await resolve_filter(db.main, q.scope)
    buckets = series_buckets(q.range, group_by)
    convs, msgs, active, new = await count_usage(db, q, f, bounds_of(buckets))
    return [(b, convs[i].total, msgs[i].messages, active[i], new[i]) for i, b in enumerate(buckets)]


async def usage_daily(db: Readers, q: Question) -> DailyUsage:
    """`GET /usage/daily`: one entry per local day of the range."""
    return DailyUsage(
        range=range_echo(q.range),
        data=tuple(
            DailyUsagePoint(b.start.date().isoformat(), *counts) for b, *counts in await _series(db, q, "day")
        ),
    )


async def usage_monthly(db: Readers, q: Question) -> MonthlyUsage:
    """`GET /usage/monthly`: one entry per local month of the range."""
    return MonthlyUsage(
        range=range_echo(q.range),
        data=tuple(
            MonthlyUsagePoint(f"{b.start.year:04d}-{b.start.month:02d}", *counts)
            for b, *counts in await _series(db, q, "month")
        ),
    )
