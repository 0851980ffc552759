"""Messages per bucket: all, the users', the bots', and the bots' with `fallback`."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.sqlparts import Bounds, Filter, Reads, edge_rows, per_parts, rollup_reads, slot_and_raw
from app.ingest.insight_rollups import MESSAGE_COUNTS

__all__ = ["Messages", "count_messages"]


@dataclass
class Messages:
    """The message counts of one bucket."""

    messages: int = 0
    user: int = 0
    bot: int = 0
    fallback: int = 0


async def count_messages(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[Messages]:
    """Messages (all, user, bot, bot with fallback) whose timestamp falls in each `[lo, hi)`: whole
    days and slots from the rollups, raw edges (everything under a user filter) from the events, in
    one statement."""
    sums = [[0] * 4 for _ in bounds]
    edges = None if f.empty else edge_rows(bounds, f.user is not None)
    if edges is not None:
        rows, _, _ = edges
        slots, _ = slot_and_raw(bounds)
        raw = [(r[0], *r[k : k + 2]) for r in rows for k in (5, 7) if r[k] < r[k + 1]]
        source = (
            "FROM events e WHERE e.ts_us >= b.lo AND e.ts_us < b.hi AND e.type = 'message' "
            f"AND {f.where('e')}"
        )
        counts = [
            "COUNT(*)",
            "SUM(CASE WHEN e.role = 'user' THEN 1 ELSE 0 END)",
            "SUM(CASE WHEN e.role = 'user' THEN 0 ELSE 1 END)",
            "SUM(CASE WHEN e.role <> 'user' AND e.fallback THEN 1 ELSE 0 END)",
        ]
        whole = [] if f.user is not None else rollup_reads(slots, "message", MESSAGE_COUNTS, f, sums)
        await per_parts(conn, [*whole, Reads(raw, ("lo", "hi"), counts, source, sums)])
    return [Messages(*s) for s in sums]
