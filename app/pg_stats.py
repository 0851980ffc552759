"""PostgreSQL planner statistics kept current by the service: `ANALYZE` of the tables that changed.

The analytics SQL joins a few small sets (a retention cohort, a span's days) to rollup tables, and
PostgreSQL picks those joins' plans from its statistics. A database that was never analyzed has
none: under `python -m bench load --db postgres` (a fresh database on a server running with
`autovacuum = off`, so nothing ever analyzed it) the retention statement read every activity row of
the bot once per cohort user through the wrong index, 34-75 ms per statement where the same
statement with statistics took 0.4 ms, and /performance's day bands 3-9 ms instead of 0.4-1 ms
(docs/performance.md, "PostgreSQL read path"). A server with autovacuum on analyzes the same
tables, but up to `autovacuum_naptime` (60 s) late: a database that grows from empty (a new
deployment, the load benchmark: 5k to 150k events in 40 s) runs on missing statistics meanwhile.

So each API process looks every `INTERVAL` seconds at `pg_stat_user_tables` and analyzes the
tables changed by more than autovacuum's default threshold (50 rows + 10% of the table) since
their last `ANALYZE`, whoever ran it (autovacuum's resets the same counter, so on a server that
has it on this mostly finds nothing to do). One process at a time (a transaction-scoped advisory
lock; the other skips that round). `ANALYZE` takes a lock that blocks neither reads nor writes,
and samples at most 30,000 rows of a table: ~10-30 ms for the events table at 150k rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tortoise.transactions import in_transaction

from app.db import dialect

__all__ = ["INTERVAL", "LOCK_KEY", "StatisticsKeeper", "analyze_changed"]

log = logging.getLogger(__name__)

INTERVAL = 5.0
"""Seconds between two looks at the tables' change counters."""
LOCK_KEY = 0x0BA5_7A75
"""The advisory lock key of the `ANALYZE` round (apart from ingestion's, app/ingest/group.py)."""

_CHANGED = (
    "SELECT relname AS name FROM pg_stat_user_tables WHERE schemaname = current_schema() "
    "AND n_mod_since_analyze > 50 + 0.1 * GREATEST(n_live_tup, 0) ORDER BY relname"
)


async def analyze_changed() -> list[str]:
    """`ANALYZE` the tables changed beyond the threshold, on the "default" connection; their names
    (none when another process holds the round's lock)."""
    async with in_transaction("default") as tx:
        locked = await tx.execute_query_dict("SELECT pg_try_advisory_xact_lock($1) AS ok", [LOCK_KEY])
        if not locked[0]["ok"]:
            return []
        names = [str(row["name"]) for row in await tx.execute_query_dict(_CHANGED)]
        for name in names:
            await tx.execute_script('ANALYZE "' + name.replace('"', '""') + '"')
    return names


class StatisticsKeeper:
    """`analyze_changed` every `interval` seconds (`ANALYTICS_PG_ANALYZE_SECONDS`, 0: never) on
    PostgreSQL, off the request path; nothing on SQLite (its planner reads no statistics the
    service would have to refresh).

    A new plan after an `ANALYZE` (this one's or autovacuum's) may add a float column's `SUM` (cost)
    in another order: two answers a moment apart can then differ in the last bits of a cost."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.interval > 0 and dialect() == "postgres":
            self._task = asyncio.create_task(self._loop(), name="pg-statistics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                # Shielded: stopping waits for a round in flight instead of cancelling its ANALYZE.
                await asyncio.shield(analyze_changed())
            except Exception as exc:  # the database away: the next round tries again
                log.warning("ANALYZE round failed: %s", type(exc).__name__)
