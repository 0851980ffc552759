"""The analytics numbers of API.md sections 5 and 6, aggregated in SQL on SQLite and PostgreSQL.

Each public function returns the REST answer of its route as a plain dict (snake_case keys).

Where the numbers come from:
- messages: `message_slots` for the whole 15-minute slots of a bucket, raw `events` for partial edges
  (under a user filter: raw `events` through the `(user_id, ts_us)` index, as slots have no user);
- active users: `user_slots` plus raw edges, `COUNT(DISTINCT user_id)` per bucket;
- new users: `end_users.first_active_us` for every bot, else the earliest `bot_users.first_active_us`
  over the covered bots;
- conversations, durations, statuses, channels, ratings: the folded `conversations` rows, with the
  status computed in SQL from `now` and the session timeout.

Conversations whose bot is still unknown (only a `conversation_ended` event arrived) belong to no
bot, so they count nowhere, also for an unscoped caller: "every bot" is the union of the bots.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.buckets import Bucket, from_us, range_bucket, series_buckets, split_slots, to_us
from app.analytics.ranges import (
    MAX_COHORTS,
    ResolvedRange,
    day_count,
    days_between,
    format_datetime,
)
from app.analytics.sqlparts import USER_ACTIVITY, Filter, values_cte
from app.config import get_settings
from app.db import connection, side_connection, sql
from app.models import CONV_SLOT_COLUMNS, SLOT_US
from app.vocabulary import ConversationStatus, GroupBy

__all__ = [
    "RANGE_OPTIONS",
    "ROUTES",
    "Scope",
    "active_sessions",
    "conversation_duration",
    "conversation_resolution",
    "conversation_volume",
    "conversations",
    "engagement",
    "realtime",
    "retention",
    "satisfaction",
    "usage",
    "usage_daily",
    "usage_monthly",
]

DURATION_EDGES_SECONDS: tuple[int, ...] = (0, 60, 300, 900, 1800, 3600)
_US = 1_000_000

Row = dict[str, Any]
Bounds = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class Scope:
    """What a query covers: `bots` (UUID strings; None = every bot, empty = nothing) and one end user."""

    bots: frozenset[str] | None
    user: str | None = None


# --------------------------------------------------------------------------- helpers


def _int(value: Any) -> int:
    """SUM over bigint is `numeric` (Decimal) on PostgreSQL; NULL (no rows) is 0."""
    return 0 if value is None else int(value)


def _ratio(num: float, den: float) -> float | None:
    return None if not den else num / den


async def _rows(conn: BaseDBAsyncClient, query: str) -> list[Row]:
    return list(await conn.execute_query_dict(sql(query, conn)))


async def _resolve_filter(conn: BaseDBAsyncClient, scope: Scope) -> Filter:
    """Translate bot and user UUIDs into row ids once; unknown ones match nothing."""
    bots: tuple[int, ...] | None = None
    if scope.bots is not None:
        wanted = sorted(scope.bots)
        if not wanted:
            return Filter(bots=(), user=None, empty=True)
        marks = ", ".join("?" * len(wanted))
        found = await conn.execute_query_dict(
            sql(f"SELECT id FROM bots WHERE uuid IN ({marks})", conn), wanted
        )
        bots = tuple(sorted(int(r["id"]) for r in found))
        if not bots:
            return Filter(bots=(), user=None, empty=True)
    user: int | None = None
    if scope.user is not None:
        found = await conn.execute_query_dict(
            sql("SELECT id FROM end_users WHERE uuid = ?", conn), [scope.user]
        )
        if not found:
            return Filter(bots=bots, user=None, empty=True)
        user = int(found[0]["id"])
    return Filter(bots=bots, user=user)


def _bounds(buckets: Sequence[Bucket]) -> list[tuple[int, int]]:
    return [(b.lo, b.hi) for b in buckets]


def _slot_and_raw(bounds: Bounds) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Per bucket index: its whole-slot range and its raw µs edges."""
    slots: list[tuple[int, int, int]] = []
    raw: list[tuple[int, int, int]] = []
    for idx, (lo, hi) in enumerate(bounds):
        split = split_slots(lo, hi)
        if split.slot_lo < split.slot_hi:
            slots.append((idx, split.slot_lo, split.slot_hi))
        raw.extend((idx, a, b) for a, b in split.raw)
    return slots, raw


def _pack(exprs: Sequence[str]) -> str:
    """Several aggregates as one text value `a,b,c` (NULL as empty), for a correlated scalar subquery."""
    return " || ',' || ".join(f"COALESCE(CAST({e} AS TEXT), '')" for e in exprs)


async def _per_bucket(
    conn: BaseDBAsyncClient, ctes: Sequence[str], exprs: Sequence[str], source: str, n: int
) -> list[list[int | None]]:
    """Aggregates `exprs` of `source` (a FROM ... WHERE correlated with the row `b`) for each row of `b`.

    A correlated scalar subquery per bucket runs one index range scan per bucket and needs no sort,
    where `b JOIN t ... GROUP BY b.idx` makes SQLite sort every joined row (3x slower at 100k rows).
    """
    out: list[list[int | None]] = [[None] * len(exprs) for _ in range(n)]
    rows = await _rows(
        conn, f"WITH {', '.join(ctes)} SELECT b.idx AS idx, (SELECT {_pack(exprs)} {source}) AS packed FROM b"
    )
    for row in rows:
        packed = row["packed"]
        if packed is not None:
            out[int(row["idx"])] = [int(x) if x else None for x in str(packed).split(",")]
    return out


def _edges_cte(bounds: Bounds, by_user: bool) -> tuple[str, bool, bool] | None:
    """`b(idx, lo, hi, slo, shi, alo, ahi, zlo, zhi)`: per bucket its whole slots `[slo, shi)` and raw
    edges `[alo, ahi)`, `[zlo, zhi)` (empty: 0, 0); then whether any bucket has slots, raw edges.

    Under a user filter everything is raw (the rollups have no user dimension for messages, and the
    `(user_id, ts_us)` index makes one user's events cheap). None when no bucket is non-empty.
    """
    rows: list[tuple[int, ...]] = []
    any_slots = any_raw = False
    for idx, (lo, hi) in enumerate(bounds):
        if lo >= hi:
            continue
        if by_user:
            slots, edges = (0, 0), [(lo, hi)]
        else:
            split = split_slots(lo, hi)
            slots, edges = (split.slot_lo, split.slot_hi), list(split.raw)
        edges += [(0, 0)] * (2 - len(edges))
        any_slots = any_slots or slots[0] < slots[1]
        any_raw = any_raw or any(a < z for a, z in edges)
        rows.append((idx, lo, hi, *slots, *edges[0], *edges[1]))
    if not rows:
        return None
    columns = ("idx", "lo", "hi", "slo", "shi", "alo", "ahi", "zlo", "zhi")
    return values_cte("b", columns, rows), any_slots, any_raw


# --------------------------------------------------------------------------- messages


@dataclass
class _Messages:
    messages: int = 0
    user: int = 0
    bot: int = 0
    fallback: int = 0


async def _messages(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[_Messages]:
    """Messages (all, user, bot, bot with fallback) whose timestamp falls in each `[lo, hi)`."""
    out = [_Messages() for _ in bounds]
    edges = None if f.empty else _edges_cte(bounds, f.user is not None)
    if edges is None:
        return out
    cte, any_slots, any_raw = edges
    results: list[list[int | None]] = []
    if any_slots:
        results += await _per_bucket(
            conn,
            [cte],
            ["SUM(m.messages)", "SUM(m.user_messages)", "SUM(m.bot_messages)", "SUM(m.fallback_messages)"],
            f"FROM message_slots m WHERE m.slot >= b.slo AND m.slot < b.shi AND {f.bot('m')}",
            len(bounds),
        )
    if any_raw:
        raw = (
            "SELECT e.role AS role, e.fallback AS fallback FROM events e WHERE e.ts_us >= b.{lo} "
            f"AND e.ts_us < b.{{hi}} AND e.type = 'message' AND {f.where('e')}"
        )
        results += await _per_bucket(
            conn,
            [cte],
            [
                "COUNT(*)",
                "SUM(CASE WHEN x.role = 'user' THEN 1 ELSE 0 END)",
                "SUM(CASE WHEN x.role = 'user' THEN 0 ELSE 1 END)",
                "SUM(CASE WHEN x.role <> 'user' AND x.fallback THEN 1 ELSE 0 END)",
            ],
            f"FROM ({raw.format(lo='alo', hi='ahi')} UNION ALL {raw.format(lo='zlo', hi='zhi')}) x",
            len(bounds),
        )
    for i, m in enumerate(out):
        for part in results[i :: len(bounds)]:
            m.messages += _int(part[0])
            m.user += _int(part[1])
            m.bot += _int(part[2])
            m.fallback += _int(part[3])
    return out


# --------------------------------------------------------------------------- users


def _active_pairs(bounds: Bounds, f: Filter) -> tuple[list[str], str] | None:
    """CTEs and a SELECT of `(idx, user_id)` rows, one per activity of a user in bucket `idx`.

    None when no bucket can hold activity. Rows repeat: count them with DISTINCT.
    """
    if f.empty:
        return None
    if f.user is not None:
        slots: list[tuple[int, int, int]] = []
        raw = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    else:
        slots, raw = _slot_and_raw(bounds)
    ctes: list[str] = []
    parts: list[str] = []
    if slots:
        ctes.append(values_cte("s", ("idx", "lo", "hi"), slots))
        parts.append(
            "SELECT s.idx AS idx, us.user_id AS user_id FROM s "
            f"JOIN user_slots us ON us.slot >= s.lo AND us.slot < s.hi WHERE {f.bot('us')}"
        )
    if raw:
        ctes.append(values_cte("r", ("idx", "lo", "hi"), raw))
        parts.append(
            "SELECT r.idx AS idx, e.user_id AS user_id FROM r "
            "JOIN events e ON e.ts_us >= r.lo AND e.ts_us < r.hi "
            f"WHERE {USER_ACTIVITY.format(e='e')} AND {f.where('e')}"
        )
    if not parts:
        return None
    return ctes, " UNION ALL ".join(parts)


def _aligned_slots(bounds: Bounds) -> list[tuple[int, int, int]] | None:
    """`(idx, slot_lo, slot_hi)` per non-empty bucket when every bound falls on a slot edge, else None."""
    out: list[tuple[int, int, int]] = []
    for idx, (lo, hi) in enumerate(bounds):
        if lo >= hi:
            continue
        split = split_slots(lo, hi)
        if split.raw:
            return None
        out.append((idx, split.slot_lo, split.slot_hi))
    return out


async def _active_users_by_chain(
    conn: BaseDBAsyncClient, slots: list[tuple[int, int, int]], f: Filter, n: int
) -> list[int]:
    """Distinct users per slot-aligned bucket from a `prev_slot` chain: each user's first row in the
    bucket is the one whose previous activity is before the bucket (or that has none)."""
    if f.bots is None:
        source = (
            "FROM user_slots_all a WHERE a.slot >= b.lo AND a.slot < b.hi "
            "AND (a.prev_slot IS NULL OR a.prev_slot < b.lo)"
        )
    else:
        source = (
            f"FROM user_slots a WHERE a.bot_id = {int(f.bots[0])} AND a.slot >= b.lo AND a.slot < b.hi "
            "AND (a.prev_slot IS NULL OR a.prev_slot < b.lo)"
        )
    counts = await _per_bucket(conn, [values_cte("b", ("idx", "lo", "hi"), slots)], ["COUNT(*)"], source, n)
    return [_int(c[0]) for c in counts]


async def _active_users(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[int]:
    """Distinct active users per `[lo, hi)`."""
    if not f.empty and f.user is None and (f.bots is None or len(f.bots) == 1):
        slots = _aligned_slots(bounds)
        if slots is not None:
            if not slots:
                return [0] * len(bounds)
            return await _active_users_by_chain(conn, slots, f, len(bounds))
    edges = None if f.empty else _edges_cte(bounds, f.user is not None)
    if edges is None:
        return [0] * len(bounds)
    cte, any_slots, any_raw = edges
    parts: list[str] = []
    if any_slots:
        parts.append(
            "SELECT us.user_id AS user_id FROM user_slots us "
            f"WHERE us.slot >= b.slo AND us.slot < b.shi AND {f.bot('us')}"
        )
    if any_raw:
        parts += [
            f"SELECT e.user_id AS user_id FROM events e WHERE e.ts_us >= b.{lo} AND e.ts_us < b.{hi} "
            f"AND {USER_ACTIVITY.format(e='e')} AND {f.where('e')}"
            for lo, hi in (("alo", "ahi"), ("zlo", "zhi"))
        ]
    source = f"FROM ({' UNION ALL '.join(parts)}) x"
    counts = await _per_bucket(conn, [cte], ["COUNT(DISTINCT x.user_id)"], source, len(bounds))
    return [_int(c[0]) for c in counts]


def _new_pairs(f: Filter) -> str:
    """A SELECT of `(idx, user_id)`: users whose first activity within the filter is in bucket `b.idx`.

    Needs a CTE `b(idx, lo, hi)` of µs bounds. Rows may repeat (first activity with two bots at the
    same instant): count them with DISTINCT.
    """
    if f.empty:
        return "SELECT b.idx AS idx, 0 AS user_id FROM b WHERE 1 = 0"
    if f.bots is None:
        return (
            "SELECT b.idx AS idx, u.id AS user_id FROM b JOIN end_users u "
            f"ON u.first_active_us >= b.lo AND u.first_active_us < b.hi WHERE 1 = 1{f.user_and('u', 'id')}"
        )
    select = (
        "SELECT b.idx AS idx, a.user_id AS user_id FROM b JOIN bot_users a "
        f"ON a.first_active_us >= b.lo AND a.first_active_us < b.hi WHERE {f.where('a')}"
    )
    if len(f.bots) > 1:
        # The first activity within the covered bots: no covered bot saw the user earlier.
        select += (
            " AND NOT EXISTS (SELECT 1 FROM bot_users o WHERE o.user_id = a.user_id "
            f"AND {f.bot('o')} AND o.first_active_us < a.first_active_us)"
        )
    return select


def _first_active_source(f: Filter) -> tuple[str, str]:
    """An aggregate and a FROM ... WHERE of the users whose first activity within the filter falls in
    the row `b` of a correlated subquery."""
    if f.bots is None:
        return "COUNT(*)", (
            "FROM end_users u WHERE u.first_active_us >= b.lo AND u.first_active_us < b.hi"
            + f.user_and("u", "id")
        )
    source = (
        f"FROM bot_users a WHERE a.first_active_us >= b.lo AND a.first_active_us < b.hi AND {f.where('a')}"
    )
    if len(f.bots) > 1:
        source += (
            " AND NOT EXISTS (SELECT 1 FROM bot_users o WHERE o.user_id = a.user_id "
            f"AND {f.bot('o')} AND o.first_active_us < a.first_active_us)"
        )
    return "COUNT(DISTINCT a.user_id)", source


async def _new_users(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[int]:
    """New users (first activity ever within the filter) per `[lo, hi)`."""
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    if f.empty or not live:
        return [0] * len(bounds)
    expr, source = _first_active_source(f)
    counts = await _per_bucket(
        conn, [values_cte("b", ("idx", "lo", "hi"), live)], [expr], source, len(bounds)
    )
    return [_int(c[0]) for c in counts]


# --------------------------------------------------------------------------- conversations


@dataclass
class _Convs:
    total: int = 0
    messages: int = 0
    active: int = 0
    resolved: int = 0
    escalated: int = 0
    abandoned: int = 0
    closed: int = 0
    duration_us: int = 0


def _status_sql(now_us: int, timeout_us: int) -> tuple[str, str]:
    """SQL for a conversation `c`'s status and, when closed, its duration in µs (else NULL)."""
    timed_out = f"({int(now_us)} - c.last_activity_us > {int(timeout_us)})"
    status = (
        "CASE WHEN c.end_us IS NOT NULL THEN c.resolution "
        f"WHEN {timed_out} THEN '{ConversationStatus.ABANDONED}' ELSE '{ConversationStatus.ACTIVE}' END"
    )
    duration = (
        "CASE WHEN c.end_us IS NOT NULL THEN "
        "(CASE WHEN c.end_us > c.started_us THEN c.end_us - c.started_us ELSE 0 END) "
        f"WHEN {timed_out} THEN "
        "(CASE WHEN c.last_activity_us > c.started_us THEN c.last_activity_us - c.started_us ELSE 0 END) "
        "END"
    )
    return status, duration


def _started_in(f: Filter, now_us: int) -> str:
    """A SELECT of the conversations started in bucket `b.idx` with `status` and `duration`."""
    status, duration = _status_sql(now_us, get_settings().session_timeout_us)
    return (
        f"SELECT b.idx AS idx, c.messages AS messages, {status} AS status, {duration} AS duration "
        "FROM b JOIN conversations c ON c.started_us >= b.lo AND c.started_us < b.hi "
        f"WHERE {f.where('c')}"
    )


async def _conversations(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter, now_us: int) -> list[_Convs]:
    """Per `[lo, hi)`: the conversations started in it, by status, with messages and durations."""
    out = [_Convs() for _ in bounds]
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    if f.empty or not live:
        return out
    if f.user is None:
        slots = _aligned_slots(bounds)
        if slots is not None:
            return await _conversations_from_rollup(conn, bounds, slots, f, now_us)
    status, duration = _status_sql(now_us, get_settings().session_timeout_us)
    exprs = [
        "COUNT(*)",
        "SUM(c.messages)",
        *(f"SUM(CASE WHEN {status} = '{s}' THEN 1 ELSE 0 END)" for s in ConversationStatus),
        f"COUNT({duration})",
        f"SUM({duration})",
    ]
    source = f"FROM conversations c WHERE c.started_us >= b.lo AND c.started_us < b.hi AND {f.where('c')}"
    rows = await _per_bucket(conn, [values_cte("b", ("idx", "lo", "hi"), live)], exprs, source, len(bounds))
    for c, row in zip(out, rows, strict=True):
        v = [_int(x) for x in row]
        c.total, c.messages, c.active, c.resolved, c.escalated, c.abandoned, c.closed, c.duration_us = v
    return out


async def _conversations_from_rollup(
    conn: BaseDBAsyncClient, bounds: Bounds, slots: list[tuple[int, int, int]], f: Filter, now_us: int
) -> list[_Convs]:
    """`_conversations` for slot-aligned buckets from `conv_slots`.

    The rollup knows which conversations have no end event, not which of those are still active:
    that depends on `now`. The still-active ones (last activity within the timeout) are few and come
    from the `last_activity_us` index; every other open conversation is abandoned, ended at its last
    activity.
    """
    out = [_Convs() for _ in bounds]
    exprs = [f"SUM(s.{col})" for col in CONV_SLOT_COLUMNS]
    source = f"FROM conv_slots s WHERE s.slot >= b.lo AND s.slot < b.hi AND {f.bot('s')}"
    rows = await _per_bucket(conn, [values_cte("b", ("idx", "lo", "hi"), slots)], exprs, source, len(bounds))
    recent = await _rows(
        conn,
        "SELECT c.started_us AS started_us, c.last_activity_us AS last_activity_us FROM conversations c "
        f"WHERE c.last_activity_us >= {int(now_us - get_settings().session_timeout_us)} "
        f"AND c.end_us IS NULL AND {f.bot('c')}",
    )
    live: dict[int, list[int]] = {}
    for conv in recent:
        started = int(conv["started_us"])
        for idx, (lo, hi) in enumerate(bounds):
            if lo <= started < hi:
                acc = live.setdefault(idx, [0, 0])
                acc[0] += 1
                acc[1] += max(int(conv["last_activity_us"]) - started, 0)
                break
    for idx, (c, row) in enumerate(zip(out, rows, strict=True)):
        total, messages, ended, resolved, escalated, abandoned, ended_us, open_, open_us = (
            _int(x) for x in row
        )
        active, active_us = live.get(idx, [0, 0])
        c.total, c.messages, c.active = total, messages, active
        c.resolved, c.escalated = resolved, escalated
        c.abandoned = abandoned + open_ - active
        c.closed = ended + open_ - active
        c.duration_us = ended_us + open_us - active_us
    return out


async def _channels(conn: BaseDBAsyncClient, b: Bucket, f: Filter) -> list[dict[str, Any]]:
    if f.empty or b.lo >= b.hi:
        return []
    rows = await _rows(
        conn,
        "SELECT c.channel AS channel, COUNT(*) AS n FROM conversations c "
        f"WHERE c.started_us >= {b.lo} AND c.started_us < {b.hi} AND {f.where('c')} GROUP BY c.channel",
    )
    pairs = [(str(r["channel"]), _int(r["n"])) for r in rows if _int(r["n"])]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return [{"channel": name, "conversations": n} for name, n in pairs]


def _conversation_totals(c: _Convs, m: _Messages, channels: list[dict[str, Any]]) -> dict[str, Any]:
    """The keys of `/conversations` (also the totals of `/conversations/resolution`)."""
    return {
        "total_conversations": c.total,
        "active": c.active,
        "resolved": c.resolved,
        "escalated": c.escalated,
        "abandoned": c.abandoned,
        "resolution_rate": _ratio(c.resolved, c.closed),
        "escalation_rate": _ratio(c.escalated, c.closed),
        "abandonment_rate": _ratio(c.abandoned, c.closed),
        "avg_duration_seconds": _ratio(c.duration_us / _US, c.closed),
        "avg_messages_per_conversation": _ratio(c.messages, c.total),
        "fallback_rate": _ratio(m.fallback, m.bot),
        "by_channel": channels,
    }


# --------------------------------------------------------------------------- usage


async def usage(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /usage`: totals over the range."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    whole = [(to_us(r.start), to_us(r.end))]
    (c,), (m,), (active,), (new,) = await asyncio.gather(
        _conversations(conn, whole, f, to_us(now)),
        _messages(conn, whole, f),
        _active_users(side_connection(), whole, f),
        _new_users(conn, whole, f),
    )
    return {
        "range": r.echo(),
        "total_conversations": c.total,
        "total_messages": m.messages,
        "user_messages": m.user,
        "bot_messages": m.bot,
        "active_users": active,
        "new_users": new,
        "avg_messages_per_conversation": _ratio(c.messages, c.total),
        "avg_conversation_duration_seconds": _ratio(c.duration_us / _US, c.closed),
    }


async def _usage_series(r: ResolvedRange, scope: Scope, now: datetime, group_by: str) -> list[dict[str, Any]]:
    conn = connection()
    f = await _resolve_filter(conn, scope)
    buckets = series_buckets(r, group_by)
    bounds = _bounds(buckets)
    convs, msgs, active, new = await asyncio.gather(
        _conversations(conn, bounds, f, to_us(now)),
        _messages(conn, bounds, f),
        _active_users(side_connection(), bounds, f),
        _new_users(conn, bounds, f),
    )
    return [
        {
            "start": b.start,
            "conversations": convs[i].total,
            "messages": msgs[i].messages,
            "active_users": active[i],
            "new_users": new[i],
        }
        for i, b in enumerate(buckets)
    ]


async def usage_daily(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /usage/daily`: one entry per local day of the range."""
    data = await _usage_series(r, scope, now, "day")
    out = []
    for row in data:
        start = row.pop("start")
        out.append({"date": start.date().isoformat(), **row})
    return {"range": r.echo(), "data": out}


async def usage_monthly(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /usage/monthly`: one entry per local month of the range."""
    data = await _usage_series(r, scope, now, "month")
    out = []
    for row in data:
        start = row.pop("start")
        out.append({"month": f"{start.year:04d}-{start.month:02d}", **row})
    return {"range": r.echo(), "data": out}


# --------------------------------------------------------------------------- conversations


async def conversations(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /conversations`: counts by status, rates, averages, fallback rate, channels."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    whole = range_bucket(r)
    (c,) = await _conversations(conn, [(whole.lo, whole.hi)], f, to_us(now))
    (m,) = await _messages(conn, [(whole.lo, whole.hi)], f)
    channels = await _channels(conn, whole, f)
    return {"range": r.echo(), **_conversation_totals(c, m, channels)}


async def conversation_volume(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /conversations/volume`: conversations started and messages per bucket."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    buckets = series_buckets(r)
    bounds = _bounds(buckets)
    convs = await _conversations(conn, bounds, f, to_us(now))
    msgs = await _messages(conn, bounds, f)
    return {
        "range": r.echo(),
        "group_by": r.group_by,
        "data": [
            {
                "bucket_start": format_datetime(b.start, r.tz, r.tz_name),
                "conversations": convs[i].total,
                "messages": msgs[i].messages,
            }
            for i, b in enumerate(buckets)
        ],
    }


def _percentile_offsets(n: int, p: float) -> tuple[int, float]:
    pos = p * (n - 1)
    k = math.floor(pos)
    return k, pos - k


async def conversation_duration(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /conversations/duration`: durations of the closed conversations started in the range."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    whole = range_bucket(r)
    edges_us = [e * _US for e in DURATION_EDGES_SECONDS]
    result: dict[str, Any] = {
        "range": r.echo(),
        "count": 0,
        "avg_seconds": None,
        "median_seconds": None,
        "p90_seconds": None,
        "min_seconds": None,
        "max_seconds": None,
    }
    bins = [0] * len(edges_us)
    if not f.empty and whole.lo < whole.hi:
        closed = f"SELECT t.duration AS d FROM ({_started_in(f, to_us(now))}) t WHERE t.duration IS NOT NULL"
        cte = f"WITH {values_cte('b', ('idx', 'lo', 'hi'), [(0, whole.lo, whole.hi)])} "
        bin_sql = ", ".join(
            f"SUM(CASE WHEN x.d >= {lo}{f' AND x.d < {hi}' if hi is not None else ''} THEN 1 ELSE 0 END)"
            f" AS bin{i}"
            for i, (lo, hi) in enumerate(zip(edges_us, [*edges_us[1:], None], strict=True))
        )
        (row,) = await _rows(
            conn,
            cte + f"SELECT COUNT(*) AS n, SUM(x.d) AS total, MIN(x.d) AS lo, MAX(x.d) AS hi, {bin_sql} "
            f"FROM ({closed}) x",
        )
        n = _int(row["n"])
        if n:
            bins = [_int(row[f"bin{i}"]) for i in range(len(edges_us))]
            result["count"] = n
            result["avg_seconds"] = _int(row["total"]) / _US / n
            result["min_seconds"] = _int(row["lo"]) / _US
            result["max_seconds"] = _int(row["hi"]) / _US
            for key, p in (("median_seconds", 0.5), ("p90_seconds", 0.9)):
                k, frac = _percentile_offsets(n, p)
                picked = await _rows(
                    conn, cte + f"SELECT x.d AS d FROM ({closed}) x ORDER BY x.d LIMIT 2 OFFSET {k}"
                )
                a = _int(picked[0]["d"])
                b = _int(picked[1]["d"]) if len(picked) > 1 else a
                result[key] = (a + (b - a) * frac) / _US
    result["distribution"] = [
        {"min_seconds": float(lo), "max_seconds": float(hi) if hi is not None else None, "count": bins[i]}
        for i, (lo, hi) in enumerate(
            zip(DURATION_EDGES_SECONDS, [*DURATION_EDGES_SECONDS[1:], None], strict=True)
        )
    ]
    return result


async def conversation_resolution(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /conversations/resolution`: the `/conversations` keys plus outcomes per bucket (by start)."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    whole = range_bucket(r)
    buckets = series_buckets(r)
    series = await _conversations(conn, _bounds(buckets), f, to_us(now))
    # The buckets tile the range: its totals are their sums (no second pass over the conversations).
    c = _Convs(**{k.name: sum(getattr(s, k.name) for s in series) for k in fields(_Convs)})
    (m,) = await _messages(conn, [(whole.lo, whole.hi)], f)
    channels = await _channels(conn, whole, f)
    return {
        "range": r.echo(),
        **_conversation_totals(c, m, channels),
        "data": [
            {
                "bucket_start": format_datetime(b.start, r.tz, r.tz_name),
                "resolved": s.resolved,
                "escalated": s.escalated,
                "abandoned": s.abandoned,
                "resolution_rate": _ratio(s.resolved, s.closed),
            }
            for b, s in zip(buckets, series, strict=True)
        ],
    }


# --------------------------------------------------------------------------- engagement


async def _event_extent(conn: BaseDBAsyncClient, bounds: tuple[int, int]) -> tuple[datetime, datetime] | None:
    """The first and last event timestamp within `[lo, hi)` µs (two index seeks), None when none."""
    lo, hi = int(bounds[0]), int(bounds[1])
    where = f"FROM events WHERE ts_us >= {lo} AND ts_us < {hi} ORDER BY ts_us"
    (row,) = await _rows(
        conn, f"SELECT (SELECT ts_us {where} LIMIT 1) AS lo, (SELECT ts_us {where} DESC LIMIT 1) AS hi"
    )
    if row["lo"] is None:
        return None
    return from_us(int(row["lo"])), from_us(int(row["hi"]))


async def engagement(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /engagement`: active, new and returning users, daily actives, stickiness, per-user rates."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    whole = [(to_us(r.start), to_us(r.end))]
    (active,) = await _active_users(conn, whole, f)
    (new,) = await _new_users(conn, whole, f)
    (c,) = await _conversations(conn, whole, f, to_us(now))
    (m,) = await _messages(conn, whole, f)
    avg_daily = 0.0
    if active:
        # The mean is over every day the range touches, but only days holding events can have
        # active users: list the days between the range's first and last event, not the range's.
        extent = await _event_extent(conn, whole[0])
        if extent is not None:
            days = _bounds(series_buckets(days_between(r, *extent), "day"))
            avg_daily = sum(await _active_users(conn, days, f)) / day_count(r)
    return {
        "range": r.echo(),
        "active_users": active,
        "new_users": new,
        "returning_users": max(active - new, 0),
        "avg_daily_active_users": avg_daily,
        "stickiness": _ratio(avg_daily, active),
        "conversations_per_user": _ratio(c.total, active),
        "messages_per_user": _ratio(m.user, active),
    }


def _uniform_slots(buckets: Sequence[Bucket]) -> tuple[int, int] | None:
    """`(origin, length)` in slots when every bucket's aligned start is `origin + i * length` (days
    and weeks in a zone without a DST change in the range), else None."""
    starts = [to_us(b.start) for b in buckets]
    if not starts or any(x % SLOT_US for x in starts):
        return None
    if len(starts) == 1:
        return starts[0] // SLOT_US, max(1, -(-(buckets[0].hi - starts[0]) // SLOT_US))
    steps = {b - a for a, b in pairwise(starts)}
    if len(steps) != 1:
        return None
    return starts[0] // SLOT_US, steps.pop() // SLOT_US


async def _retention_uniform(
    conn: BaseDBAsyncClient, uniform: tuple[int, int], slots: list[tuple[int, int, int]], f: Filter
) -> dict[tuple[int, int], int]:
    """Cohort x bucket counts when buckets are equally long: bucket numbers are arithmetic, so one
    pass over the cohorts' activity rows (index seek per user) counts every pair."""
    origin, length = uniform
    lo, hi = min(x[1] for x in slots), max(x[2] for x in slots)
    o, n, lo_us, hi_us = int(origin), int(length), int(lo) * SLOT_US, int(hi) * SLOT_US
    if f.bots is None:
        cohort = (
            f"SELECT u.id AS id, (u.first_active_us / {SLOT_US} - {o}) / {n} AS c FROM end_users u "
            f"WHERE u.first_active_us >= {lo_us} AND u.first_active_us < {hi_us}"
        )
        activity = "user_slots_all a ON a.user_id = fa.id"
    else:
        bot = int(f.bots[0])
        cohort = (
            f"SELECT u.user_id AS id, (u.first_active_us / {SLOT_US} - {o}) / {n} AS c FROM bot_users u "
            f"WHERE u.bot_id = {bot} AND u.first_active_us >= {lo_us} AND u.first_active_us < {hi_us}"
        )
        activity = f"user_slots a ON a.bot_id = {bot} AND a.user_id = fa.id"
    bucket = f"((a.slot - {o}) / {n})"
    rows = await _rows(
        conn,
        f"WITH fa(id, c) AS MATERIALIZED ({cohort}) "
        f"SELECT fa.c AS c, {bucket} AS a, COUNT(*) AS n FROM fa JOIN {activity} "
        f"AND a.slot >= {int(lo)} AND a.slot < {int(hi)} "
        f"WHERE (a.prev_slot IS NULL OR a.prev_slot < {int(lo)} OR a.prev_slot < {o} + {bucket} * {n}) "
        f"AND {bucket} > fa.c GROUP BY fa.c, {bucket}",
    )
    return {(int(row["c"]), int(row["a"])): _int(row["n"]) for row in rows}


async def _retention_by_chain(
    conn: BaseDBAsyncClient, slots: list[tuple[int, int, int]], live: list[tuple[int, int, int]], f: Filter
) -> dict[tuple[int, int], int]:
    """Cohort x bucket counts for slot-aligned buckets, driven from the cohorts' users: for each user
    new in the range, its activity rows (index seek on user and slot) that are its first in a bucket
    by the `prev_slot` chain. Materialising the cohort first keeps SQLite from probing the users
    table once per activity row (4x slower at 10M messages)."""
    if f.bots is None:
        cohort = (
            "SELECT u.id AS id, cb.idx AS c FROM cb JOIN end_users u "
            "ON u.first_active_us >= cb.lo AND u.first_active_us < cb.hi"
        )
        activity = "user_slots_all a ON a.user_id = fa.id"
    else:
        bot = int(f.bots[0])
        cohort = (
            "SELECT u.user_id AS id, cb.idx AS c FROM cb JOIN bot_users u "
            f"ON u.bot_id = {bot} AND u.first_active_us >= cb.lo AND u.first_active_us < cb.hi"
        )
        activity = f"user_slots a ON a.bot_id = {bot} AND a.user_id = fa.id"
    lo, hi = min(s[1] for s in slots), max(s[2] for s in slots)
    rows = await _rows(
        conn,
        f"WITH {values_cte('b', ('idx', 'lo', 'hi'), slots)}, {values_cte('cb', ('idx', 'lo', 'hi'), live)}, "
        f"fa(id, c) AS MATERIALIZED ({cohort}) "
        f"SELECT fa.c AS c, b.idx AS a, COUNT(*) AS n FROM fa JOIN {activity} "
        f"AND a.slot >= {int(lo)} AND a.slot < {int(hi)} JOIN b ON a.slot >= b.lo AND a.slot < b.hi "
        "WHERE (a.prev_slot IS NULL OR a.prev_slot < b.lo) AND fa.c < b.idx GROUP BY fa.c, b.idx",
    )
    return {(int(row["c"]), int(row["a"])): _int(row["n"]) for row in rows}


async def retention(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /engagement/retention`: per bucket, the users new in it and how many came back later."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    buckets = series_buckets(r)
    bounds = _bounds(buckets)
    sizes = await _new_users(conn, bounds, f)
    counts: dict[tuple[int, int], int] = {}
    pairs = _active_pairs(bounds, f)
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    slots = _aligned_slots(bounds) if f.user is None and (f.bots is None or len(f.bots) == 1) else None
    if slots and not f.empty and any(sizes):
        uniform = _uniform_slots(buckets)
        if uniform is not None:
            counts = await _retention_uniform(conn, uniform, slots, f)
        else:
            counts = await _retention_by_chain(conn, slots, live, f)
    elif pairs is not None and live and any(sizes):
        ctes, select = pairs
        rows = await _rows(
            conn,
            f"WITH {values_cte('b', ('idx', 'lo', 'hi'), live)}, {', '.join(ctes)}, "
            f"cohort AS ({_new_pairs(f)}), act AS ({select}) "
            "SELECT cohort.idx AS c, act.idx AS a, COUNT(DISTINCT act.user_id) AS n "
            "FROM cohort JOIN act ON act.user_id = cohort.user_id AND act.idx >= cohort.idx "
            "GROUP BY cohort.idx, act.idx",
        )
        counts = {(int(row["c"]), int(row["a"])): _int(row["n"]) for row in rows}
    cohorts = []
    for i, b in enumerate(buckets):
        size = sizes[i]
        periods = []
        for k in range(len(buckets) - i):
            users = size if k == 0 else counts.get((i, i + k), 0)
            periods.append({"period": k, "users": users, "rate": _ratio(users, size)})
        cohorts.append(
            {"cohort_start": format_datetime(b.start, r.tz, r.tz_name), "size": size, "retention": periods}
        )
    return {"range": r.echo(), "group_by": r.group_by, "cohorts": cohorts}


async def satisfaction(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`GET /engagement/satisfaction`: the kept score of each conversation, where its timestamp falls."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    buckets = series_buckets(r)
    by_score = dict.fromkeys(range(1, 6), 0)
    series: dict[int, tuple[int, int]] = {}
    live = [(i, b.lo, b.hi) for i, b in enumerate(buckets) if b.lo < b.hi]
    if not f.empty and live:
        rows = await _per_bucket(
            conn,
            [values_cte("b", ("idx", "lo", "hi"), live)],
            [f"SUM(CASE WHEN c.rating_score = {k} THEN 1 ELSE 0 END)" for k in range(1, 6)],
            "FROM conversations c WHERE c.rating_us >= b.lo AND c.rating_us < b.hi "
            f"AND c.rating_score IS NOT NULL AND {f.where('c')}",
            len(buckets),
        )
        for idx, row in enumerate(rows):
            per_score = [_int(x) for x in row]
            for k, n in enumerate(per_score, start=1):
                by_score[k] += n
            series[idx] = (sum(per_score), sum(k * n for k, n in enumerate(per_score, start=1)))
    responses = sum(by_score.values())
    total_score = sum(s * n for s, n in by_score.items())
    return {
        "range": r.echo(),
        "responses": responses,
        "average_score": _ratio(total_score, responses),
        "csat": _ratio(by_score[4] + by_score[5], responses),
        "distribution": [{"score": s, "count": by_score[s]} for s in range(1, 6)],
        "data": [
            {
                "bucket_start": format_datetime(b.start, r.tz, r.tz_name),
                "responses": series.get(i, (0, 0))[0],
                "average_score": _ratio(series.get(i, (0, 0))[1], series.get(i, (0, 0))[0]),
            }
            for i, b in enumerate(buckets)
        ],
    }


# --------------------------------------------------------------------------- realtime


def _window(now: datetime, window_minutes: int) -> tuple[int, int]:
    """The window `(now - w, now]` as half-open µs bounds `[lo, hi)`."""
    now_us = to_us(now)
    return now_us - window_minutes * 60 * _US + 1, now_us + 1


def _active_session_where(f: Filter, now: datetime, window_minutes: int) -> str:
    lo, hi = _window(now, window_minutes)
    timeout = get_settings().session_timeout_us
    return (
        f"c.last_activity_us >= {lo} AND c.last_activity_us < {hi} AND c.end_us IS NULL "
        f"AND {to_us(now)} - c.last_activity_us <= {int(timeout)} AND {f.where('c')}"
    )


async def realtime(
    scope: Scope, now: datetime, window_minutes: int, tz: ZoneInfo, tz_name: str
) -> dict[str, Any]:
    """`GET /realtime`: sessions, users, message rate and starts in the window `(now - w, now]`."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    lo, hi = _window(now, window_minutes)
    sessions = users = started = 0
    if not f.empty:
        (row,) = await _rows(
            conn,
            "SELECT COUNT(*) AS n, COUNT(DISTINCT c.user_id) AS u FROM conversations c "
            f"WHERE {_active_session_where(f, now, window_minutes)}",
        )
        sessions, users = _int(row["n"]), _int(row["u"])
        (row,) = await _rows(
            conn,
            "SELECT COUNT(*) AS n FROM conversations c "
            f"WHERE c.started_us >= {lo} AND c.started_us < {hi} AND {f.where('c')}",
        )
        started = _int(row["n"])
    (m,) = await _messages(conn, [(lo, hi)], f)
    return {
        "as_of": format_datetime(now, tz, tz_name),
        "window_minutes": window_minutes,
        "active_sessions": sessions,
        "active_users": users,
        "messages_per_minute": m.messages / window_minutes,
        "conversations_started": started,
    }


async def active_sessions(
    scope: Scope, now: datetime, window_minutes: int, tz: ZoneInfo, tz_name: str
) -> dict[str, Any]:
    """`GET /realtime/active`: active sessions in the window, in total and per bot."""
    conn = connection()
    f = await _resolve_filter(conn, scope)
    by_bot: list[tuple[str, int]] = []
    if not f.empty:
        rows = await _rows(
            conn,
            "SELECT bo.uuid AS bot, COUNT(*) AS n FROM conversations c JOIN bots bo ON bo.id = c.bot_id "
            f"WHERE {_active_session_where(f, now, window_minutes)} GROUP BY bo.uuid",
        )
        by_bot = sorted(
            ((str(r["bot"]), _int(r["n"])) for r in rows if _int(r["n"])), key=lambda p: (-p[1], p[0])
        )
    return {
        "as_of": format_datetime(now, tz, tz_name),
        "window_minutes": window_minutes,
        "active_sessions": sum(n for _, n in by_bot),
        "by_bot": [{"bot_id": bot, "active_sessions": n} for bot, n in by_bot],
    }


RangeQuery = Callable[[ResolvedRange, Scope, datetime], Awaitable[dict[str, Any]]]

ROUTES: dict[str, RangeQuery] = {
    "usage": usage,
    "usage/daily": usage_daily,
    "usage/monthly": usage_monthly,
    "conversations": conversations,
    "conversations/volume": conversation_volume,
    "conversations/duration": conversation_duration,
    "conversations/resolution": conversation_resolution,
    "engagement": engagement,
    "engagement/retention": retention,
    "engagement/satisfaction": satisfaction,
}
"""Route name (API.md section 6) -> the function that answers it, for the range routes."""

_NO_HOUR = tuple(g for g in GroupBy if g != GroupBy.HOUR)

RANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "usage": {},
    "usage/daily": {"series": True, "bucket_field": "end_date"},
    "usage/monthly": {
        "series": True,
        "bucket_field": "end_date",
        "default": "months12",
        "default_group_by": "month",
    },
    "conversations": {},
    "conversations/volume": {"series": True},
    "conversations/duration": {},
    "conversations/resolution": {"series": True},
    "engagement": {},
    "engagement/retention": {
        "series": True,
        "default_group_by": "week",
        "allowed_group_bys": _NO_HOUR,
        "max_buckets": MAX_COHORTS,
    },
    "engagement/satisfaction": {"series": True},
}
"""`resolve_range` options per route, shared by the GraphQL resolvers and the reports."""
