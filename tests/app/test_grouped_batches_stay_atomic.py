"""Group commit: batches that arrive together are written in one transaction, each still atomic,
idempotent and answered on its own (API.md section 4)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import app.ingest as ingest
from app.auth import Principal
from app.db import connection
from app.errors import Forbidden, InvalidBody
from app.ingest import IngestResult, ingest_events
from tests.factories import ADMIN, clear_ingested, conversation, count, snapshot

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def groups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of batches in each group the writer applies (SQLite: on the writer's thread)."""
    sizes: list[int] = []
    on_thread = ingest._sqlite_group
    awaited = ingest._awaited_group

    def recording(db: Any, jobs: list[Any]) -> Any:
        sizes.append(len(jobs))
        return on_thread(db, jobs)

    async def recording_awaited(jobs: list[Any]) -> Any:
        sizes.append(len(jobs))
        return await awaited(jobs)

    monkeypatch.setattr(ingest, "_sqlite_group", recording)
    monkeypatch.setattr(ingest, "_awaited_group", recording_awaited)
    yield sizes


async def _concurrently(*batches: list[dict[str, Any]]) -> list[IngestResult | BaseException]:
    return list(
        await asyncio.gather(*(ingest_events(b, ADMIN, now=NOW) for b in batches), return_exceptions=True)
    )


async def test_a_bad_batch_in_a_group_is_refused_alone(db: str, groups: list[int]) -> None:
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    first = conversation(bot, user, NOW - timedelta(hours=3), 4, score=5)
    second = conversation(bot, str(uuid.uuid4()), NOW - timedelta(hours=2), 3, end="escalated")
    # Valid alone, but the conversation of `first` (same group, earlier) belongs to `bot`.
    conv = first[0]["conversation_id"]
    bad = conversation(str(uuid.uuid4()), user, NOW - timedelta(hours=1), 2)
    bad += [{**first[1], "id": str(uuid.uuid4()), "bot_id": str(uuid.uuid4())}]
    bad[-1]["conversation_id"] = conv
    third = conversation(bot, user, NOW - timedelta(minutes=30), 2, end=None)

    results = await _concurrently(first, second, bad, third)

    assert groups == [4]
    assert results[0] == IngestResult(accepted=len(first), duplicates=0)
    assert results[1] == IngestResult(accepted=len(second), duplicates=0)
    assert results[3] == IngestResult(accepted=len(third), duplicates=0)
    refused = results[2]
    assert isinstance(refused, InvalidBody)
    assert refused.details == [
        {"index": len(bad) - 1, "field": "bot_id", "message": "conversation belongs to another bot"}
    ]
    assert await count("events") == len(first) + len(second) + len(third)
    grouped = await snapshot()
    assert not [e for e in grouped["events"] if e["id"] in {b["id"] for b in bad}]

    # The same as the valid batches applied one by one.
    await clear_ingested()
    for batch in (first, second, third):
        await ingest_events(batch, ADMIN, now=NOW)
    assert await snapshot() == grouped


async def test_an_end_from_another_bots_credential_in_the_same_group_is_refused_alone(
    db: str, groups: list[int]
) -> None:
    """Bot B's conversation is created by an earlier batch of the same group, so it is not stored
    yet when the group starts: a credential scoped to bot A still may not end it."""
    bot_a, bot_b = str(uuid.uuid4()), str(uuid.uuid4())
    scoped_a = Principal(subject="a", roles=frozenset({"analytics_ingest"}), bot_scope=frozenset({bot_a}))
    first = conversation(bot_b, str(uuid.uuid4()), NOW - timedelta(minutes=20), 2, end=None)
    own = conversation(bot_a, str(uuid.uuid4()), NOW - timedelta(minutes=10), 1, end=None)
    end_b = {
        "id": str(uuid.uuid4()),
        "type": "conversation_ended",
        "timestamp": (NOW - timedelta(minutes=1)).isoformat(),
        "conversation_id": first[0]["conversation_id"],
        "resolution": "escalated",
    }
    results = list(
        await asyncio.gather(
            ingest_events(first, ADMIN, now=NOW),
            ingest_events([*own, end_b], scoped_a, now=NOW),
            ingest_events(own, scoped_a, now=NOW),
            return_exceptions=True,
        )
    )
    assert groups == [3]
    assert results[0] == IngestResult(accepted=len(first), duplicates=0)
    assert isinstance(results[1], Forbidden)
    assert bot_b not in results[1].message
    assert results[2] == IngestResult(accepted=len(own), duplicates=0)
    assert await count("events") == len(first) + len(own)
    rows = await connection().execute_query_dict("SELECT end_us, resolution FROM conversations")
    assert rows == [{"end_us": None, "resolution": None}] * 2


async def test_a_duplicate_id_across_concurrent_batches_is_stored_once(db: str, groups: list[int]) -> None:
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    evs = conversation(bot, user, NOW - timedelta(hours=2), 6)
    a, b = evs[:5], evs[4:]  # evs[4] (a message) is in both
    results = await _concurrently(a, b)
    assert groups == [2]
    assert results == [
        IngestResult(accepted=5, duplicates=0),
        IngestResult(accepted=len(b) - 1, duplicates=1),
    ]
    assert await count("events") == len(evs)
    rows = await connection().execute_query_dict(
        "SELECT messages, user_messages, bot_messages FROM conversations"
    )
    assert rows == [{"messages": 6, "user_messages": 3, "bot_messages": 3}]
    slots = await connection().execute_query_dict("SELECT SUM(messages) AS n FROM message_slots")
    assert slots[0]["n"] == 6

    # Sent again, together: all duplicates, nothing changes.
    before = await snapshot()
    again = await _concurrently(b, a, evs)
    assert [r.accepted for r in again if isinstance(r, IngestResult)] == [0, 0, 0]
    assert [r.duplicates for r in again if isinstance(r, IngestResult)] == [len(b), len(a), len(evs)]
    assert await snapshot() == before


async def test_a_failing_group_retries_each_batch_alone(
    db: str, groups: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error while writing a group fails only the batch that causes it."""
    bot = str(uuid.uuid4())
    ok1 = conversation(bot, str(uuid.uuid4()), NOW - timedelta(hours=2), 2)
    poison = conversation(bot, str(uuid.uuid4()), NOW - timedelta(hours=1), 2)
    ok2 = conversation(bot, str(uuid.uuid4()), NOW - timedelta(minutes=20), 1)
    poison_id = poison[1]["id"]
    original = ingest._Group.write

    def failing(self: Any) -> Any:
        yield from original(self)  # written, then rolled back
        if any(e.id == poison_id for e, *_ in self.rows):
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest._Group, "write", failing)
    results = await _concurrently(ok1, poison, ok2)
    assert groups == [3, 1, 1, 1]
    assert results[0] == IngestResult(accepted=len(ok1), duplicates=0)
    assert isinstance(results[1], RuntimeError)
    assert results[2] == IngestResult(accepted=len(ok2), duplicates=0)
    assert await count("events") == len(ok1) + len(ok2)
    assert await count("conversations") == 2


async def test_batches_arriving_while_a_group_is_written_form_the_next(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer holds the first batch alone; the seven sent while it writes form the next group."""
    bot = str(uuid.uuid4())
    convs = [conversation(bot, str(uuid.uuid4()), NOW - timedelta(minutes=10 * i), 3) for i in range(1, 9)]
    sizes: list[int] = []
    writing_first = threading.Event()  # set on the writer's side (SQLite: its thread)
    release_first = threading.Event()
    all_queued = asyncio.Event()
    submitted: list[Any] = []
    on_thread, awaited, submit = ingest._sqlite_group, ingest._awaited_group, ingest._Writer.submit

    def gated(db: Any, jobs: list[Any]) -> Any:
        sizes.append(len(jobs))
        if len(sizes) == 1:
            writing_first.set()
            assert release_first.wait(10), "the test never released the first group"
        return on_thread(db, jobs)

    async def gated_awaited(jobs: list[Any]) -> Any:
        sizes.append(len(jobs))
        if len(sizes) == 1:
            writing_first.set()
            assert await asyncio.to_thread(release_first.wait, 10), "the first group was never released"
        return await awaited(jobs)

    def counting_submit(self: Any, job: Any) -> None:
        submit(self, job)
        submitted.append(job)
        if len(submitted) == len(convs):
            all_queued.set()

    monkeypatch.setattr(ingest, "_sqlite_group", gated)
    monkeypatch.setattr(ingest, "_awaited_group", gated_awaited)
    monkeypatch.setattr(ingest._Writer, "submit", counting_submit)

    first = asyncio.ensure_future(ingest_events(convs[0], ADMIN, now=NOW))
    async with asyncio.timeout(10):  # hang guards only
        assert await asyncio.to_thread(writing_first.wait, 10)  # the writer has taken the first alone
        rest = [asyncio.ensure_future(ingest_events(c, ADMIN, now=NOW)) for c in convs[1:]]
        await all_queued.wait()  # all seven are queued behind it
    assert sizes == [1]
    release_first.set()
    assert (await first).accepted == len(convs[0])
    assert [(await r).accepted for r in rest] == [len(c) for c in convs[1:]]
    assert sizes == [1, 7]
    assert await count("conversations") == len(convs)
