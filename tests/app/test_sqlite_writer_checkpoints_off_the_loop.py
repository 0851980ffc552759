"""SQLite: ingestion's groups run on the event loop's thread on a connection that never checkpoints
in a commit; after every CHECKPOINT_EVENTS events a passive checkpoint runs on the ingestion
connection's own thread, and the events are all there."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections

from app.db import dialect
from app.ingest import ingest_events, sqlite_writer, writer
from app.sqlite_client import LoopSqliteClient
from tests.factories import ADMIN, conversation, count

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def test_the_wal_is_checkpointed_beside_the_writes(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if dialect() != "sqlite":
        pytest.skip("SQLite's writer only")
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_EVENTS", 10)
    scripts: list[str] = []
    original = LoopSqliteClient.execute_script

    async def spy(self: LoopSqliteClient, query: str) -> Any:
        scripts.append(f"{self.connection_name}: {query}")
        return await original(self, query)

    monkeypatch.setattr(LoopSqliteClient, "execute_script", spy)
    convs = [
        conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=i + 1), 4) for i in range(4)
    ]
    assert (await ingest_events(convs[0], ADMIN, now=NOW)).accepted == len(convs[0])
    own = writer._writers[asyncio.get_running_loop()].sqlite
    if own.checkpoint is not None:
        await own.checkpoint
    scripts.clear()
    own.since_checkpoint = 0
    expected, since = 0, 0
    for events in convs[1:]:
        assert (await ingest_events(events, ADMIN, now=NOW)).accepted == len(events)
        if own.checkpoint is not None:
            await own.checkpoint
        since += len(events)
        if since >= 10:
            expected, since = expected + 1, 0
    assert expected >= 1
    assert scripts == ["ingest: PRAGMA wal_checkpoint(PASSIVE)"] * expected
    assert own.db is not None and own.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert isinstance(connections.get("ingest"), LoopSqliteClient)
    assert await count("events") == sum(len(c) for c in convs)
