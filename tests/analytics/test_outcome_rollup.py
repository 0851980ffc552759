"""What ingestion precomputes for `/conversations/outcomes` (`outcome_days`, each conversation's
recontact flag) is exact whatever order events arrive in: the same rows after the events one by one
forwards, backwards or shuffled, as migration 0004's backfill rebuilds from the conversations, and
the route's answer equals the reference (tests/analytics/reference.py) on the rollup's whole days,
on cut days (raw rows) and under a user filter.

Every test runs on SQLite and, with `ANALYTICS_TEST_DB=postgres`, on PostgreSQL.
"""

from __future__ import annotations

import importlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from app.analytics import catalog
from app.analytics.answers import Question, rest_dict
from app.analytics.ranges import RangeParams, resolve_range
from app.analytics.scope import Scope
from app.config import get_settings
from app.db import connection, readers
from app.ingest import ingest_events
from app.migrations import __name__ as migrations_package
from tests.analytics import reference as ref
from tests.dataset import DATASET
from tests.dataset import NOW as DATASET_NOW
from tests.factories import ADMIN, assert_same, clear_ingested, new_id, snapshot, stamp

T0 = datetime(2025, 5, 5, 8, tzinfo=UTC)
NOW = T0 + timedelta(days=9, hours=5)
BACKFILL = importlib.import_module(f"{migrations_package}.0004_outcomes_speed")._BACKFILL


def _event(
    kind: str, conv: str, at: datetime, bot: str | None, usr: str | None, **extra: Any
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "id": new_id(),
        "type": kind,
        "conversation_id": conv,
        "timestamp": stamp(at),
        **extra,
    }
    if bot is not None:
        e.update(bot_id=bot, user_id=usr)
    return e


def _events() -> tuple[list[dict[str, Any]], str]:
    """One user's conversations with two bots whose flags and statuses the order of arrival could
    get wrong; returns the events and the user."""
    b1, b2, u, other = new_id(), new_id(), new_id(), new_id()
    ev: list[dict[str, Any]] = []

    def conv(start: datetime, bot: str = b1, usr: str = u, channel: str = "web") -> str:
        cid = new_id()
        ev.append(_event("conversation_started", cid, start, bot, usr, channel=channel))
        ev.append(_event("message", cid, start + timedelta(seconds=5), bot, usr, role="user"))
        return cid

    def end(cid: str, at: datetime, resolution: str, **extra: Any) -> None:
        ev.append(_event("conversation_ended", cid, at, None, None, resolution=resolution, **extra))

    # Resolved, recontacted 23 h after its end (the recontact may arrive before the end event).
    c1 = conv(T0)
    end(c1, T0 + timedelta(minutes=10), "resolved")
    conv(T0 + timedelta(minutes=10, hours=23), channel="teams")
    # Resolved; the same user's next conversation with another bot does not recontact it, nor
    # does another user's conversation with this bot.
    c3 = conv(T0 + timedelta(days=2))
    end(c3, T0 + timedelta(days=2, minutes=5), "resolved", reason="ignored")
    conv(T0 + timedelta(days=2, hours=2), bot=b2)
    conv(T0 + timedelta(days=2, hours=3), usr=other)
    # Resolved; a message of the next conversation 30 minutes after its end, whose start event
    # (25 h after the end) moves that conversation's start out of the 24 hours: not recontacted.
    c6 = conv(T0 + timedelta(days=4))
    end(c6, T0 + timedelta(days=4, minutes=1), "resolved")
    c7 = new_id()
    ev.append(_event("message", c7, T0 + timedelta(days=4, minutes=31), b1, u, role="user"))
    ev.append(_event("conversation_started", c7, T0 + timedelta(days=5, hours=1, minutes=1), b1, u))
    # Resolved, then a later end event escalates it (with a reason): not a resolution any more; a
    # tied end with a greater id decides between two at the same instant.
    c8 = conv(T0 + timedelta(days=6), channel="whatsapp")
    end(c8, T0 + timedelta(days=6, minutes=3), "resolved")
    end(c8, T0 + timedelta(days=6, minutes=4), "escalated", reason="low_confidence")
    c9 = conv(T0 + timedelta(days=6, hours=1), channel="whatsapp")
    tie = T0 + timedelta(days=6, hours=2)
    first, second = sorted([new_id(), new_id()])
    ev.append({**_event("conversation_ended", c9, tie, None, None, resolution="escalated"), "id": second})
    ev.append({**_event("conversation_ended", c9, tie, None, None, resolution="resolved"), "id": first})
    # A conversation first seen through its end event (no user or bot yet), then its messages; and
    # one that ended resolved whose recontact came exactly 24 h after its end.
    c10 = new_id()
    ev.append(
        _event(
            "conversation_ended", c10, T0 + timedelta(days=7, minutes=20), None, None, resolution="resolved"
        )
    )
    ev.append(_event("message", c10, T0 + timedelta(days=7), b1, u, role="user"))
    conv(T0 + timedelta(days=7, minutes=20, hours=24), channel="teams")
    # Ended less than 24 h before now: not checked yet, though recontacted.
    c12 = conv(NOW - timedelta(hours=10))
    end(c12, NOW - timedelta(hours=9), "resolved")
    conv(NOW - timedelta(hours=2))
    # Rated twice: the later score is kept, on the later day; a still-active session near now.
    c14 = conv(T0 + timedelta(days=1), channel="telegram")
    ev.append(_event("satisfaction", c14, T0 + timedelta(days=1, hours=1), b1, u, score=2))
    ev.append(_event("satisfaction", c14, T0 + timedelta(days=3), b1, u, score=5))
    conv(NOW - timedelta(minutes=5), channel="telegram")
    return ev, u


def _orders(events: list[dict[str, Any]]) -> dict[str, list[list[dict[str, Any]]]]:
    """The events one by one forwards and backwards, and shuffled in pairs with every event resent."""
    rng = random.Random(7)
    shuffled = events[:]
    rng.shuffle(shuffled)
    pairs = [shuffled[i : i + 2] for i in range(0, len(shuffled), 2)]
    return {
        "forwards": [[e] for e in events],
        "backwards": [[e] for e in reversed(events)],
        "shuffled-pairs-resent": pairs + pairs[::3],
    }


async def _answer(scope: Scope, **params: Any) -> dict[str, Any]:
    r = resolve_range(RangeParams(**params), NOW, series=True)
    question = Question(r, scope, NOW, get_settings().session_timeout_us)
    out: dict[str, Any] = rest_dict(await catalog.CONVERSATION_OUTCOMES.run(readers(), question))
    return out


async def _rebuilt() -> dict[str, list[dict[str, Any]]]:
    """The snapshot after migration 0004's backfill rebuilt `outcome_days` and the flags."""
    conn = connection()
    await conn.execute_script("DELETE FROM outcome_days")
    await conn.execute_script("UPDATE conversations SET recontacted = 0")
    for statement in BACKFILL:
        await conn.execute_script(statement)
    return await snapshot()


async def test_the_precomputed_outcomes_do_not_depend_on_arrival_order(db: str) -> None:
    events, usr = _events()
    reference = ref.Reference(events, timedelta(minutes=30))
    ranges: list[dict[str, Any]] = [
        {"start_date": "2025-05-05", "end_date": "2025-05-14"},  # whole UTC days: the rollup
        {"start_date": "2025-05-05T06:30:00", "end_date": "2025-05-14T13:00:00"},  # cut days: raw edges
        {"days": 30, "timezone": "Asia/Kolkata"},
    ]
    written: dict[str, Any] | None = None
    for order, batches in _orders(events).items():
        await clear_ingested()
        for batch in batches:
            await ingest_events(batch, ADMIN, now=NOW)
        state = await snapshot()
        if written is None:
            written = state
            flagged = [c for c in state["conversations"] if int(c["recontacted"])]
            # c1, c10 (exactly 24 h) and c12 (not checked yet); c8 and c9, escalated, are flagged too
            # (the flag is kept for any end; only resolutions count).
            assert [c["resolution"] for c in flagged].count("resolved") == 3 and len(flagged) == 5
        assert state == written, order
        for params in ranges:
            for scope in (Scope(None), Scope(None, usr)):
                expected = ref.ROUTES["conversations/outcomes"](
                    reference, ref.resolve_range(NOW, **params), (scope.bots, scope.user), NOW
                )
                assert_same(await _answer(scope, **params), expected, f"{order} {params} {scope}")
    got = await _answer(Scope(None), **ranges[0])
    assert (got["checked_resolutions"], got["recontacts"]) == (4, 2)
    assert got["escalation_reasons"] == [
        {"reason": "low_confidence", "conversations": 1},
        {"reason": "unspecified", "conversations": 1},
    ]
    assert await _rebuilt() == written


async def test_the_backfill_rebuilds_what_ingestion_kept_on_the_random_data_set(db: str) -> None:
    for batch in DATASET.batches:
        await ingest_events(batch, ADMIN, now=DATASET_NOW)
    written = await snapshot()
    assert any(int(c["recontacted"]) for c in written["conversations"])
    assert written["outcome_days"]
    assert await _rebuilt() == written
