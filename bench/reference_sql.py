"""Hand-written SQL for the main numbers of each benchmarked route, run with sqlite3 directly (or on
PostgreSQL through `PgConn`, which takes the same `:name` parameters: the SQL is common to both).

Straightforward queries, UTC only, every bot, no user filter: what a developer would write against
the same tables (the rollups where they give the answer directly, since the ranges here are whole
UTC days and so whole 15-minute slots). They give the floor the API is compared with, and a few
headline numbers to cross-check the API's answers.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.models import SLOT_US

US = 1_000_000
DAY_US = 86_400 * US
HOUR_US = 3_600 * US
WEEK_US = 7 * DAY_US
MONDAY_US = 4 * DAY_US  # 1970-01-05 was a Monday
TIMEOUT_US = 30 * 60 * US


@dataclass(frozen=True)
class Window:
    start_us: int
    end_us: int
    now_us: int

    @property
    def slots(self) -> tuple[int, int]:
        return self.start_us // SLOT_US, self.end_us // SLOT_US


def days_window(days: int, now_us: int) -> Window:
    """`days=N` in UTC: the last N calendar days, today included."""
    today = now_us // DAY_US * DAY_US
    return Window(today - (days - 1) * DAY_US, today + DAY_US, now_us)


def _closed(now_us: int) -> tuple[str, str]:
    """(condition a conversation `c` is closed, its end)."""
    return (
        f"(c.end_us IS NOT NULL OR c.last_activity_us < {now_us - TIMEOUT_US})",
        "COALESCE(c.end_us, c.last_activity_us)",
    )


def usage(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    closed, end = _closed(w.now_us)
    s_lo, s_hi = w.slots
    row = conn.execute(
        f"""
        SELECT
          (SELECT COUNT(*) FROM conversations c WHERE c.started_us >= :lo AND c.started_us < :hi AND c.bot_id IS NOT NULL),
          (SELECT SUM(messages) FROM message_slots WHERE slot >= :slo AND slot < :shi),
          (SELECT SUM(user_messages) FROM message_slots WHERE slot >= :slo AND slot < :shi),
          (SELECT COUNT(DISTINCT user_id) FROM user_slots WHERE slot >= :slo AND slot < :shi),
          (SELECT COUNT(*) FROM end_users WHERE first_active_us >= :lo AND first_active_us < :hi),
          (SELECT AVG(c.messages) FROM conversations c WHERE c.started_us >= :lo AND c.started_us < :hi),
          (SELECT AVG({end} - c.started_us) / 1e6 FROM conversations c
            WHERE c.started_us >= :lo AND c.started_us < :hi AND {closed})
        """,
        {"lo": w.start_us, "hi": w.end_us, "slo": s_lo, "shi": s_hi},
    ).fetchone()
    keys = ("total_conversations", "total_messages", "user_messages", "active_users", "new_users",
            "avg_messages_per_conversation", "avg_conversation_duration_seconds")  # fmt: skip
    return dict(zip(keys, row, strict=True))


def usage_compared(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    """`/usage`'s numbers, plus the conversations of the comparison range of `previous_period`: the
    30 UTC days before, cut to the time elapsed since the start (the range ends tomorrow)."""
    start = w.start_us - (w.end_us - w.start_us)
    end = min(w.start_us, start + max(0, w.now_us - w.start_us))
    (n,) = conn.execute(
        "SELECT COUNT(*) FROM conversations WHERE started_us >= :lo AND started_us < :hi AND bot_id IS NOT NULL",
        {"lo": start, "hi": end},
    ).fetchone()
    return {**usage(conn, w), "comparison_conversations": n}


def usage_daily(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    s_lo, s_hi = w.slots
    p = {"lo": w.start_us, "hi": w.end_us, "slo": s_lo, "shi": s_hi, "day": DAY_US, "spd": DAY_US // SLOT_US}
    convs = conn.execute(
        "SELECT started_us / :day, COUNT(*) FROM conversations WHERE started_us >= :lo AND started_us < :hi "
        "GROUP BY 1",
        p,
    ).fetchall()
    msgs = conn.execute(
        "SELECT slot / :spd, SUM(messages) FROM message_slots WHERE slot >= :slo AND slot < :shi GROUP BY 1",
        p,
    ).fetchall()
    active = conn.execute(
        "SELECT slot / :spd, COUNT(DISTINCT user_id) FROM user_slots WHERE slot >= :slo AND slot < :shi GROUP BY 1",
        p,
    ).fetchall()
    new = conn.execute(
        "SELECT first_active_us / :day, COUNT(*) FROM end_users WHERE first_active_us >= :lo AND first_active_us < :hi "
        "GROUP BY 1",
        p,
    ).fetchall()
    return {"days": len(convs), "conversations": sum(n for _, n in convs), "messages": sum(n for _, n in msgs),
            "active_user_days": sum(n for _, n in active), "new_users": sum(n for _, n in new)}  # fmt: skip


def volume_hourly(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    s_lo, s_hi = w.slots
    p = {
        "lo": w.start_us,
        "hi": w.end_us,
        "slo": s_lo,
        "shi": s_hi,
        "hour": HOUR_US,
        "sph": HOUR_US // SLOT_US,
    }
    convs = conn.execute(
        "SELECT started_us / :hour, COUNT(*) FROM conversations WHERE started_us >= :lo AND started_us < :hi "
        "AND bot_id IS NOT NULL GROUP BY 1",
        p,
    ).fetchall()
    msgs = conn.execute(
        "SELECT slot / :sph, SUM(messages) FROM message_slots WHERE slot >= :slo AND slot < :shi GROUP BY 1",
        p,
    ).fetchall()
    return {"buckets": max(len(convs), len(msgs)), "conversations": sum(n for _, n in convs),
            "messages": sum(n for _, n in msgs)}  # fmt: skip


def satisfaction(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    p = {"lo": w.start_us, "hi": w.end_us, "day": DAY_US}
    dist = conn.execute(
        "SELECT rating_score, COUNT(*) FROM conversations WHERE rating_us >= :lo AND rating_us < :hi "
        "AND bot_id IS NOT NULL GROUP BY 1",
        p,
    ).fetchall()
    daily = conn.execute(
        "SELECT rating_us / :day, COUNT(*), AVG(rating_score) FROM conversations "
        "WHERE rating_us >= :lo AND rating_us < :hi AND bot_id IS NOT NULL GROUP BY 1",
        p,
    ).fetchall()
    n = sum(c for _, c in dist)
    return {"responses": n, "average_score": sum(s * c for s, c in dist) / n if n else None,
            "csat": sum(c for s, c in dist if s >= 4) / n if n else None, "days": len(daily)}  # fmt: skip


def realtime(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    lo = w.now_us - 5 * 60 * US
    row = conn.execute(
        """
        SELECT
          (SELECT COUNT(*) FROM conversations WHERE last_activity_us > :lo AND last_activity_us <= :now
             AND end_us IS NULL AND bot_id IS NOT NULL),
          (SELECT COUNT(DISTINCT user_id) FROM conversations WHERE last_activity_us > :lo
             AND last_activity_us <= :now AND end_us IS NULL AND bot_id IS NOT NULL),
          (SELECT COUNT(*) FROM events WHERE ts_us > :lo AND ts_us <= :now AND type = 'message') / 5.0,
          (SELECT COUNT(*) FROM conversations WHERE started_us > :lo AND started_us <= :now AND bot_id IS NOT NULL)
        """,
        {"lo": lo, "now": w.now_us},
    ).fetchone()
    return dict(
        zip(
            ("active_sessions", "active_users", "messages_per_minute", "conversations_started"),
            row,
            strict=True,
        )
    )


def retention(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    """Weekly cohorts (ISO weeks, cut by the range) of new users and their activity in later weeks."""
    s_lo, s_hi = w.slots
    rows = conn.execute(
        """
        WITH cohort AS (
          SELECT id AS user_id, (first_active_us - :monday) / :week AS wk FROM end_users
          WHERE first_active_us >= :lo AND first_active_us < :hi
        ), act AS (
          SELECT DISTINCT user_id, (slot * CAST(:slot_us AS BIGINT) - :monday) / :week AS wk FROM user_slots
          WHERE slot >= :slo AND slot < :shi
        )
        SELECT c.wk, a.wk - c.wk, COUNT(*) FROM cohort c JOIN act a ON a.user_id = c.user_id AND a.wk >= c.wk
        GROUP BY 1, 2
        """,
        {
            "lo": w.start_us,
            "hi": w.end_us,
            "slo": s_lo,
            "shi": s_hi,
            "monday": MONDAY_US,
            "week": WEEK_US,
            "slot_us": SLOT_US,
        },
    ).fetchall()
    cohorts = {wk for wk, period, _ in rows}
    size = sum(n for _, period, n in rows if period == 0)
    return {"cohorts": len(cohorts), "new_users": size, "cells": len(rows)}


def conversations(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    closed, end = _closed(w.now_us)
    s_lo, s_hi = w.slots
    p = {"lo": w.start_us, "hi": w.end_us, "slo": s_lo, "shi": s_hi}
    row = conn.execute(
        f"""
        SELECT COUNT(*),
          SUM(CASE WHEN c.end_us IS NULL AND NOT {closed} THEN 1 ELSE 0 END),
          SUM(CASE WHEN c.resolution = 'resolved' THEN 1 ELSE 0 END),
          SUM(CASE WHEN c.resolution = 'escalated' THEN 1 ELSE 0 END),
          SUM(CASE WHEN c.resolution = 'abandoned' OR (c.end_us IS NULL AND {closed}) THEN 1 ELSE 0 END),
          AVG(CASE WHEN {closed} THEN {end} - c.started_us END) / 1e6, AVG(c.messages)
        FROM conversations c WHERE c.started_us >= :lo AND c.started_us < :hi AND c.bot_id IS NOT NULL
        """,
        p,
    ).fetchone()
    fallback = conn.execute(
        "SELECT SUM(fallback_messages) * 1.0 / SUM(bot_messages) FROM message_slots WHERE slot >= :slo AND slot < :shi",
        p,
    ).fetchone()[0]
    channels = conn.execute(
        "SELECT channel, COUNT(*) FROM conversations WHERE started_us >= :lo AND started_us < :hi "
        "AND bot_id IS NOT NULL GROUP BY 1",
        p,
    ).fetchall()
    keys = ("total_conversations", "active", "resolved", "escalated", "abandoned", "avg_duration_seconds",
            "avg_messages_per_conversation")  # fmt: skip
    out = dict(zip(keys, row, strict=True))
    out["fallback_rate"] = fallback
    out["channels"] = len(channels)
    return out


def engagement(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    s_lo, s_hi = w.slots
    p = {"lo": w.start_us, "hi": w.end_us, "slo": s_lo, "shi": s_hi, "spd": DAY_US // SLOT_US}
    row = conn.execute(
        """
        SELECT
          (SELECT COUNT(DISTINCT user_id) FROM user_slots WHERE slot >= :slo AND slot < :shi),
          (SELECT COUNT(*) FROM end_users WHERE first_active_us >= :lo AND first_active_us < :hi),
          (SELECT COUNT(*) FROM (SELECT DISTINCT slot / :spd, user_id FROM user_slots WHERE slot >= :slo AND slot < :shi) t),
          (SELECT COUNT(*) FROM conversations WHERE started_us >= :lo AND started_us < :hi AND bot_id IS NOT NULL),
          (SELECT SUM(user_messages) FROM message_slots WHERE slot >= :slo AND slot < :shi)
        """,
        p,
    ).fetchone()
    active, new, user_days, convs, user_msgs = row
    days = (w.end_us - w.start_us) // DAY_US
    return {"active_users": active, "new_users": new, "avg_daily_active_users": user_days / days,
            "conversations_per_user": convs / active if active else None,
            "messages_per_user": user_msgs / active if active else None}  # fmt: skip


def duration(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    closed, end = _closed(w.now_us)
    ds = [
        d / 1e6
        for (d,) in conn.execute(
            f"SELECT CASE WHEN {end} > c.started_us THEN {end} - c.started_us ELSE 0 END AS d "
            f"FROM conversations c WHERE c.started_us >= :lo "
            f"AND c.started_us < :hi AND c.bot_id IS NOT NULL AND {closed} ORDER BY d",
            {"lo": w.start_us, "hi": w.end_us},
        )
    ]
    n = len(ds)

    def pct(q: float) -> float | None:
        if not n:
            return None
        k = (n - 1) * q
        i = int(k)
        return float(ds[i] + (ds[min(i + 1, n - 1)] - ds[i]) * (k - i))

    return {"count": n, "avg_seconds": sum(ds) / n if n else None, "median_seconds": pct(0.5),
            "p90_seconds": pct(0.9), "min_seconds": ds[0] if n else None, "max_seconds": ds[-1] if n else None}  # fmt: skip


def timed(fn: Callable[[sqlite3.Connection, Window], dict[str, Any]], conn: sqlite3.Connection,
          w: Window) -> tuple[float, dict[str, Any]]:  # fmt: skip
    t = time.perf_counter()
    out = fn(conn, w)
    return (time.perf_counter() - t) * 1000, out


def _percentile(hist: list[tuple[int, int]], q: float) -> float | None:
    """percentile_cont over a sorted (value, count) histogram."""
    n = sum(c for _, c in hist)
    if not n:
        return None
    pos = (n - 1) * q
    lo, frac = int(pos), pos - int(pos)
    seen, a, b = 0, None, None
    for value, count in hist:
        if a is None and seen + count > lo:
            a = value
        if seen + count > lo + (1 if frac else 0):
            b = value
            break
        seen += count
    assert a is not None and b is not None
    return float(a + (b - a) * frac)


def intents(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    s_lo, s_hi = w.slots
    p = {"lo": w.start_us, "hi": w.end_us, "slo": s_lo, "shi": s_hi}
    rows = conn.execute(
        "SELECT intent, SUM(messages) AS n, SUM(bot_messages), SUM(fallback_messages) FROM intent_slots "
        "WHERE slot >= :slo AND slot < :shi GROUP BY intent ORDER BY n DESC, intent LIMIT 20",
        p,
    ).fetchall()
    with_intent = conn.execute(
        "SELECT SUM(messages) FROM intent_slots WHERE slot >= :slo AND slot < :shi", p
    ).fetchone()[0]
    total = conn.execute(
        "SELECT SUM(messages) FROM message_slots WHERE slot >= :slo AND slot < :shi", p
    ).fetchone()[0]
    convs = conn.execute(
        "SELECT intent, COUNT(DISTINCT conversation_id) FROM events WHERE ts_us >= :lo AND ts_us < :hi "
        "AND type = 'message' AND intent IS NOT NULL AND bot_id IS NOT NULL GROUP BY intent",
        p,
    ).fetchall()
    per_intent = dict(convs)
    return {
        "messages_with_intent": with_intent,
        "messages_without_intent": total - with_intent,
        "top_intent": rows[0][0] if rows else None,
        "top_messages": rows[0][1] if rows else None,
        "fallback_messages": sum(r[3] for r in rows),
        "conversations": sum(per_intent[r[0]] for r in rows),
    }


def performance(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    s_lo, s_hi = w.slots
    p = {"lo": w.start_us, "hi": w.end_us, "slo": s_lo, "shi": s_hi}
    bot, lat_n, lat_sum, tokens, cost = conn.execute(
        "SELECT SUM(bot_messages), SUM(latency_count), SUM(latency_sum), SUM(tokens), SUM(cost) FROM model_slots "
        "WHERE slot >= :slo AND slot < :shi",
        p,
    ).fetchone()
    hist = conn.execute(
        "SELECT latency_ms, SUM(messages) FROM latency_slots WHERE slot >= :slo AND slot < :shi "
        "GROUP BY latency_ms ORDER BY latency_ms",
        p,
    ).fetchall()
    convs, resolved, conv_cost = conn.execute(
        "SELECT SUM(conversations), SUM(resolved), SUM(cost) FROM conv_slots WHERE slot >= :slo AND slot < :shi",
        p,
    ).fetchone()
    models = conn.execute(
        "SELECT COUNT(DISTINCT model) FROM model_slots WHERE slot >= :slo AND slot < :shi AND has_model = 1",
        p,
    ).fetchone()[0]
    return {
        "bot_messages": bot, "latency_count": lat_n, "avg_latency_ms": lat_sum / lat_n if lat_n else None,
        "p50_latency_ms": _percentile(hist, 0.5), "p95_latency_ms": _percentile(hist, 0.95),
        "p99_latency_ms": _percentile(hist, 0.99), "max_latency_ms": float(hist[-1][0]) if hist else None,
        "tokens": tokens or 0, "cost": float(cost or 0), "conversations": convs,
        "cost_per_conversation": conv_cost / convs if convs else None,
        "cost_per_resolved_conversation": conv_cost / resolved if resolved else None, "models": models,
    }  # fmt: skip


def outcomes(conn: sqlite3.Connection, w: Window) -> dict[str, Any]:
    closed, _end = _closed(w.now_us)
    p = {"lo": w.start_us, "hi": w.end_us, "day": DAY_US, "checked_before": w.now_us - DAY_US}
    resolved, escalated, abandoned = conn.execute(
        f"""
        SELECT SUM(CASE WHEN c.resolution = 'resolved' THEN 1 ELSE 0 END),
          SUM(CASE WHEN c.resolution = 'escalated' THEN 1 ELSE 0 END),
          SUM(CASE WHEN c.resolution = 'abandoned' OR (c.end_us IS NULL AND {closed}) THEN 1 ELSE 0 END)
        FROM conversations c WHERE c.started_us >= :lo AND c.started_us < :hi AND c.bot_id IS NOT NULL
        """,
        p,
    ).fetchone()
    checked, recontacts = conn.execute(
        """
        SELECT COUNT(*), SUM(CASE WHEN EXISTS (SELECT 1 FROM conversations d WHERE d.user_id = c.user_id
          AND d.bot_id = c.bot_id AND d.id <> c.id AND d.started_us > c.end_us AND d.started_us <= c.end_us + :day)
          THEN 1 ELSE 0 END)
        FROM conversations c WHERE c.started_us >= :lo AND c.started_us < :hi AND c.bot_id IS NOT NULL
          AND c.resolution = 'resolved' AND c.end_us <= :checked_before
        """,
        p,
    ).fetchone()
    reasons = conn.execute(
        "SELECT COUNT(DISTINCT COALESCE(NULLIF(reason, ''), 'unspecified')) FROM conversations "
        "WHERE started_us >= :lo AND started_us < :hi AND bot_id IS NOT NULL AND resolution = 'escalated'",
        p,
    ).fetchone()[0]
    ratings, satisfied = conn.execute(
        "SELECT COUNT(*), SUM(CASE WHEN rating_score >= 4 THEN 1 ELSE 0 END) FROM conversations WHERE rating_us >= :lo AND rating_us < :hi "
        "AND rating_score IS NOT NULL AND bot_id IS NOT NULL",
        p,
    ).fetchone()
    return {
        "closed": resolved + escalated + abandoned, "resolved": resolved, "escalated": escalated,
        "abandoned": abandoned, "checked_resolutions": checked, "recontacts": recontacts or 0, "reasons": reasons,
        "channel_abandoned": abandoned, "ratings": ratings, "satisfied": satisfied or 0,
    }  # fmt: skip


class _Rows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class PgConn:
    """sqlite3's `execute(sql, {name: value})` on PostgreSQL (asyncpg on a private event loop):
    `:name` becomes `$n`, numeric results become floats (PostgreSQL's AVG and SUM are `numeric`)."""

    def __init__(self, url: str) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(
            asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        )

    def execute(self, query: str, params: dict[str, Any] | None = None) -> _Rows:
        names: dict[str, int] = {}

        def number(m: re.Match[str]) -> str:
            return f"${names.setdefault(m.group(1), len(names) + 1)}"

        text = re.sub(r"(?<![:\w]):([a-z_]+)", number, query)
        args = [(params or {})[name] for name in names]
        rows = self.loop.run_until_complete(self.conn.fetch(text, *args))
        return _Rows([tuple(float(v) if isinstance(v, Decimal) else v for v in r) for r in rows])

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()
