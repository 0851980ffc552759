"""Outcomes of the conversations started in a range (API.md section 9): statuses, durable resolutions
and escalation reasons, and outcomes and ratings per channel.

The whole UTC days of a range come from `outcome_days` (a few thousand rows for 30 days), minus what
depends on `now`: the still-active sessions among its open conversations (last activity within the
session timeout, from the `last_activity_us` index) and the resolutions ended less than 24 hours
before `now` (not checked yet, from the partial index on resolved ends). The rest of the range (its
cut days, under a day at each end), and a user filter, are counted from the folded `conversations`
rows, each conversation's recontact flag kept by ingestion (`app/ingest/outcome_rollups.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.counters.conversations import status_sql
from app.analytics.sqlparts import Filter, as_int, day_pieces, fetch_rows
from app.models import DAY_US, OUTCOME_COLUMNS, RECONTACT_US
from app.vocabulary import ConversationStatus

__all__ = ["ChannelOutcome", "Outcomes", "count_outcomes"]

_CLOSED = (ConversationStatus.RESOLVED, ConversationStatus.ESCALATED, ConversationStatus.ABANDONED)


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


@dataclass
class Outcomes:
    """Per channel; escalations per reason ('' for none); checked resolutions and recontacted ones."""

    channels: dict[str, ChannelOutcome] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    checked: int = 0
    recontacted: int = 0

    def channel(self, name: str) -> ChannelOutcome:
        return self.channels.setdefault(name, ChannelOutcome())

    def escalated(self, reason: str, n: int) -> None:
        if n:
            self.reasons[reason] = self.reasons.get(reason, 0) + n


async def count_outcomes(
    conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter, now_us: int, timeout_us: int
) -> Outcomes:
    """The outcomes of the conversations started in `[lo, hi)` (statuses at `now`) and the kept
    ratings stamped in it, under `f`."""
    out = Outcomes()
    if f.empty or lo >= hi:
        return out
    days, pieces = day_pieces(lo, hi, DAY_US)
    if f.user is not None or days is None:
        await _from_rows(conn, lo, hi, f, now_us, timeout_us, out)
        return out
    await _from_days(conn, *days, f, now_us, timeout_us, out)
    for a, b in pieces:
        await _from_rows(conn, a, b, f, now_us, timeout_us, out)
    return out


def _checked(now_us: int, then: str) -> str:
    """A resolved conversation `c` that ended at least 24 h before `now`: `then`, else 0."""
    return (
        "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'resolved' "
        f"AND c.end_us <= {int(now_us) - RECONTACT_US} THEN {then} ELSE 0 END"
    )


async def _from_rows(
    conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter, now_us: int, timeout_us: int, out: Outcomes
) -> None:
    """Add the conversations started in `[lo, hi)` and the kept ratings in it, from the rows."""
    status, _duration = status_sql(now_us, timeout_us)
    rows = await fetch_rows(
        conn,
        f"SELECT c.channel AS channel, {status} AS status, "
        "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'escalated' THEN COALESCE(c.reason, '') "
        f"ELSE '' END AS why, COUNT(*) AS n, SUM({_checked(now_us, '1')}) AS checked, "
        f"SUM({_checked(now_us, 'c.recontacted')}) AS again FROM conversations c "
        f"WHERE c.started_us >= {int(lo)} AND c.started_us < {int(hi)} AND {f.where('c')} GROUP BY 1, 2, 3",
    )
    for r in rows:
        o, n, name = out.channel(str(r["channel"])), as_int(r["n"]), str(r["status"])
        o.conversations += n
        if name in _CLOSED:
            setattr(o, name, getattr(o, name) + n)
        if name == ConversationStatus.ESCALATED:
            out.escalated(str(r["why"]), n)
        out.checked += as_int(r["checked"])
        out.recontacted += as_int(r["again"])
    rows = await fetch_rows(
        conn,
        "SELECT c.channel AS channel, COUNT(*) AS n, SUM(c.rating_score) AS total, "
        "SUM(CASE WHEN c.rating_score >= 4 THEN 1 ELSE 0 END) AS satisfied FROM conversations c "
        f"WHERE c.rating_us >= {int(lo)} AND c.rating_us < {int(hi)} AND c.rating_score IS NOT NULL "
        f"AND {f.where('c')} GROUP BY c.channel",
    )
    for r in rows:
        o = out.channel(str(r["channel"]))
        o.ratings += as_int(r["n"])
        o.score_sum += as_int(r["total"])
        o.satisfied += as_int(r["satisfied"])


async def _from_days(
    conn: BaseDBAsyncClient, day_lo: int, day_hi: int, f: Filter, now_us: int, timeout_us: int, out: Outcomes
) -> None:
    """Add the UTC days `[day_lo, day_hi)` from `outcome_days`, less what `now` changes."""
    rows = await fetch_rows(
        conn,
        "SELECT o.channel AS channel, o.reason AS reason, "
        + ", ".join(f"SUM(o.{col}) AS {col}" for col in OUTCOME_COLUMNS)
        + f" FROM outcome_days o WHERE o.day >= {int(day_lo)} AND o.day < {int(day_hi)} AND {f.bot('o')} "
        "GROUP BY o.channel, o.reason",
    )
    for r in rows:
        v = {col: as_int(r[col]) for col in OUTCOME_COLUMNS}
        o = out.channel(str(r["channel"]))
        o.conversations += v["conversations"]
        o.resolved += v["resolved"]
        o.escalated += v["escalated"]
        o.abandoned += v["abandoned"] + v["open"]  # less the still-active ones, below
        o.ratings += v["ratings"]
        o.score_sum += v["score_sum"]
        o.satisfied += v["satisfied"]
        out.escalated(str(r["reason"]), v["escalated"])
        out.checked += v["resolved"]  # less the ones ended within 24 h, below
        out.recontacted += v["recontacted"]
    # The range's condition stays out of the WHERE: the few rows concerned come from the index on
    # the last activity or on resolved ends (the one on starts would read every conversation).
    started = f"c.started_us >= {int(day_lo) * DAY_US} AND c.started_us < {int(day_hi) * DAY_US}"
    active = await fetch_rows(
        conn,
        f"SELECT c.channel AS channel, SUM(CASE WHEN {started} THEN 1 ELSE 0 END) AS n FROM conversations c "
        f"WHERE c.last_activity_us >= {int(now_us - timeout_us)} AND c.end_us IS NULL AND {f.bot('c')} "
        "GROUP BY c.channel",
    )
    for r in active:
        if as_int(r["n"]):
            out.channel(str(r["channel"])).abandoned -= as_int(r["n"])
    (recent,) = await fetch_rows(
        conn,
        f"SELECT SUM(CASE WHEN {started} THEN 1 ELSE 0 END) AS n, "
        f"SUM(CASE WHEN {started} THEN c.recontacted ELSE 0 END) AS again FROM conversations c "
        f"WHERE c.resolution = 'resolved' AND c.end_us > {int(now_us) - RECONTACT_US} AND {f.bot('c')}",
    )
    out.checked -= as_int(recent["n"])
    out.recontacted -= as_int(recent["again"])
