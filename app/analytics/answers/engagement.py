"""Engagement answers: `/engagement` (users over the range), `/engagement/retention` (cohorts) and
`/engagement/satisfaction` (ratings)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.answers import Question, RangeEcho, range_echo, ratio
from app.analytics.buckets import Bucket, series_buckets, to_us
from app.analytics.counters.conversations import count_conversations
from app.analytics.counters.messages import count_messages
from app.analytics.counters.users import active_pairs, active_users, event_extent, new_pairs, new_users
from app.analytics.ranges import day_count, days_between, format_datetime
from app.analytics.scope import resolve_filter
from app.analytics.sqlparts import (
    Filter,
    aligned_slots,
    as_int,
    bounds_of,
    fetch_rows,
    per_bucket,
    values_cte,
)
from app.db import Readers
from app.models import SLOT_US
from app.vocabulary import GroupBy

__all__ = [
    "Cohort",
    "Engagement",
    "Retention",
    "RetentionPeriod",
    "Satisfaction",
    "SatisfactionPoint",
    "ScoreCount",
    "engagement",
    "retention",
    "satisfaction",
]


@dataclass(frozen=True)
class Engagement:
    range: RangeEcho
    active_users: int
    new_users: int
    returning_users: int
    avg_daily_active_users: float
    stickiness: float | None
    conversations_per_user: float | None
    messages_per_user: float | None


@dataclass(frozen=True)
class RetentionPeriod:
    period: int
    users: int
    rate: float | None


@dataclass(frozen=True)
class Cohort:
    cohort_start: str
    size: int
    retention: tuple[RetentionPeriod, ...]


@dataclass(frozen=True)
class Retention:
    range: RangeEcho
    group_by: GroupBy
    cohorts: tuple[Cohort, ...]


@dataclass(frozen=True)
class ScoreCount:
    score: int
    count: int


@dataclass(frozen=True)
class SatisfactionPoint:
    bucket_start: str
    responses: int
    average_score: float | None


@dataclass(frozen=True)
class Satisfaction:
    range: RangeEcho
    responses: int
    average_score: float | None
    csat: float | None
    distribution: tuple[ScoreCount, ...]
    data: tuple[SatisfactionPoint, ...]


async def engagement(db: Readers, q: Question) -> Engagement:
    """`GET /engagement`: active, new and returning users, daily actives, stickiness, per-user rates."""
    conn, r = db.main, q.range
    f = await resolve_filter(conn, q.scope)
    whole = [(to_us(r.start), to_us(r.end))]
    (active,) = await active_users(conn, whole, f)
    (new,) = await new_users(conn, whole, f)
    (c,) = await count_conversations(conn, whole, f, to_us(q.now), q.session_timeout_us)
    (m,) = await count_messages(conn, whole, f)
    avg_daily = 0.0
    if active:
        # The mean is over every day the range touches, but only days holding events can have
        # active users: list the days between the range's first and last event, not the range's.
        extent = await event_extent(conn, whole[0])
        if extent is not None:
            days = bounds_of(series_buckets(days_between(r, *extent), "day"))
            avg_daily = sum(await active_users(conn, days, f)) / day_count(r)
    return Engagement(
        range=range_echo(r),
        active_users=active,
        new_users=new,
        returning_users=max(active - new, 0),
        avg_daily_active_users=avg_daily,
        stickiness=ratio(avg_daily, active),
        conversations_per_user=ratio(c.total, active),
        messages_per_user=ratio(m.user, active),
    )


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
    rows = await fetch_rows(
        conn,
        f"WITH fa(id, c) AS MATERIALIZED ({cohort}) "
        f"SELECT fa.c AS c, {bucket} AS a, COUNT(*) AS n FROM fa JOIN {activity} "
        f"AND a.slot >= {int(lo)} AND a.slot < {int(hi)} "
        f"WHERE (a.prev_slot IS NULL OR a.prev_slot < {int(lo)} OR a.prev_slot < {o} + {bucket} * {n}) "
        f"AND {bucket} > fa.c GROUP BY fa.c, {bucket}",
    )
    return {(int(row["c"]), int(row["a"])): as_int(row["n"]) for row in rows}


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
    rows = await fetch_rows(
        conn,
        f"WITH {values_cte('b', ('idx', 'lo', 'hi'), slots)}, {values_cte('cb', ('idx', 'lo', 'hi'), live)}, "
        f"fa(id, c) AS MATERIALIZED ({cohort}) "
        f"SELECT fa.c AS c, b.idx AS a, COUNT(*) AS n FROM fa JOIN {activity} "
        f"AND a.slot >= {int(lo)} AND a.slot < {int(hi)} JOIN b ON a.slot >= b.lo AND a.slot < b.hi "
        "WHERE (a.prev_slot IS NULL OR a.prev_slot < b.lo) AND fa.c < b.idx GROUP BY fa.c, b.idx",
    )
    return {(int(row["c"]), int(row["a"])): as_int(row["n"]) for row in rows}


async def retention(db: Readers, q: Question) -> Retention:
    """`GET /engagement/retention`: per bucket, the users new in it and how many came back later."""
    conn, r = db.main, q.range
    f = await resolve_filter(conn, q.scope)
    buckets = series_buckets(r)
    bounds = bounds_of(buckets)
    sizes = await new_users(conn, bounds, f)
    counts: dict[tuple[int, int], int] = {}
    pairs = active_pairs(bounds, f)
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    slots = aligned_slots(bounds) if f.user is None and (f.bots is None or len(f.bots) == 1) else None
    if slots and not f.empty and any(sizes):
        uniform = _uniform_slots(buckets)
        if uniform is not None:
            counts = await _retention_uniform(conn, uniform, slots, f)
        else:
            counts = await _retention_by_chain(conn, slots, live, f)
    elif pairs is not None and live and any(sizes):
        ctes, select = pairs
        rows = await fetch_rows(
            conn,
            f"WITH {values_cte('b', ('idx', 'lo', 'hi'), live)}, {', '.join(ctes)}, "
            f"cohort AS ({new_pairs(f)}), act AS ({select}) "
            "SELECT cohort.idx AS c, act.idx AS a, COUNT(DISTINCT act.user_id) AS n "
            "FROM cohort JOIN act ON act.user_id = cohort.user_id AND act.idx >= cohort.idx "
            "GROUP BY cohort.idx, act.idx",
        )
        counts = {(int(row["c"]), int(row["a"])): as_int(row["n"]) for row in rows}
    cohorts = []
    for i, b in enumerate(buckets):
        size = sizes[i]
        periods = []
        for k in range(len(buckets) - i):
            users = size if k == 0 else counts.get((i, i + k), 0)
            periods.append(RetentionPeriod(period=k, users=users, rate=ratio(users, size)))
        cohorts.append(Cohort(format_datetime(b.start, r.tz, r.tz_name), size, tuple(periods)))
    return Retention(range=range_echo(r), group_by=GroupBy(r.group_by), cohorts=tuple(cohorts))


async def satisfaction(db: Readers, q: Question) -> Satisfaction:
    """`GET /engagement/satisfaction`: the kept score of each conversation, where its timestamp falls."""
    conn, r = db.main, q.range
    f = await resolve_filter(conn, q.scope)
    buckets = series_buckets(r)
    by_score = dict.fromkeys(range(1, 6), 0)
    series: dict[int, tuple[int, int]] = {}
    live = [(i, b.lo, b.hi) for i, b in enumerate(buckets) if b.lo < b.hi]
    if not f.empty and live:
        rows = await per_bucket(
            conn,
            [values_cte("b", ("idx", "lo", "hi"), live)],
            [f"SUM(CASE WHEN c.rating_score = {k} THEN 1 ELSE 0 END)" for k in range(1, 6)],
            "FROM conversations c WHERE c.rating_us >= b.lo AND c.rating_us < b.hi "
            f"AND c.rating_score IS NOT NULL AND {f.where('c')}",
            len(buckets),
        )
        for idx, row in enumerate(rows):
            per_score = [as_int(x) for x in row]
            for k, n in enumerate(per_score, start=1):
                by_score[k] += n
            series[idx] = (sum(per_score), sum(k * n for k, n in enumerate(per_score, start=1)))
    responses = sum(by_score.values())
    total_score = sum(s * n for s, n in by_score.items())
    return Satisfaction(
        range=range_echo(r),
        responses=responses,
        average_score=ratio(total_score, responses),
        csat=ratio(by_score[4] + by_score[5], responses),
        distribution=tuple(ScoreCount(score=k, count=by_score[k]) for k in range(1, 6)),
        data=tuple(
            SatisfactionPoint(
                bucket_start=format_datetime(b.start, r.tz, r.tz_name),
                responses=series.get(i, (0, 0))[0],
                average_score=ratio(series.get(i, (0, 0))[1], series.get(i, (0, 0))[0]),
            )
            for i, b in enumerate(buckets)
        ),
    )
