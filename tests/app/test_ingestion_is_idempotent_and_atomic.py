"""Ingestion: idempotency, atomic batches, order independence, conflicts, bounds (API.md section 4)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.db import connection
from app.errors import InvalidBody
from app.ingest import ingest_events
from tests.factories import ADMIN, clear_ingested, conversation, count, iso, snapshot

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def test_duplicates_are_acknowledged_and_not_stored_twice(db: str) -> None:
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    evs = conversation(bot, user, NOW - timedelta(hours=2), 4)
    first = await ingest_events(evs, ADMIN, now=NOW)
    assert (first.accepted, first.duplicates) == (len(evs), 0)
    before = await snapshot()
    again = await ingest_events([*evs, evs[0]], ADMIN, now=NOW)
    assert (again.accepted, again.duplicates) == (0, len(evs) + 1)
    assert await snapshot() == before
    assert await count("events") == len(evs)
    rows = await connection().execute_query_dict("SELECT messages FROM conversations")
    assert rows[0]["messages"] == 4


async def test_repeated_id_inside_one_batch_counts_as_duplicate(db: str) -> None:
    evs = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=1), 2)
    result = await ingest_events([*evs, evs[1]], ADMIN, now=NOW)
    assert (result.accepted, result.duplicates) == (len(evs), 1)
    rows = await connection().execute_query_dict("SELECT messages FROM conversations")
    assert rows[0]["messages"] == 2


async def test_a_batch_with_one_bad_event_stores_nothing_and_names_the_index(db: str) -> None:
    evs = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=1), 3)
    evs[2]["role"] = "robot"
    evs[3]["timestamp"] = "yesterday"
    with pytest.raises(InvalidBody) as err:
        await ingest_events(evs, ADMIN, now=NOW)
    assert err.value.details == [
        {"index": 2, "field": "role", "message": "role must be 'user' or 'bot'"},
        {
            "index": 3,
            "field": "timestamp",
            "message": "timestamp must be an RFC 3339 datetime with an offset",
        },
    ]
    assert await count("events") == 0 and await count("conversations") == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"type": "click"}, "type"),
        ({"conversation_id": "not-a-uuid"}, "conversation_id"),
        ({"bot_id": None}, "bot_id"),
        ({"user_id": None}, "user_id"),
        ({"timestamp": "2025-03-01T10:00:00"}, "timestamp"),
        ({"id": "123"}, "id"),
        ({"score": 6, "type": "satisfaction"}, "score"),
        ({"score": True, "type": "satisfaction"}, "score"),
        ({"comment": "x" * 2001, "type": "satisfaction", "score": 3}, "comment"),
        ({"type": "conversation_ended", "resolution": "won"}, "resolution"),
        ({"type": "message", "role": "bot", "latency_ms": -1}, "latency_ms"),
        ({"type": "message", "role": "bot", "tokens": 1.5}, "tokens"),
        ({"type": "message", "role": "bot", "fallback": "yes"}, "fallback"),
        ({"type": "message", "role": "bot", "cost": -0.01}, "cost"),
        ({"type": "message", "role": "bot", "cost": "0.5"}, "cost"),
        ({"type": "message", "role": "bot", "cost": True}, "cost"),
        ({"type": "message", "role": "bot", "cost": float("nan")}, "cost"),
        ({"type": "message", "role": "bot", "cost": float("inf")}, "cost"),
        ({"type": "message", "role": "bot", "cost": 10**400}, "cost"),
        ({"type": "message", "role": "bot", "model": "m" * 101}, "model"),
        ({"type": "message", "role": "bot", "model": 7}, "model"),
        ({"type": "conversation_ended", "resolution": "escalated", "reason": "r" * 101}, "reason"),
        ({"type": "conversation_ended", "resolution": "escalated", "reason": ["x"]}, "reason"),
    ],
)
async def test_each_bad_field_is_named(db: str, patch: dict[str, Any], field: str) -> None:
    ev = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=1), 0, end=None)[0]
    ev.update(patch)
    ev = {k: v for k, v in ev.items() if v is not None}
    with pytest.raises(InvalidBody) as err:
        await ingest_events([ev], ADMIN, now=NOW)
    assert [(d["index"], d["field"]) for d in err.value.details] == [(0, field)]


async def test_model_cost_and_reason_lengths_count_code_points_and_other_types_ignore_them(db: str) -> None:
    bot, user, conv = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    base = {"conversation_id": conv, "bot_id": bot, "user_id": user, "timestamp": "2025-03-01T10:00:00Z"}
    events = [
        # 100 code points (400 bytes in UTF-8): accepted; an integer cost is a number.
        {**base, "type": "message", "role": "bot", "model": "😀" * 100, "cost": 3},
        {**base, "type": "conversation_ended", "resolution": "escalated", "reason": "é" * 100},
        # Ignored on other types, like unknown fields (even invalid values).
        {**base, "type": "conversation_started", "model": 5, "reason": 5, "cost": "x"},
        {**base, "type": "message", "role": "user", "reason": ["x"]},
        {**base, "type": "satisfaction", "score": 4, "model": None, "cost": -1},
    ]
    assert (await ingest_events(events, ADMIN, now=NOW)).accepted == 5
    rows = await connection().execute_query_dict(
        "SELECT type, model, cost, reason FROM events ORDER BY type, role"
    )
    stored = {(r["type"], r["model"], r["cost"], r["reason"]) for r in rows}
    assert ("message", "😀" * 100, 3.0, None) in stored
    assert ("conversation_ended", None, None, "é" * 100) in stored
    assert ("conversation_started", None, None, None) in stored


async def test_future_timestamps_over_24_hours_are_rejected(db: str) -> None:
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    ok = conversation(bot, user, NOW + timedelta(hours=23), 0, end=None)
    assert (await ingest_events(ok, ADMIN, now=NOW)).accepted == 1
    late = conversation(bot, user, NOW + timedelta(hours=24, seconds=1), 0, end=None)
    with pytest.raises(InvalidBody) as err:
        await ingest_events(late, ADMIN, now=NOW)
    assert err.value.details[0]["field"] == "timestamp"


async def test_an_event_naming_another_bot_or_user_is_rejected(db: str) -> None:
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    evs = conversation(bot, user, NOW - timedelta(hours=1), 2)
    await ingest_events(evs[:2], ADMIN, now=NOW)
    other_bot = {**evs[2], "bot_id": str(uuid.uuid4())}
    other_user = {**evs[3], "user_id": str(uuid.uuid4())}
    with pytest.raises(InvalidBody) as err:
        await ingest_events([evs[2], other_bot | {"id": str(uuid.uuid4())}, other_user], ADMIN, now=NOW)
    assert [(d["index"], d["field"]) for d in err.value.details] == [(1, "bot_id"), (2, "user_id")]
    assert await count("events") == 2


async def test_batch_limits(db: str) -> None:
    evs = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=1), 0, end=None) * 1001
    with pytest.raises(InvalidBody):
        await ingest_events(evs, ADMIN, now=NOW)
    with pytest.raises(InvalidBody):
        await ingest_events([], ADMIN, now=NOW)


async def test_out_of_order_and_late_delivery_gives_the_same_state(db: str) -> None:
    rng = random.Random(42)
    bots = [str(uuid.uuid4()) for _ in range(3)]
    users = [str(uuid.uuid4()) for _ in range(8)]
    events: list[dict[str, Any]] = []
    for i in range(40):
        start = NOW - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 1440))
        evs = conversation(
            rng.choice(bots),
            rng.choice(users),
            start,
            rng.randint(0, 7),
            end=rng.choice(["resolved", "escalated", "abandoned", None]),
            score=rng.choice([None, 1, 4, 5]),
        )
        if i % 5 == 0:  # a second rating with the same timestamp: the greater id must win
            later = {**evs[-1], "id": str(uuid.uuid4()), "type": "satisfaction", "score": 2}
            later.pop("resolution", None)
            later["bot_id"] = evs[0]["bot_id"]
            later["user_id"] = evs[0]["user_id"]
            evs.append(later)
        if i % 7 == 0:  # no conversation_started at all
            evs = evs[1:]
        events.extend(evs)
    in_order = sorted(events, key=lambda e: e["timestamp"])
    for i in range(0, len(in_order), 50):
        await ingest_events(in_order[i : i + 50], ADMIN, now=NOW)
    expected = await snapshot()
    await clear_ingested()
    shuffled = events[:]
    rng.shuffle(shuffled)
    for i in range(0, len(shuffled), 37):
        await ingest_events(shuffled[i : i + 37], ADMIN, now=NOW)
    assert await snapshot() == expected
    # The chains and the rollup agree with a recomputation from scratch.
    rows = expected["user_slots"]
    last: dict[tuple[str, str], int] = {}
    for row in rows:
        assert row["prev_slot"] == last.get((row["bot"], row["usr"]))
        last[(row["bot"], row["usr"])] = row["slot"]
    last_all: dict[str, int] = {}
    for row in expected["user_slots_all"]:
        assert row["prev_slot"] == last_all.get(row["usr"])
        last_all[row["usr"]] = row["slot"]
    convs = expected["conversations"]
    assert sum(r["conversations"] for r in expected["conv_slots"]) == len(convs)
    assert sum(r["messages"] for r in expected["conv_slots"]) == sum(c["messages"] for c in convs)
    assert sum(r["ended"] for r in expected["conv_slots"]) == sum(1 for c in convs if c["end_us"] is not None)


async def test_latest_end_and_rating_win_whatever_the_arrival_order(db: str) -> None:
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    start = NOW - timedelta(hours=3)
    evs = conversation(bot, user, start, 2, end="escalated", score=2)
    conv = evs[0]["conversation_id"]
    later_end = {
        "id": str(uuid.uuid4()),
        "type": "conversation_ended",
        "resolution": "resolved",
        "timestamp": iso(start + timedelta(hours=1)),
        "conversation_id": conv,
    }
    later_score = {
        **evs[-1],
        "id": str(uuid.uuid4()),
        "score": 5,
        "timestamp": iso(start + timedelta(hours=1)),
    }
    await ingest_events([later_end, later_score], ADMIN, now=NOW)
    await ingest_events(evs, ADMIN, now=NOW)
    row = (
        await connection().execute_query_dict(
            "SELECT resolution, rating_score, started_us FROM conversations"
        )
    )[0]
    assert row["resolution"] == "resolved" and row["rating_score"] == 5
    assert row["started_us"] == int(start.timestamp()) * 1_000_000
