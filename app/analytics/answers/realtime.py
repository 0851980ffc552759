"""Realtime answers: `/realtime` and `/realtime/active`, over the window `(now - w, now]`."""

from __future__ import annotations

from dataclasses import dataclass

from app.analytics.answers import US, LiveQuestion
from app.analytics.buckets import to_us
from app.analytics.counters.messages import count_messages
from app.analytics.scope import resolve_filter
from app.analytics.sqlparts import Filter, as_int, fetch_rows
from app.analytics.zones import format_datetime
from app.db import Readers

__all__ = ["ActiveSessions", "BotSessions", "Realtime", "active_sessions", "realtime"]


@dataclass(frozen=True)
class Realtime:
    as_of: str
    window_minutes: int
    active_sessions: int
    active_users: int
    messages_per_minute: float
    conversations_started: int


@dataclass(frozen=True)
class BotSessions:
    bot_id: str
    active_sessions: int


@dataclass(frozen=True)
class ActiveSessions:
    as_of: str
    window_minutes: int
    active_sessions: int
    by_bot: tuple[BotSessions, ...]


def _window(q: LiveQuestion) -> tuple[int, int]:
    """The window `(now - w, now]` as half-open µs bounds `[lo, hi)`."""
    now_us = to_us(q.now)
    return now_us - q.window_minutes * 60 * US + 1, now_us + 1


def _active_session_where(f: Filter, q: LiveQuestion) -> str:
    lo, hi = _window(q)
    return (
        f"c.last_activity_us >= {lo} AND c.last_activity_us < {hi} AND c.end_us IS NULL "
        f"AND {to_us(q.now)} - c.last_activity_us <= {int(q.session_timeout_us)} AND {f.where('c')}"
    )


async def realtime(db: Readers, q: LiveQuestion) -> Realtime:
    """`GET /realtime`: sessions, users, message rate and starts in the window `(now - w, now]`."""
    conn = db.main
    f = await resolve_filter(conn, q.scope)
    lo, hi = _window(q)
    sessions = users = started = 0
    if not f.empty:
        (row,) = await fetch_rows(
            conn,
            "SELECT COUNT(*) AS n, COUNT(DISTINCT c.user_id) AS u FROM conversations c "
            f"WHERE {_active_session_where(f, q)}",
        )
        sessions, users = as_int(row["n"]), as_int(row["u"])
        (row,) = await fetch_rows(
            conn,
            "SELECT COUNT(*) AS n FROM conversations c "
            f"WHERE c.started_us >= {lo} AND c.started_us < {hi} AND {f.where('c')}",
        )
        started = as_int(row["n"])
    (m,) = await count_messages(conn, [(lo, hi)], f)
    return Realtime(
        as_of=format_datetime(q.now, q.tz, q.tz_name),
        window_minutes=q.window_minutes,
        active_sessions=sessions,
        active_users=users,
        messages_per_minute=m.messages / q.window_minutes,
        conversations_started=started,
    )


async def active_sessions(db: Readers, q: LiveQuestion) -> ActiveSessions:
    """`GET /realtime/active`: active sessions in the window, in total and per bot."""
    conn = db.main
    f = await resolve_filter(conn, q.scope)
    by_bot: list[tuple[str, int]] = []
    if not f.empty:
        found = await fetch_rows(
            conn,
            "SELECT bo.uuid AS bot, COUNT(*) AS n FROM conversations c JOIN bots bo ON bo.id = c.bot_id "
            f"WHERE {_active_session_where(f, q)} GROUP BY bo.uuid",
        )
        by_bot = sorted(
            ((str(r["bot"]), as_int(r["n"])) for r in found if as_int(r["n"])), key=lambda p: (-p[1], p[0])
        )
    return ActiveSessions(
        as_of=format_datetime(q.now, q.tz, q.tz_name),
        window_minutes=q.window_minutes,
        active_sessions=sum(n for _, n in by_bot),
        by_bot=tuple(BotSessions(bot_id=bot, active_sessions=n) for bot, n in by_bot),
    )
