"""PostgreSQL: the service analyzes the tables that changed (app/pg_stats.py), so the planner has
statistics even on a server whose autovacuum is off (the load benchmark's retention statement
took 34-75 ms without them, 0.4 ms with)."""

from __future__ import annotations

import os
import uuid

import pytest

from app.db import connection
from app.pg_stats import StatisticsKeeper, analyze_changed

pytestmark = pytest.mark.skipif(
    os.environ.get("ANALYTICS_TEST_DB") != "postgres", reason="PostgreSQL's planner statistics"
)

ANALYZED = "SELECT last_analyze IS NOT NULL AS done, n_mod_since_analyze AS m FROM pg_stat_user_tables WHERE relname = $1"


async def test_a_table_changed_beyond_the_threshold_is_analyzed_once(db: str) -> None:
    await analyze_changed()  # whatever earlier tests left
    async with connection().acquire_connection() as raw:
        await raw.executemany(
            "INSERT INTO end_users (uuid, first_active_us) VALUES ($1, $2)",
            [(str(uuid.uuid4()), 1_700_000_000_000_000 + i) for i in range(300)],
        )
        await raw.execute("SELECT pg_stat_force_next_flush()")
        await raw.execute("SELECT 1")  # the flush happens at the end of a transaction
    assert "end_users" in await analyze_changed()
    rows = await connection().execute_query_dict(ANALYZED, ["end_users"])
    assert rows[0]["done"] and rows[0]["m"] == 0
    assert "end_users" not in await analyze_changed()


async def test_the_keeper_runs_on_postgres_and_stops(db: str) -> None:
    keeper = StatisticsKeeper(interval=0.01)
    await keeper.start()
    assert keeper._task is not None
    await keeper.stop()
    assert keeper._task is None
