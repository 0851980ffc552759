"""Conversation answers: `/conversations` (totals), `/conversations/volume`, `/conversations/duration`
and `/conversations/resolution`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.answers import US, Question, RangeEcho, range_echo, ratio
from app.analytics.buckets import range_bucket, series_buckets, to_us
from app.analytics.counters.conversations import Convs, closed_durations, count_channels, count_conversations
from app.analytics.counters.messages import Messages, count_messages
from app.analytics.counters.outcomes import count_outcomes
from app.analytics.durations import PERCENTILES, Summary, parse_sorted, percentile_offsets, summarize
from app.analytics.scope import resolve_filter
from app.analytics.sqlparts import as_int, bounds_of, fetch_rows, values_cte
from app.analytics.zones import format_datetime
from app.db import Readers, dialect
from app.vocabulary import GroupBy

__all__ = [
    "DURATION_EDGES_SECONDS",
    "ChannelCount",
    "ChannelOutcomes",
    "ConversationDuration",
    "ConversationMetrics",
    "ConversationOutcomes",
    "ConversationResolution",
    "ConversationVolume",
    "DurationBin",
    "EscalationReason",
    "ResolutionPoint",
    "VolumePoint",
    "conversation_duration",
    "conversation_outcomes",
    "conversation_resolution",
    "conversation_volume",
    "conversations",
]

DURATION_EDGES_SECONDS: tuple[int, ...] = (0, 60, 300, 900, 1800, 3600)


@dataclass(frozen=True)
class ChannelCount:
    channel: str
    conversations: int


@dataclass(frozen=True)
class ConversationMetrics:
    range: RangeEcho
    total_conversations: int
    active: int
    resolved: int
    escalated: int
    abandoned: int
    resolution_rate: float | None
    escalation_rate: float | None
    abandonment_rate: float | None
    avg_duration_seconds: float | None
    avg_messages_per_conversation: float | None
    fallback_rate: float | None
    by_channel: tuple[ChannelCount, ...]


@dataclass(frozen=True)
class VolumePoint:
    bucket_start: str
    conversations: int
    messages: int


@dataclass(frozen=True)
class ConversationVolume:
    range: RangeEcho
    group_by: GroupBy
    data: tuple[VolumePoint, ...]


@dataclass(frozen=True)
class DurationBin:
    min_seconds: float
    max_seconds: float | None
    count: int


@dataclass(frozen=True)
class ConversationDuration:
    range: RangeEcho
    count: int
    avg_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    min_seconds: float | None
    max_seconds: float | None
    distribution: tuple[DurationBin, ...]


@dataclass(frozen=True)
class ResolutionPoint:
    bucket_start: str
    resolved: int
    escalated: int
    abandoned: int
    resolution_rate: float | None


@dataclass(frozen=True)
class ConversationResolution(ConversationMetrics):
    data: tuple[ResolutionPoint, ...]


def _totals(q: Question, c: Convs, m: Messages, channels: list[tuple[str, int]]) -> ConversationMetrics:
    """The fields of `/conversations` (also the totals of `/conversations/resolution`)."""
    return ConversationMetrics(
        range=range_echo(q.range),
        total_conversations=c.total,
        active=c.active,
        resolved=c.resolved,
        escalated=c.escalated,
        abandoned=c.abandoned,
        resolution_rate=ratio(c.resolved, c.closed),
        escalation_rate=ratio(c.escalated, c.closed),
        abandonment_rate=ratio(c.abandoned, c.closed),
        avg_duration_seconds=ratio(c.duration_us / US, c.closed),
        avg_messages_per_conversation=ratio(c.messages, c.total),
        fallback_rate=ratio(m.fallback, m.bot),
        by_channel=tuple(ChannelCount(name, n) for name, n in channels),
    )


async def conversations(db: Readers, q: Question) -> ConversationMetrics:
    """`GET /conversations`: counts by status, rates, averages, fallback rate, channels."""
    conn = db.main
    f = await resolve_filter(conn, q.scope)
    whole = range_bucket(q.range)
    (c,), (m,), channels = await asyncio.gather(  # one wait for the database, not three
        count_conversations(conn, [(whole.lo, whole.hi)], f, to_us(q.now), q.session_timeout_us),
        count_messages(db.side, [(whole.lo, whole.hi)], f),
        count_channels(conn, whole, f),
    )
    return _totals(q, c, m, channels)


async def conversation_volume(db: Readers, q: Question) -> ConversationVolume:
    """`GET /conversations/volume`: conversations started and messages per bucket."""
    conn, r = db.main, q.range
    f = await resolve_filter(conn, q.scope)
    buckets = series_buckets(r)
    bounds = bounds_of(buckets)
    convs, msgs = await asyncio.gather(
        count_conversations(conn, bounds, f, to_us(q.now), q.session_timeout_us),
        count_messages(db.side, bounds, f),
    )
    return ConversationVolume(
        range=range_echo(r),
        group_by=GroupBy(r.group_by),
        data=tuple(
            VolumePoint(
                bucket_start=format_datetime(b.start, r.tz, r.tz_name),
                conversations=convs[i].total,
                messages=msgs[i].messages,
            )
            for i, b in enumerate(buckets)
        ),
    )


MAX_DURATIONS_IN_MEMORY = 1_000_000
"""Up to this many durations are sorted in the process (a few MB); a range with more is summed and
ranked by the database (`_summary_in_sql`), so memory stays bounded."""


async def _summary_in_sql(conn: BaseDBAsyncClient, cte: str, closed: str, edges_us: list[int]) -> Summary:
    """`summarize` by the database: totals and bins in one statement, then each percentile's two
    values by `ORDER BY ... LIMIT 2 OFFSET k`."""
    bin_sql = ", ".join(
        f"SUM(CASE WHEN x.d >= {lo}{f' AND x.d < {hi}' if hi is not None else ''} THEN 1 ELSE 0 END)"
        f" AS bin{i}"
        for i, (lo, hi) in enumerate(zip(edges_us, [*edges_us[1:], None], strict=True))
    )
    (row,) = await fetch_rows(
        conn,
        cte + f"SELECT COUNT(*) AS n, SUM(x.d) AS total, MIN(x.d) AS lo, MAX(x.d) AS hi, {bin_sql} "
        f"FROM ({closed}) x",
    )
    n = as_int(row["n"])
    picked = []
    for p in PERCENTILES:
        k, frac = percentile_offsets(n, p)
        pair = await fetch_rows(
            conn, cte + f"SELECT x.d AS d FROM ({closed}) x ORDER BY x.d LIMIT 2 OFFSET {k}"
        )
        a = as_int(pair[0]["d"])
        b = as_int(pair[1]["d"]) if len(pair) > 1 else a
        picked.append(a + (b - a) * frac)
    bins = [as_int(row[f"bin{i}"]) for i in range(len(edges_us))]
    return n, as_int(row["total"]), as_int(row["lo"]), as_int(row["hi"]), bins, picked


async def conversation_duration(db: Readers, q: Question) -> ConversationDuration:
    """`GET /conversations/duration`: durations of the closed conversations started in the range.

    One statement reads every closed conversation's duration as one text value (the database's
    string aggregate: one row crosses the driver, not one per conversation); numpy parses and sorts
    them here, and the count, sum, bins and exact percentiles come from the sorted values
    (app/analytics/durations.py). More than
    `MAX_DURATIONS_IN_MEMORY` are left to the database (`_summary_in_sql`)."""
    conn = db.main
    f = await resolve_filter(conn, q.scope)
    whole = range_bucket(q.range)
    edges_us = [e * US for e in DURATION_EDGES_SECONDS]
    count = 0
    avg = median = p90 = low = high = None
    bins = [0] * len(edges_us)
    if not f.empty and whole.lo < whole.hi:
        closed = closed_durations(f, to_us(q.now), q.session_timeout_us)
        cte = f"WITH {values_cte('b', ('idx', 'lo', 'hi'), [(0, whole.lo, whole.hi)])} "
        concat = "group_concat(x.d)" if dialect(conn) == "sqlite" else "string_agg(CAST(x.d AS TEXT), ',')"
        (row,) = await fetch_rows(
            conn,
            cte + f"SELECT {concat} AS ds FROM (SELECT y.d AS d FROM ({closed}) y "
            f"LIMIT {MAX_DURATIONS_IN_MEMORY + 1}) x",
        )
        summary: Summary | None = None
        if row["ds"]:
            values = parse_sorted(str(row["ds"]))
            if len(values) > MAX_DURATIONS_IN_MEMORY:
                del values
                summary = await _summary_in_sql(conn, cte, closed, edges_us)
            else:
                summary = summarize(values, edges_us)
        if summary is not None:
            count, total, lo_us, hi_us, bins, (p50_us, p90_us) = summary
            avg = total / US / count
            low, high = lo_us / US, hi_us / US
            median, p90 = p50_us / US, p90_us / US
    return ConversationDuration(
        range=range_echo(q.range),
        count=count,
        avg_seconds=avg,
        median_seconds=median,
        p90_seconds=p90,
        min_seconds=low,
        max_seconds=high,
        distribution=tuple(
            DurationBin(float(lo), float(hi) if hi is not None else None, bins[i])
            for i, (lo, hi) in enumerate(
                zip(DURATION_EDGES_SECONDS, [*DURATION_EDGES_SECONDS[1:], None], strict=True)
            )
        ),
    )


async def conversation_resolution(db: Readers, q: Question) -> ConversationResolution:
    """`GET /conversations/resolution`: the `/conversations` fields plus outcomes per bucket (by start)."""
    conn, r = db.main, q.range
    f = await resolve_filter(conn, q.scope)
    whole = range_bucket(r)
    buckets = series_buckets(r)
    series, (m,), channels = await asyncio.gather(  # one wait for the database, not three
        count_conversations(conn, bounds_of(buckets), f, to_us(q.now), q.session_timeout_us),
        count_messages(db.side, [(whole.lo, whole.hi)], f),
        count_channels(conn, whole, f),
    )
    # The buckets tile the range: its totals are their sums (no second pass over the conversations).
    c = Convs(**{k.name: sum(getattr(s, k.name) for s in series) for k in fields(Convs)})
    totals = _totals(q, c, m, channels)
    return ConversationResolution(
        **{k.name: getattr(totals, k.name) for k in fields(ConversationMetrics)},
        data=tuple(
            ResolutionPoint(
                bucket_start=format_datetime(b.start, r.tz, r.tz_name),
                resolved=s.resolved,
                escalated=s.escalated,
                abandoned=s.abandoned,
                resolution_rate=ratio(s.resolved, s.closed),
            )
            for b, s in zip(buckets, series, strict=True)
        ),
    )


@dataclass(frozen=True)
class EscalationReason:
    reason: str
    conversations: int


@dataclass(frozen=True)
class ChannelOutcomes:
    channel: str
    conversations: int
    resolved: int
    escalated: int
    abandoned: int
    resolution_rate: float | None
    ratings: int
    average_score: float | None
    csat: float | None


@dataclass(frozen=True)
class ConversationOutcomes:
    range: RangeEcho
    closed: int
    resolved: int
    escalated: int
    abandoned: int
    checked_resolutions: int
    recontacts: int
    durable_resolution_rate: float | None
    escalation_reasons: tuple[EscalationReason, ...]
    by_channel: tuple[ChannelOutcomes, ...]


async def conversation_outcomes(db: Readers, q: Question) -> ConversationOutcomes:
    """`GET /conversations/outcomes`: outcomes of the conversations started in the range, whether
    their resolutions held for 24 hours, why they were escalated, and outcomes and ratings per channel."""
    conn = db.main
    f = await resolve_filter(conn, q.scope)
    whole = range_bucket(q.range)
    got = await count_outcomes(conn, whole.lo, whole.hi, f, to_us(q.now), q.session_timeout_us)
    channels = got.channels.values()
    resolved = sum(o.resolved for o in channels)
    escalated = sum(o.escalated for o in channels)
    abandoned = sum(o.abandoned for o in channels)
    reasons: dict[str, int] = {}
    for name, n in got.reasons.items():
        reasons[name or "unspecified"] = reasons.get(name or "unspecified", 0) + n
    listed = sorted(
        ((name, o) for name, o in got.channels.items() if o.conversations or o.ratings),
        key=lambda kv: (-kv[1].conversations, -kv[1].ratings, kv[0]),
    )
    return ConversationOutcomes(
        range=range_echo(q.range),
        closed=resolved + escalated + abandoned,
        resolved=resolved,
        escalated=escalated,
        abandoned=abandoned,
        checked_resolutions=got.checked,
        recontacts=got.recontacted,
        durable_resolution_rate=ratio(got.checked - got.recontacted, got.checked),
        escalation_reasons=tuple(
            EscalationReason(name, n) for name, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        by_channel=tuple(
            ChannelOutcomes(
                channel=name,
                conversations=o.conversations,
                resolved=o.resolved,
                escalated=o.escalated,
                abandoned=o.abandoned,
                resolution_rate=ratio(o.resolved, o.resolved + o.escalated + o.abandoned),
                ratings=o.ratings,
                average_score=ratio(o.score_sum, o.ratings),
                csat=ratio(o.satisfied, o.ratings),
            )
            for name, o in listed
        ),
    )
