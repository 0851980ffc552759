"""Migrations 0002_insights and 0005_intents_speed fill their new rollups from the events stored before
them: on events without `model` and `cost` (all an older version stored), their statements rebuild
exactly what ingestion writes."""

from __future__ import annotations

from typing import Any

from app.db import connection
from app.ingest import ingest_events
from app.migrations import __name__ as migrations_package
from tests.dataset import DATASET, NOW
from tests.factories import ADMIN, snapshot

TABLES = ("model_slots", "latency_slots", "intent_slots")


def _older(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("model", "cost", "reason")}


def _backfill(name: str) -> list[str]:
    import importlib

    return list(importlib.import_module(f"{migrations_package}.{name}")._BACKFILL)


async def test_the_backfill_rebuilds_the_rollups_ingestion_writes(db: str) -> None:
    for batch in DATASET.batches:
        await ingest_events([_older(e) for e in batch], ADMIN, now=NOW)
    written = await snapshot()
    conn = connection()
    spend = "SELECT slot, bot_id, tokens FROM conv_slots ORDER BY slot, bot_id"
    slot_tokens = await conn.execute_query_dict(spend)
    for table in (*TABLES, "intent_convs", "intent_days"):
        await conn.execute_script(f"DELETE FROM {table}")
    await conn.execute_script("UPDATE conversations SET tokens = 0")
    await conn.execute_script("UPDATE conv_slots SET tokens = 0")
    for statement in (*_backfill("0002_insights"), *_backfill("0005_intents_speed")):
        await conn.execute_script(statement)
    rebuilt = await snapshot()
    for table in (*TABLES, "intent_convs", "intent_days", "conversations"):
        assert rebuilt[table] == written[table], table
    assert written["latency_slots"] and written["intent_convs"]
    for column in ("conversations", "resolved_conversations", "escalated_conversations"):
        assert any(r[column] for r in written["intent_slots"]), column
    assert await conn.execute_query_dict(spend) == slot_tokens
    assert any(int(r["tokens"]) for r in slot_tokens)


DAY_TABLES = ("model_days", "latency_days", "latency_day_bands")


async def test_the_day_levels_backfill_rebuilds_what_ingestion_writes(db: str) -> None:
    """Migration 0006_latency_bands fills the per-day rollups from the slot rollups (the bulk loader
    runs the same statements): equal to what ingestion writes, band numbers included."""
    import importlib

    migration = importlib.import_module(f"{migrations_package}.0006_latency_bands")
    for batch in DATASET.batches:
        await ingest_events(batch, ADMIN, now=NOW)
    written = await snapshot()
    conn = connection()
    for table in DAY_TABLES:
        await conn.execute_script(f"DELETE FROM {table}")
    for statement in migration.BACKFILL:
        await conn.execute_script(statement)
    rebuilt = await snapshot()
    for table in DAY_TABLES:
        assert written[table] and rebuilt[table] == written[table], table
