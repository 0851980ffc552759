"""Outcomes of the conversations started in a range (API.md section 9): durable resolutions, escalation
reasons, and outcomes and ratings per channel, from the folded `conversations` rows (their covering
index holds every column read here but `reason`)."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.counters.conversations import status_sql
from app.analytics.sqlparts import Filter, as_int, fetch_rows

__all__ = [
    "RECONTACT_US",
    "ChannelOutcome",
    "count_channel_outcomes",
    "count_escalation_reasons",
    "count_recontacts",
]

RECONTACT_US = 24 * 3600 * 1_000_000
"""A resolution is checked 24 hours after it ended, for a new conversation within those 24 hours."""


async def count_recontacts(
    conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter, now_us: int
) -> tuple[int, int]:
    """(checked, recontacted): the resolved conversations started in `[lo, hi)` that ended at least
    24 h before `now`, and those of them after whose end the same user started another conversation
    with the same bot within `(end, end + 24 h]` (any conversation: filters cannot hide it)."""
    if f.empty or lo >= hi:
        return 0, 0
    day = RECONTACT_US
    (row,) = await fetch_rows(
        conn,
        "SELECT COUNT(*) AS checked, SUM(CASE WHEN EXISTS (SELECT 1 FROM conversations d "
        "WHERE d.user_id = c.user_id AND d.bot_id = c.bot_id AND d.id <> c.id "
        f"AND d.started_us > c.end_us AND d.started_us <= c.end_us + {day}) THEN 1 ELSE 0 END) AS again "
        f"FROM conversations c WHERE c.started_us >= {int(lo)} AND c.started_us < {int(hi)} "
        f"AND {f.where('c')} AND c.end_us IS NOT NULL AND c.resolution = 'resolved' "
        f"AND c.end_us <= {int(now_us) - day}",
    )
    return as_int(row["checked"]), as_int(row["again"])


async def count_escalation_reasons(
    conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter
) -> list[tuple[str, int]]:
    """The escalated conversations started in `[lo, hi)` by reason (`unspecified` when their end
    event gave none or an empty one), most first, ties by reason."""
    if f.empty or lo >= hi:
        return []
    rows = await fetch_rows(
        conn,
        "SELECT c.reason AS reason, COUNT(*) AS n FROM conversations c "
        f"WHERE c.started_us >= {int(lo)} AND c.started_us < {int(hi)} AND {f.where('c')} "
        "AND c.end_us IS NOT NULL AND c.resolution = 'escalated' GROUP BY c.reason",
    )
    counts: dict[str, int] = {}
    for r in rows:
        name = str(r["reason"] or "unspecified")
        counts[name] = counts.get(name, 0) + as_int(r["n"])
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class ChannelOutcome:
    """One channel: the conversations started in the range by outcome, and the kept ratings in it."""

    conversations: int = 0
    resolved: int = 0
    escalated: int = 0
    abandoned: int = 0
    ratings: int = 0
    score_sum: int = 0
    satisfied: int = 0


async def count_channel_outcomes(
    conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter, now_us: int, timeout_us: int
) -> dict[str, ChannelOutcome]:
    """Per channel: conversations started in `[lo, hi)` and their statuses at `now`; the kept ratings
    whose timestamp is in `[lo, hi)`, by the rated conversation's channel."""
    out: dict[str, ChannelOutcome] = {}
    if f.empty or lo >= hi:
        return out
    status, _duration = status_sql(now_us, timeout_us)
    rows = await fetch_rows(
        conn,
        "SELECT c.channel AS channel, COUNT(*) AS n, "
        f"SUM(CASE WHEN ({status}) = 'resolved' THEN 1 ELSE 0 END) AS resolved, "
        f"SUM(CASE WHEN ({status}) = 'escalated' THEN 1 ELSE 0 END) AS escalated, "
        f"SUM(CASE WHEN ({status}) = 'abandoned' THEN 1 ELSE 0 END) AS abandoned "
        f"FROM conversations c WHERE c.started_us >= {int(lo)} AND c.started_us < {int(hi)} "
        f"AND {f.where('c')} GROUP BY c.channel",
    )
    for r in rows:
        o = out.setdefault(str(r["channel"]), ChannelOutcome())
        o.conversations = as_int(r["n"])
        o.resolved = as_int(r["resolved"])
        o.escalated = as_int(r["escalated"])
        o.abandoned = as_int(r["abandoned"])
    rows = await fetch_rows(
        conn,
        "SELECT c.channel AS channel, COUNT(*) AS n, SUM(c.rating_score) AS total, "
        "SUM(CASE WHEN c.rating_score >= 4 THEN 1 ELSE 0 END) AS satisfied FROM conversations c "
        f"WHERE c.rating_us >= {int(lo)} AND c.rating_us < {int(hi)} AND c.rating_score IS NOT NULL "
        f"AND {f.where('c')} GROUP BY c.channel",
    )
    for r in rows:
        o = out.setdefault(str(r["channel"]), ChannelOutcome())
        o.ratings = as_int(r["n"])
        o.score_sum = as_int(r["total"])
        o.satisfied = as_int(r["satisfied"])
    return out
