"""A write in progress does not hold up the API's reads: on SQLite ingestion has its own connection
(WAL lets a reader and the writer proceed at once) and its group gives the event loop a turn while
it waits (for the file lock, for another writer, between statements), on PostgreSQL a pool."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.ingest import IngestHooks, install_hooks
from tests.factories import bearer, conversation


class Held(IngestHooks):
    """Holds the writer at the start of each group until released (off the event loop)."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

    def group_started(self, batches: int) -> None:
        self.inside.set()
        self.release.wait(10)


@pytest.fixture
def held() -> Iterator[Held]:
    hooks = Held()
    previous = install_hooks(hooks)
    try:
        yield hooks
    finally:
        hooks.release.set()
        install_hooks(previous)


async def test_a_read_is_answered_while_a_group_is_being_written(
    client: httpx.AsyncClient, held: Held
) -> None:
    inside, release = held.inside, held.release
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
