"""Engagement answers: `/engagement` (users over the range), `/engagement/retention` (cohorts) and
`/engagement/satisfaction` (ratings)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.analytics.answers import Question, RangeEcho, range_echo, ratio
from app.analytics.answers.usage import count_usage
from app.analytics.buckets import series_buckets, to_us
from app.analytics.counters.conversations import count_ratings
from app.analytics.counters.retention import cohort_activity
from app.analytics.counters.users import active_users, event_extent, new_users
from app.analytics.ranges import day_count, days_between
from app.analytics.scope import resolve_filter
from app.analytics.sqlparts import (
    bounds_of,
)
from app.analytics.zones import format_datetime
from app.db import Readers
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
    # Everything but the daily actives at once (usage's four counts, the events' extent): one
    # wait for the database instead of five in a row (under load each costs ~20 ms on PostgreSQL).
    ((c,), (m,), (active,), (new,)), extent = await asyncio.gather(
        count_usage(db, q, f, whole), event_extent(conn, whole[0])
    )
    avg_daily = 0.0
    if active and extent is not None:
        # The mean is over every day the range touches, but only days holding events can have
        # active users: list the days between the range's first and last event, not the range's.
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


async def retention(db: Readers, q: Question) -> Retention:
    """`GET /engagement/retention`: per bucket, the users new in it and how many came back later."""
    conn, r = db.main, q.range
    f = await resolve_filter(conn, q.scope)
    buckets = series_buckets(r)
    bounds = bounds_of(buckets)
    sizes = await new_users(conn, bounds, f)
    counts = await cohort_activity(conn, buckets, sizes, f)
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
    for idx, per_score in enumerate(await count_ratings(conn, bounds_of(buckets), f)):
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
