"""The bench bulk loader writes exactly the rows ingestion writes, in every table of the schema
(compared through the UUIDs; a table the loader does not fill fails the test).

~2,000 events: ingested through `app.ingest.ingest_events` in time-ordered batches of 500 into the
suite's database (SQLite, or PostgreSQL under ANALYTICS_TEST_DB=postgres), and bulk-loaded by
`bench.bulk_load` into a fresh SQLite file (in a subprocess: its migration must not touch this
process's Tortoise connections). Every derived table must come out the same.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.analytics.buckets import to_us
from app.auth import Principal
from app.db import connection
from app.ingest import ingest_events
from bench.datagen import Dataset, Params, time_ordered_events

REPO = Path(__file__).resolve().parents[2]
PARAMS = Params(bots=3, users=50, conversations=80, avg_messages=20, days=2, seed=5)
END = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
END_US = to_us(END)
NOW = END + timedelta(minutes=1)
NOW_US = END_US + 60_000_000
ADMIN = Principal(subject="bench-test", roles=frozenset({"admin"}))

SKIP_TABLES = {"tortoise_migrations", "sqlite_sequence", "api_keys", "reports"}
REFS = {"bot_id": "bots", "user_id": "end_users", "conversation_id": "conversations"}


def _views(path: Path) -> dict[str, str]:
    """One query per table of the schema, the same text on both backends: every column but a
    surrogate integer `id`, with row-id references replaced by the UUIDs they stand for."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        out = {}
        for table in tables:
            if table in SKIP_TABLES:
                continue
            cols, joins = [], []
            for _cid, name, ctype, _nn, _default, pk in conn.execute(f'PRAGMA table_info("{table}")'):
                if name == "id" and pk and ctype.upper() == "INTEGER":
                    continue
                if name in REFS:
                    alias = f"r_{name}"
                    joins.append(f'LEFT JOIN "{REFS[name]}" {alias} ON {alias}.id = t."{name}"')
                    # an id with no row (bot 0 of the per-day latency rollups: every bot) as itself
                    cols.append(f'COALESCE({alias}.uuid, CAST(t."{name}" AS TEXT))')
                else:
                    cols.append(f't."{name}"')
            out[table] = f'SELECT {", ".join(cols)} FROM "{table}" t {" ".join(joins)}'
        return out
    finally:
        conn.close()


def _norm(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # booleans (events.fallback): SQLite 0/1, PostgreSQL bool; PostgreSQL sums may be Decimal
    return tuple(int(v) if isinstance(v, bool | int) or type(v).__name__ == "Decimal" else v for v in row)


def _bulk_tables(path: Path, views: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(_norm(tuple(r)) for r in conn.execute(q)) for t, q in views.items()}
    finally:
        conn.close()


async def _ingested_tables(views: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    conn = connection()
    out = {}
    for t, q in views.items():
        _, rows = await conn.execute_query(q)
        out[t] = sorted(_norm(tuple(r.values()) if hasattr(r, "values") else tuple(r)) for r in rows)
    return out


async def test_bulk_loader_writes_what_ingestion_writes(db: str, tmp_path: Path) -> None:
    events = time_ordered_events(Dataset(PARAMS, END_US))
    assert 1500 <= len(events) <= 3000
    for i in range(0, len(events), 500):
        result = await ingest_events(events[i : i + 500], ADMIN, now=NOW)
        assert result.duplicates == 0

    path = tmp_path / "bulk.sqlite3"
    p = PARAMS
    await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable, "-m", "bench.bulk_load", "--out", str(path),
            "--bots", str(p.bots), "--users", str(p.users), "--conversations", str(p.conversations),
            "--avg-messages", str(p.avg_messages), "--days", str(p.days), "--seed", str(p.seed),
            "--end-us", str(END_US), "--received-us", str(NOW_US),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )  # fmt: skip
    views = _views(path)
    bulk = _bulk_tables(path, views)
    ingested = await _ingested_tables(views)
    assert len(bulk["events"]) == len(ingested["events"]) == len(events)
    for table in ("bots", "end_users", "bot_users", "conversations", "message_slots", "user_slots"):
        assert bulk[table], f"{table} should not be empty"
    conv = sqlite3.connect(path)
    assert conv.execute("SELECT COUNT(*) FROM conversations WHERE end_us IS NULL").fetchone()[0] > 0
    assert conv.execute("SELECT COUNT(*) FROM conversations WHERE rating_us IS NOT NULL").fetchone()[0] > 0
    conv.close()
    for table in views:
        assert bulk[table] == ingested[table], f"{table} differs between bulk load and ingestion"
