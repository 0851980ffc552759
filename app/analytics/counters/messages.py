"""Messages per bucket: all, the users', the bots', and the bots' with `fallback`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.sqlparts import Bounds, Filter, as_int, edges_cte, per_bucket, rollup_sums, slot_and_raw
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
    """Messages (all, user, bot, bot with fallback) whose timestamp falls in each `[lo, hi)`."""
    out = [Messages() for _ in bounds]
    edges = None if f.empty else edges_cte(bounds, f.user is not None)
    if edges is None:
        return out
    cte, any_slots, any_raw = edges
    results: list[Sequence[int | None]] = []
    if any_slots:
        slots, _ = slot_and_raw(bounds)
        results += await rollup_sums(conn, slots, "message", MESSAGE_COUNTS, f, len(bounds))
    if any_raw:
        raw = (
            "SELECT e.role AS role, e.fallback AS fallback FROM events e WHERE e.ts_us >= b.{lo} "
            f"AND e.ts_us < b.{{hi}} AND e.type = 'message' AND {f.where('e')}"
        )
        results += await per_bucket(
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
            m.messages += as_int(part[0])
            m.user += as_int(part[1])
            m.bot += as_int(part[2])
            m.fallback += as_int(part[3])
    return out
