"""`/usage` and its series read whole UTC days from the day rollups (app/models/days.py) and the slots
around them from the 15-minute ones: checked against tests/analytics/reference.py on a small set made
for the day arithmetic, with bot-scoped callers and a late event that relinks the activity chains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.analytics.scope import Scope
from app.ingest import ingest_events
from tests.analytics import reference as ref
from tests.analytics.test_queries_match_the_reference import q, resolve
from tests.factories import ADMIN, assert_same, new_id, stamp

NOW = datetime(2025, 3, 20, 11, 0, tzinfo=UTC)
BOT_A, BOT_B = new_id(), new_id()


def _start(bot: str, user: str, at: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": "conversation_started",
        "conversation_id": new_id(),
        "bot_id": bot,
        "user_id": user,
        "timestamp": stamp(at),
    }


def _events() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events stored first, and the late ones sent after them."""
    day = timedelta(days=1)
    march = datetime(2025, 3, 1, tzinfo=UTC)
    outside, inside, edge, scattered = new_id(), new_id(), new_id(), new_id()
    first = [
        # Active only before the range and after it (with bot A): in no range between.
        _start(BOT_A, outside, march - 3 * day),
        _start(BOT_A, outside, march + 12 * day),
        # Active inside, on a day edge and a few days later.
        _start(BOT_A, inside, march + timedelta(minutes=10)),
        _start(BOT_B, inside, march + 4 * day + timedelta(hours=5)),
        # Just before UTC midnight: before a UTC range, inside a New York one.
        _start(BOT_B, edge, march - timedelta(minutes=10)),
        _start(BOT_A, edge, march + 2 * day + timedelta(hours=23, minutes=50)),
    ]
    first += [
        _start(BOT_A if k % 2 else BOT_B, scattered, march + k * timedelta(hours=17)) for k in range(14)
    ]
    late = [
        # Late: the outside user with bot B in the range (a new row between two stored ones).
        _start(BOT_B, outside, march + 3 * day + timedelta(hours=2)),
        # Late: the edge user a day earlier with bot A (relinks its stored successor).
        _start(BOT_A, edge, march + day + timedelta(hours=1)),
    ]
    return first, late


RANGES: list[dict[str, Any]] = [
    {"start_date": "2025-03-01", "end_date": "2025-03-07"},
    {"start_date": "2025-03-01", "end_date": "2025-03-07", "timezone": "America/New_York"},
    {"start_date": "2025-03-01", "end_date": "2025-03-02", "timezone": "Asia/Kolkata"},
    {"start_date": "2025-02-26", "end_date": "2025-03-16", "timezone": "Asia/Kolkata", "group_by": "week"},
    {"days": 30},
    {"days": 30, "timezone": "America/New_York"},
    {"start_date": "2025-03-02T07:15:00Z", "end_date": "2025-03-09T06:45:00Z"},
]


@pytest.mark.parametrize("params", RANGES, ids=[str(i) for i in range(len(RANGES))])
async def test_usage_over_whole_days_and_their_edges_matches_the_reference(
    db: str, params: dict[str, Any]
) -> None:
    first, late = _events()
    await ingest_events(first, ADMIN, now=NOW)
    await ingest_events(late, ADMIN, now=NOW)
    reference = ref.Reference([*first, *late], timedelta(minutes=30))
    r = resolve(NOW, **dict(params))
    expected_range = ref.resolve_range(NOW, **dict(params))
    for bots in (None, frozenset({BOT_A}), frozenset({BOT_B}), frozenset({BOT_A, BOT_B})):
        for route in ("usage", "usage/daily", "usage/monthly"):
            actual = await q.ROUTES[route](r, Scope(bots), NOW)
            expected = ref.ROUTES[route](reference, expected_range, (bots, None), NOW)
            assert_same(actual, expected, f"{params} {route} bots={bots}")
            if route == "usage" and params.get("days") == 30:
                assert actual["active_users"] > 0
