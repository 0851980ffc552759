"""A write in progress does not hold up the API's reads: on SQLite ingestion has its own connection
and thread (WAL lets a reader and the writer proceed at once), on PostgreSQL a pool."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import app.ingest as ingest
from tests.factories import bearer, conversation


async def test_a_read_is_answered_while_a_group_is_being_written(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = threading.Event()
    release = threading.Event()
    on_thread, awaited = ingest._sqlite_group, ingest._awaited_group

    def held(db: Any, jobs: list[Any]) -> Any:  # SQLite: on the writer's thread
        inside.set()
        release.wait(10)
        return on_thread(db, jobs)

    async def held_awaited(jobs: list[Any]) -> Any:  # PostgreSQL
        inside.set()
        await asyncio.to_thread(release.wait, 10)
        return await awaited(jobs)

    monkeypatch.setattr(ingest, "_sqlite_group", held)
    monkeypatch.setattr(ingest, "_awaited_group", held_awaited)
    events = conversation(str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC) - timedelta(hours=1), 4)
    viewer = bearer(["analytics_viewer"])
    post = asyncio.ensure_future(
        client.post("/api/v1/analytics/events", json={"events": events}, headers=bearer(["admin"]))
    )
    try:
        for _ in range(500):
            if inside.is_set():
                break
            await asyncio.sleep(0.01)
        assert inside.is_set(), "the batch never reached the writer"
        # The writer is in the middle of its group: the read must not wait for it.
        during = await asyncio.wait_for(client.get("/api/v1/analytics/usage", headers=viewer), timeout=5)
        assert during.status_code == 200
        assert during.json()["total_conversations"] == 0  # nothing committed yet
    finally:
        release.set()
    done = await asyncio.wait_for(post, timeout=10)
    assert done.status_code == 200 and done.json() == {"accepted": len(events), "duplicates": 0}
    after = await client.get("/api/v1/analytics/usage", headers=viewer)
    assert after.json()["total_conversations"] == 1
