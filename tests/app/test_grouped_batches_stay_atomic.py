"""Group commit: batches that arrive together are written in one transaction, each still atomic,
idempotent and answered on its own (API.md section 4)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.auth import Principal
from app.db import connection
from app.errors import Forbidden, InvalidBody
from app.ingest import IngestHooks, IngestResult, ingest_events, install_hooks
from tests.factories import ADMIN, clear_ingested, conversation, count, snapshot

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@contextlib.contextmanager
def installed(hooks: IngestHooks) -> Iterator[None]:
    previous = install_hooks(hooks)
    try:
        yield
    finally:
        install_hooks(previous)


class Recording(IngestHooks):
    """The number of batches in each group the writer applies (retries included)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def group_started(self, batches: int) -> None:
        self.sizes.append(batches)


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """The number of batches in each group the writer applies."""
    recording = Recording()
    with installed(recording):
        yield recording.sizes


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


async def test_a_failing_group_retries_each_batch_alone(db: str) -> None:
    """A database error while writing a group fails only the batch that causes it."""
    bot = str(uuid.uuid4())
    ok1 = conversation(bot, str(uuid.uuid4()), NOW - timedelta(hours=2), 2)
    poison = conversation(bot, str(uuid.uuid4()), NOW - timedelta(hours=1), 2)
    ok2 = conversation(bot, str(uuid.uuid4()), NOW - timedelta(minutes=20), 1)
    poison_id = poison[1]["id"]

    class Failing(Recording):
        def group_written(self, event_ids: list[str]) -> None:
            if poison_id in event_ids:  # written, then rolled back
                raise RuntimeError("disk on fire")

    failing = Failing()
    with installed(failing):
        results = await _concurrently(ok1, poison, ok2)
    assert failing.sizes == [3, 1, 1, 1]
    assert results[0] == IngestResult(accepted=len(ok1), duplicates=0)
    assert isinstance(results[1], RuntimeError)
    assert results[2] == IngestResult(accepted=len(ok2), duplicates=0)
    assert await count("events") == len(ok1) + len(ok2)
    assert await count("conversations") == 2


async def test_batches_arriving_while_a_group_is_written_form_the_next(db: str) -> None:
    """The writer holds the first batch alone; the seven sent while it writes form the next group."""
    bot = str(uuid.uuid4())
    convs = [conversation(bot, str(uuid.uuid4()), NOW - timedelta(minutes=10 * i), 3) for i in range(1, 9)]
    writing_first = threading.Event()  # set on the writer's side (off the event loop)
    release_first = threading.Event()
    all_queued = asyncio.Event()

    class Gated(Recording):
        queued = 0

        def group_started(self, batches: int) -> None:
            super().group_started(batches)
            if len(self.sizes) == 1:
                writing_first.set()
                assert release_first.wait(10), "the test never released the first group"

        def batch_queued(self, events: int) -> None:
            self.queued += 1
            if self.queued == len(convs):
                all_queued.set()

    gated = Gated()
    sizes = gated.sizes
    with installed(gated):
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
