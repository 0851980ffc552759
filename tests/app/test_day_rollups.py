"""The day rollups of migration 0007_usage_speed (app/models/days.py): what ingestion keeps in them,
batch by batch in shuffled order with late and duplicate events, equals the migration's backfill from
the slot rollups and chains; and the chain pairs stay exact when a late event lands between two stored
activities of a user (the stored successor is relinked)."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from app.db import connection
from app.ingest import ingest_events
from app.migrations import __name__ as migrations_package
from tests.dataset import DATASET, NOW
from tests.factories import ADMIN, new_id, stamp

TABLES = {
    "message_days": "day, bot_id, messages, user_messages, bot_messages, fallback_messages",
    "conv_days": "day, bot_id, conversations, messages, ended, resolved, escalated, abandoned, "
    "ended_duration_us, open, open_duration_us",
    "user_day_pairs": "bot_id, day, prev_day, users",
    "user_day_pairs_all": "day, prev_day, users",
}


async def _day_rows() -> dict[str, list[dict[str, Any]]]:
    conn = connection()
    out: dict[str, list[dict[str, Any]]] = {}
    for table, columns in TABLES.items():
        rows = await conn.execute_query_dict(f"SELECT {columns} FROM {table} ORDER BY {columns}")
        # A sum that went back to zero stays as a row of zeros: not a difference.
        out[table] = [
            {k: int(v) for k, v in r.items()}
            for r in rows
            if any(int(v) for k, v in r.items() if k not in ("day", "bot_id", "prev_day"))
        ]
    return out


async def _rebuilt() -> dict[str, list[dict[str, Any]]]:
    migration = importlib.import_module(f"{migrations_package}.0007_usage_speed")
    conn = connection()
    for table in TABLES:
        await conn.execute_script(f"DELETE FROM {table}")
    for statement in migration._BACKFILL:
        await conn.execute_script(statement)
    return await _day_rows()


async def test_ingestion_keeps_the_day_rollups_equal_to_the_backfill(db: str) -> None:
    for batch in DATASET.batches:
        await ingest_events(batch, ADMIN, now=NOW)
    written = await _day_rows()
    assert all(written.values())
    assert written == await _rebuilt()


def _message(conv: str, bot: str, user: str, minutes: int) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": "message",
        "conversation_id": conv,
        "bot_id": bot,
        "user_id": user,
        "role": "user",
        "timestamp": stamp(NOW - timedelta(minutes=minutes)),
    }


async def test_late_activity_between_two_days_of_a_user_relinks_its_successor(db: str) -> None:
    bot, other, user, conv = new_id(), new_id(), new_id(), new_id()
    day = 24 * 60
    # Stored first: activity 5 days and 1 day ago; then, late, 3 days ago with another bot and 3.5
    # days ago, 2 and 4 days ago with the first bot: new rows between two stored ones of the chain.
    await ingest_events([_message(conv, bot, user, 5 * day), _message(conv, bot, user, day)], ADMIN, now=NOW)
    await ingest_events([_message(new_id(), other, user, 3 * day)], ADMIN, now=NOW)
    await ingest_events(
        [_message(conv, bot, user, 4 * day), _message(conv, bot, user, 2 * day + 30)], ADMIN, now=NOW
    )
    await ingest_events([_message(conv, bot, user, 3 * day + day // 2)], ADMIN, now=NOW)
    written = await _day_rows()
    assert written == await _rebuilt()
    assert sum(r["users"] for r in written["user_day_pairs_all"]) == 6
