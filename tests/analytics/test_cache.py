"""The query cache: repeated questions are answered once, ingestion invalidates, errors are not kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from app.analytics import cache
from app.analytics.queries import Scope
from app.analytics.ranges import RangeParams, ResolvedRange, resolve_range
from app.config import get_settings

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "query_cache_seconds", 60.0)
    cache.clear()


def _range(days: int = 7) -> ResolvedRange:
    return resolve_range(RangeParams(days=days), NOW)


async def test_same_question_is_computed_once_even_concurrently(enabled: None) -> None:
    calls = 0

    async def query(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return {"n": calls, "data": [1, 2]}

    results = await asyncio.gather(
        *(cache.cached_query(query, _range(), Scope(None), NOW) for _ in range(10))
    )
    assert calls == 1 and all(r == {"n": 1, "data": [1, 2]} for r in results)
    results[0]["data"].append(3)  # callers get their own copy
    assert (await cache.cached_query(query, _range(), Scope(None), NOW))["data"] == [1, 2]
    await cache.cached_query(query, _range(8), Scope(None), NOW)
    await cache.cached_query(query, _range(), Scope(frozenset({"b"})), NOW)
    assert calls == 3  # another range, another scope: other answers
    cache.note_data_changed()
    assert (await cache.cached_query(query, _range(), Scope(None), NOW))["n"] == 4


async def test_errors_are_not_cached(enabled: None) -> None:
    calls = 0

    async def query(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database away")
        return {"ok": True}

    with pytest.raises(RuntimeError):
        await cache.cached_query(query, _range(), Scope(None), NOW)
    assert await cache.cached_query(query, _range(), Scope(None), NOW) == {"ok": True}


async def test_zero_seconds_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "query_cache_seconds", 0.0)
    calls = 0

    async def query(r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {}

    for _ in range(3):
        await cache.cached_query(query, _range(), Scope(None), NOW)
    assert calls == 3


async def test_ingesting_drops_cached_answers(db: str, enabled: None) -> None:
    import uuid

    from app.analytics.queries import usage
    from app.auth import Principal
    from app.ingest import ingest_events

    r = resolve_range(RangeParams(start_date="2025-05-01", end_date="2025-06-01"), NOW)
    before = await cache.cached_query(usage, r, Scope(None), NOW)
    assert before["total_conversations"] == 0
    ev = {
        "type": "conversation_started",
        "timestamp": "2025-05-20T10:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
    }
    await ingest_events([ev], Principal("t", frozenset({"admin"})), now=NOW)
    after = await cache.cached_query(usage, r, Scope(None), NOW)
    assert after["total_conversations"] == 1
