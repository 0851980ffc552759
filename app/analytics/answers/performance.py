"""`/performance` (API.md section 9): latency of the bot messages, tokens and cost of every message,
per conversation and per resolved conversation, per model and over time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.answers import Question, RangeEcho, range_echo, ratio
from app.analytics.buckets import Bucket, range_bucket, series_buckets
from app.analytics.counters.latency import ALL, Want, day_percentiles
from app.analytics.counters.spend import (
    MAX_CODED_MODELS,
    Histogram,
    Key,
    Spend,
    conversation_spend,
    latency_histograms,
    percentile,
    spend_by_model,
)
from app.analytics.scope import resolve_filter
from app.analytics.sqlparts import Filter, bounds_of
from app.analytics.zones import format_datetime
from app.db import Readers
from app.vocabulary import GroupBy

__all__ = ["ModelPerformance", "Performance", "PerformancePoint", "performance"]


@dataclass(frozen=True)
class ModelPerformance:
    model: str
    messages: int
    tokens: float
    """An integer: GraphQL carries token sums as `Float` (a year's sum can pass 2^31), REST as an integer."""
    cost: float
    latency_count: int
    avg_latency_ms: float | None
    p95_latency_ms: float | None


@dataclass(frozen=True)
class PerformancePoint:
    bucket_start: str
    bot_messages: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    tokens: float
    cost: float


@dataclass(frozen=True)
class Performance:
    range: RangeEcho
    bot_messages: int
    latency_count: int
    avg_latency_ms: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    max_latency_ms: float | None
    tokens: float
    cost: float
    conversations: int
    tokens_per_conversation: float | None
    cost_per_conversation: float | None
    resolved_conversations: int
    cost_per_resolved_conversation: float | None
    by_model: tuple[ModelPerformance, ...]
    group_by: GroupBy
    data: tuple[PerformancePoint, ...]


def _merge(hists: list[Histogram]) -> Histogram:
    out: Histogram = {}
    for h in hists:
        for v, n in h.items():
            out[v] = out.get(v, 0) + n
    return out


def _tiles(bounds: list[tuple[int, int]], lo: int, hi: int) -> bool:
    """Whether the buckets cover exactly `[lo, hi)`, one after the other."""
    edge = lo
    for a, z in bounds:
        if a != edge:
            return False
        edge = z
    return edge == hi


def _fold(hists: dict[Key, Histogram], key: Callable[[Key], Key]) -> dict[Key, Histogram]:
    """Histograms merged under a coarser key."""
    out: dict[Key, Histogram] = {}
    for k, h in hists.items():
        merged = out.setdefault(key(k), {})
        for v, n in h.items():
            merged[v] = merged.get(v, 0) + n
    return out


Percentile = Callable[[int | None, str | None, float], float | None]
"""(bucket index or None for the whole range, model or `ALL`, p) -> the percentile (p = 1: maximum)."""


async def _by_slots(
    conn: BaseDBAsyncClient, bounds: list[tuple[int, int]], whole: Bucket, f: Filter, named: list[str]
) -> Percentile:
    """Percentiles from the per-slot histograms merged in the process (any scope and filter)."""
    if _tiles(bounds, whole.lo, whole.hi):
        # One pass over the histogram per bucket and model serves both the whole range by model and
        # the buckets (the largest read of this route: about one row per bot message).
        fine = await latency_histograms(conn, bounds, f, by_model=True, models=named)
        model_hists = _fold(fine, lambda key: (0, key[1]))
        series_hists = _fold(fine, lambda key: (key[0], None))
    else:
        model_hists = await latency_histograms(conn, [(whole.lo, whole.hi)], f, by_model=True)
        series_hists = await latency_histograms(conn, bounds, f, by_model=False)
    hist = _merge(list(model_hists.values()))

    def pct(idx: int | None, model: str | None, p: float) -> float | None:
        if idx is not None:
            return percentile(series_hists.get((idx, None), {}), p)
        return percentile(hist if model == ALL else model_hists.get((0, model), {}), p)

    return pct


async def _by_days(
    conn: BaseDBAsyncClient, bounds: list[tuple[int, int]], whole: Bucket, f: Filter, named: list[str]
) -> Percentile:
    """Percentiles from the per-day bands and the exact values of the bands that hold them."""
    union = _tiles(bounds, whole.lo, whole.hi)
    spans = bounds if union else [*bounds, (whole.lo, whole.hi)]
    w = len(bounds)
    wants: list[Want] = [(w, ALL, p) for p in (0.5, 0.95, 0.99, 1.0)]
    wants += [(w, m, 0.95) for m in named]
    wants += [(i, ALL, p) for i in range(len(bounds)) for p in (0.5, 0.95)]
    found = await day_percentiles(conn, spans, f, named, wants, union)
    return lambda idx, model, p: found[(w if idx is None else idx, model, p)]


async def performance(db: Readers, q: Question) -> Performance:
    """`GET /performance`: the scalar figures over the range, `by_model` and the series by `group_by`."""
    conn, r = db.main, q.range
    f = await resolve_filter(conn, q.scope)
    whole = range_bucket(r)
    buckets = series_buckets(r)
    bounds = bounds_of(buckets)
    # The sums at once, then the percentiles (which need the models): two waits for the database
    # instead of four in a row (under load each costs ~20 ms on PostgreSQL).
    per_model, series, convs = await asyncio.gather(
        spend_by_model(conn, [(whole.lo, whole.hi)], f, by_model=True),
        spend_by_model(db.side, bounds, f, by_model=False),
        conversation_spend(conn, whole.lo, whole.hi, f),
    )
    named = sorted({key[1] for key in per_model if key[1] is not None})
    by_days = f.user is None and not f.empty and len(named) <= MAX_CODED_MODELS
    pct = await (_by_days if by_days else _by_slots)(conn, bounds, whole, f, named)

    total = Spend()
    for s in per_model.values():
        total.add(s)
    models = sorted(
        ((key[1], s) for key, s in per_model.items() if key[1] is not None and s.messages),
        key=lambda kv: (-kv[1].messages, kv[0]),
    )
    return Performance(
        range=range_echo(r),
        bot_messages=total.bot_messages,
        latency_count=total.latency_count,
        avg_latency_ms=ratio(total.latency_sum, total.latency_count),
        p50_latency_ms=pct(None, ALL, 0.5),
        p95_latency_ms=pct(None, ALL, 0.95),
        p99_latency_ms=pct(None, ALL, 0.99),
        max_latency_ms=pct(None, ALL, 1.0),
        tokens=total.tokens,
        cost=total.cost,
        conversations=convs.conversations,
        tokens_per_conversation=ratio(convs.tokens, convs.conversations),
        cost_per_conversation=ratio(convs.cost, convs.conversations),
        resolved_conversations=convs.resolved,
        cost_per_resolved_conversation=ratio(convs.cost, convs.resolved),
        by_model=tuple(
            ModelPerformance(
                model=name,
                messages=s.messages,
                tokens=s.tokens,
                cost=s.cost,
                latency_count=s.latency_count,
                avg_latency_ms=ratio(s.latency_sum, s.latency_count),
                p95_latency_ms=pct(None, name, 0.95),
            )
            for name, s in models
        ),
        group_by=GroupBy(r.group_by),
        data=tuple(
            PerformancePoint(
                bucket_start=format_datetime(b.start, r.tz, r.tz_name),
                bot_messages=series[(i, None)].bot_messages if (i, None) in series else 0,
                p50_latency_ms=pct(i, ALL, 0.5),
                p95_latency_ms=pct(i, ALL, 0.95),
                tokens=series[(i, None)].tokens if (i, None) in series else 0,
                cost=series[(i, None)].cost if (i, None) in series else 0.0,
            )
            for i, b in enumerate(buckets)
        ),
    )
