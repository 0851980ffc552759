"""Conversations per bucket (by start): counts by status, messages, durations; channels; ratings.

A conversation's status depends on `now` and the session timeout (API.md section 5), both passed in
as arguments: a quiet conversation without an end event is active within the timeout, abandoned
after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.buckets import Bucket, split_slots
from app.analytics.sqlparts import (
    Bounds,
    Filter,
    Reads,
    aligned_slots,
    as_int,
    fetch_rows,
    per_bucket,
    per_parts,
    rollup_reads,
    values_cte,
)
from app.models import CONV_SLOT_COLUMNS, SLOT_US
from app.vocabulary import ConversationStatus

__all__ = [
    "Convs",
    "closed_durations",
    "count_channels",
    "count_conversations",
    "count_ratings",
    "started_in",
]


@dataclass
class Convs:
    """The conversations started in one bucket: counts by status, messages, closed ones' durations."""

    total: int = 0
    messages: int = 0
    active: int = 0
    resolved: int = 0
    escalated: int = 0
    abandoned: int = 0
    closed: int = 0
    duration_us: int = 0


def status_sql(now_us: int, timeout_us: int) -> tuple[str, str]:
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


def started_in(f: Filter, now_us: int, timeout_us: int) -> str:
    """A SELECT of the conversations started in bucket `b.idx` with `status` and `duration`."""
    status, duration = status_sql(now_us, timeout_us)
    return (
        f"SELECT b.idx AS idx, c.messages AS messages, {status} AS status, {duration} AS duration "
        "FROM b JOIN conversations c ON c.started_us >= b.lo AND c.started_us < b.hi "
        f"WHERE {f.where('c')}"
    )


def closed_durations(f: Filter, now_us: int, timeout_us: int) -> str:
    """A SELECT of `d`, the duration in µs of each closed conversation started in the CTE row `b`:
    an ended one's to its end, a timed-out one's to its last activity (`status_sql`'s duration,
    its condition in the WHERE so that the expression is evaluated once per row)."""
    span = "COALESCE(c.end_us, c.last_activity_us) - c.started_us"
    return (
        f"SELECT CASE WHEN {span} > 0 THEN {span} ELSE 0 END AS d "
        "FROM b JOIN conversations c ON c.started_us >= b.lo AND c.started_us < b.hi "
        f"WHERE {f.where('c')} AND (c.end_us IS NOT NULL OR c.last_activity_us < {int(now_us - timeout_us)})"
    )


async def count_conversations(
    conn: BaseDBAsyncClient, bounds: Bounds, f: Filter, now_us: int, timeout_us: int
) -> list[Convs]:
    """Per `[lo, hi)`: the conversations started in it, by status, with messages and durations."""
    out = [Convs() for _ in bounds]
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    if f.empty or not live:
        return out
    if f.user is None:
        slots = aligned_slots(bounds)
        if slots is not None:
            return await conversations_from_rollup(conn, bounds, slots, f, now_us, timeout_us)
        return await _whole_slots_and_edges(conn, bounds, f, now_us, timeout_us)
    return await _from_rows(conn, bounds, f, now_us, timeout_us)


async def _whole_slots_and_edges(
    conn: BaseDBAsyncClient, bounds: Bounds, f: Filter, now_us: int, timeout_us: int
) -> list[Convs]:
    """Buckets whose bounds cut slots (a datetime bound; a comparison range cut to the elapsed time,
    API.md section 9): their whole slots from the rollup, their raw edges (under 15 minutes each)
    from the rows, in the rollup's statement, added up (every figure of `Convs` is a sum)."""
    whole: list[tuple[int, int]] = []
    edges: list[tuple[int, int, int]] = []
    for idx, (lo, hi) in enumerate(bounds):
        split = split_slots(lo, hi) if lo < hi else split_slots(0, 0)
        whole.append((split.slot_lo * SLOT_US, split.slot_hi * SLOT_US))
        edges.extend((idx, a, z) for a, z in split.raw)
    slots = aligned_slots(whole)
    assert slots is not None
    by_edge = [[0] * 8 for _ in bounds]
    out = await conversations_from_rollup(
        conn, whole, slots, f, now_us, timeout_us, [_row_reads(edges, f, now_us, timeout_us, by_edge)]
    )
    for acc, v in zip(out, by_edge, strict=True):
        _add(acc, Convs(*v))
    return out


def _add(acc: Convs, c: Convs) -> None:
    for name in (f.name for f in fields(Convs)):
        setattr(acc, name, getattr(acc, name) + getattr(c, name))


def _row_reads(
    parts: list[tuple[int, int, int]], f: Filter, now_us: int, timeout_us: int, out: list[list[int]]
) -> Reads:
    """The read of `Convs`' figures (in field order) from the `conversations` rows started in each
    part `(idx, lo, hi)`, into `out[idx]`."""
    status, duration = status_sql(now_us, timeout_us)
    exprs = [
        "COUNT(*)",
        "SUM(c.messages)",
        *(f"SUM(CASE WHEN {status} = '{s}' THEN 1 ELSE 0 END)" for s in ConversationStatus),
        f"COUNT({duration})",
        f"SUM({duration})",
    ]
    source = f"FROM conversations c WHERE c.started_us >= b.lo AND c.started_us < b.hi AND {f.where('c')}"
    return Reads(parts, ("lo", "hi"), exprs, source, out)


async def _from_rows(
    conn: BaseDBAsyncClient, bounds: Bounds, f: Filter, now_us: int, timeout_us: int
) -> list[Convs]:
    """`count_conversations` from the `conversations` rows (a user filter)."""
    out = [[0] * 8 for _ in bounds]
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    await per_parts(conn, [_row_reads(live, f, now_us, timeout_us, out)])
    return [Convs(*v) for v in out]


async def conversations_from_rollup(
    conn: BaseDBAsyncClient,
    bounds: Bounds,
    slots: list[tuple[int, int, int]],
    f: Filter,
    now_us: int,
    timeout_us: int,
    also: Sequence[Reads] = (),
) -> list[Convs]:
    """`count_conversations` for slot-aligned buckets from `conv_slots` (and the reads `also` in the
    same statement).

    The rollup knows which conversations have no end event, not which of those are still active:
    that depends on `now`. The still-active ones (last activity within the timeout) are few and come
    from the `last_activity_us` index; every other open conversation is abandoned, ended at its last
    activity.
    """
    out = [Convs() for _ in bounds]
    rows = [[0] * len(CONV_SLOT_COLUMNS) for _ in bounds]
    await per_parts(conn, [*rollup_reads(slots, "conv", CONV_SLOT_COLUMNS, f, rows), *also])
    if not slots:
        return out
    recent = await fetch_rows(
        conn,
        "SELECT c.started_us AS started_us, c.last_activity_us AS last_activity_us FROM conversations c "
        f"WHERE c.last_activity_us >= {int(now_us - timeout_us)} "
        # `+c.bot_id`: the bot is no index condition, so the (few) recent rows come from the
        # `last_activity_us` index, not every conversation of the bot from the `bot_id` one.
        f"AND c.end_us IS NULL AND {f.bot('+c')}",
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
            as_int(x) for x in row
        )
        active, active_us = live.get(idx, [0, 0])
        c.total, c.messages, c.active = total, messages, active
        c.resolved, c.escalated = resolved, escalated
        c.abandoned = abandoned + open_ - active
        c.closed = ended + open_ - active
        c.duration_us = ended_us + open_us - active_us
    return out


async def count_channels(conn: BaseDBAsyncClient, b: Bucket, f: Filter) -> list[tuple[str, int]]:
    """Conversations started in `b` per channel, most first (ties by name); channels with none left out."""
    if f.empty or b.lo >= b.hi:
        return []
    rows = await fetch_rows(
        conn,
        "SELECT c.channel AS channel, COUNT(*) AS n FROM conversations c "
        f"WHERE c.started_us >= {b.lo} AND c.started_us < {b.hi} AND {f.where('c')} GROUP BY c.channel",
    )
    pairs = [(str(r["channel"]), as_int(r["n"])) for r in rows if as_int(r["n"])]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs


async def count_ratings(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[list[int]]:
    """Per `[lo, hi)`: the conversations whose kept rating falls in it, by score 1 to 5."""
    out = [[0] * 5 for _ in bounds]
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    if f.empty or not live:
        return out
    found = await per_bucket(
        conn,
        [values_cte("b", ("idx", "lo", "hi"), live)],
        [f"SUM(CASE WHEN c.rating_score = {k} THEN 1 ELSE 0 END)" for k in range(1, 6)],
        "FROM conversations c WHERE c.rating_us >= b.lo AND c.rating_us < b.hi "
        f"AND c.rating_score IS NOT NULL AND {f.where('c')}",
        len(bounds),
    )
    return [[as_int(x) for x in row] for row in found]
