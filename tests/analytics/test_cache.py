"""The query cache: repeated questions are answered once, ingestion invalidates, errors are not kept."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from app.analytics import cache, catalog
from app.analytics.answers import Question
from app.analytics.catalog import Metric
from app.analytics.ranges import RangeParams, ResolvedRange, resolve_range
from app.analytics.scope import Scope
from app.config import get_settings
from app.db import Readers
from app.vocabulary import Compare

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
TIMEOUT_US = 30 * 60 * 1_000_000


@dataclasses.dataclass(frozen=True)
class Answer:
    n: int
    data: tuple[int, ...] = ()


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "query_cache_seconds", 60.0)
    cache.clear()


def _question(days: int = 7, scope: Scope = Scope(None)) -> Question:
    r: ResolvedRange = resolve_range(RangeParams(days=days), NOW)
    return Question(r, scope, NOW, TIMEOUT_US)


NO_DB = Readers(main=None, side=None)  # type: ignore[arg-type]  # the fake answers read nothing


async def test_same_question_is_computed_once_even_concurrently(enabled: None) -> None:
    calls = 0

    async def query(db: Readers, q: Question) -> Answer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return Answer(calls, (1, 2))

    metric = Metric("test", query, Answer, "Test")
    results = await asyncio.gather(*(cache.cached_query(metric, NO_DB, _question()) for _ in range(10)))
    assert calls == 1 and all(r == Answer(1, (1, 2)) for r in results)
    with pytest.raises(dataclasses.FrozenInstanceError):
        results[0].data = (1, 2, 3)  # type: ignore[misc]  # no caller can change another's answer
    assert (await cache.cached_query(metric, NO_DB, _question())).data == (1, 2)
    await cache.cached_query(metric, NO_DB, _question(8))
    await cache.cached_query(metric, NO_DB, _question(scope=Scope(frozenset({"b"}))))
    assert calls == 3  # another range, another scope: other answers
    cache.note_data_changed()
    assert (await cache.cached_query(metric, NO_DB, _question())).n == 4


async def test_errors_are_not_cached(enabled: None) -> None:
    calls = 0

    async def query(db: Readers, q: Question) -> Answer:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database away")
        return Answer(1)

    metric = Metric("test", query, Answer, "Test")
    with pytest.raises(RuntimeError):
        await cache.cached_query(metric, NO_DB, _question())
    assert await cache.cached_query(metric, NO_DB, _question()) == Answer(1)


async def test_zero_seconds_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "query_cache_seconds", 0.0)
    calls = 0

    async def query(db: Readers, q: Question) -> Answer:
        nonlocal calls
        calls += 1
        return Answer(calls)

    metric = Metric("test", query, Answer, "Test")
    for _ in range(3):
        await cache.cached_query(metric, NO_DB, _question())
    assert calls == 3


async def test_ingesting_drops_cached_answers(db: str, enabled: None) -> None:
    import uuid

    from app.auth import Principal
    from app.db import readers
    from app.ingest import ingest_events

    r = resolve_range(RangeParams(start_date="2025-05-01", end_date="2025-06-01"), NOW)
    q = Question(r, Scope(None), NOW, TIMEOUT_US)
    before = await cache.cached_query(catalog.USAGE, readers(), q)
    assert before.total_conversations == 0
    ev = {
        "type": "conversation_started",
        "timestamp": "2025-05-20T10:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
    }
    await ingest_events([ev], Principal("t", frozenset({"admin"})), now=NOW)
    after = await cache.cached_query(catalog.USAGE, readers(), q)
    assert after.total_conversations == 1


async def test_compare_is_part_of_the_key_where_the_metric_compares(enabled: None) -> None:
    """`/usage` with and without `compare` are two answers; a route that ignores `compare` is one."""
    calls = 0

    async def query(db: Readers, q: Question) -> Answer:
        nonlocal calls
        calls += 1
        return Answer(calls)

    plain = Metric("plain", query, Answer, "Plain")
    compared = Metric("compared", query, Answer, "Compared", comparable=True)
    without = _question()
    with_compare = dataclasses.replace(without, compare=Compare.PREVIOUS_PERIOD)
    first = await cache.cached_query(compared, NO_DB, without)
    assert first.comparison is None  # type: ignore[attr-defined]
    second = await cache.cached_query(compared, NO_DB, with_compare)
    assert second.comparison is not None and second.comparison.n == 3  # type: ignore[attr-defined]
    assert second.change.n == (2 - 3) / 3  # type: ignore[attr-defined]
    assert calls == 3  # the first answer, then the current and the comparison answers
    assert (await cache.cached_query(plain, NO_DB, without)) == (
        await cache.cached_query(plain, NO_DB, with_compare)
    )
    assert calls == 4
