"""API.md section 9's routes on small hand-built data: the numbers worked out by hand in each test,
and the whole answer compared with the reference (tests/analytics/reference.py) as well.

Every test runs on SQLite and, with `ANALYTICS_TEST_DB=postgres`, on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.analytics import catalog
from app.analytics.answers import Question, rest_dict
from app.analytics.ranges import RangeParams, ResolvedRange, resolve_range
from app.analytics.scope import Scope
from app.config import get_settings
from app.db import readers
from tests.analytics import reference as ref
from tests.factories import assert_same, ingest, new_id, stamp

T0 = datetime(2025, 4, 7, 9, tzinfo=UTC)  # a Monday
NOW = T0 + timedelta(days=5)
EVERY = Scope(None)
PARAMS = {"start_date": "2025-04-07", "end_date": "2025-04-07"}  # the whole of April 7


class Data:
    """Events of one bot (unless told) and one user (unless told)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bot, self.user = new_id(), new_id()

    def conv(
        self,
        start: datetime,
        *,
        bot: str | None = None,
        user: str | None = None,
        channel: str | None = None,
        messages: tuple[dict[str, Any], ...] = (),
        end: tuple[datetime, str] | None = None,
        reason: str | None = None,
        rating: tuple[datetime, int] | None = None,
    ) -> str:
        cid = new_id()
        base = {"conversation_id": cid, "bot_id": bot or self.bot, "user_id": user or self.user}
        start_ev: dict[str, Any] = {"type": "conversation_started", "timestamp": stamp(start), **base}
        if channel:
            start_ev["channel"] = channel
        self.events.append(start_ev)
        for i, m in enumerate(messages):
            t = start + timedelta(seconds=i + 1)
            self.events.append({"type": "message", "timestamp": stamp(t), **base, **m})
        if end is not None:
            ev: dict[str, Any] = {
                "type": "conversation_ended",
                "timestamp": stamp(end[0]),
                "resolution": end[1],
                "conversation_id": cid,
            }
            if reason is not None:
                ev["reason"] = reason
            self.events.append(ev)
        if rating is not None:
            self.events.append(
                {"type": "satisfaction", "timestamp": stamp(rating[0]), "score": rating[1], **base}
            )
        return cid

    async def load(self) -> ref.Reference:
        for e in self.events:
            e.setdefault("id", new_id())
        await ingest(self.events, NOW)
        return ref.Reference(self.events, timedelta(minutes=30))


def _range(**params: Any) -> ResolvedRange:
    return resolve_range(RangeParams(**params), NOW, series=True)


async def answer(
    metric: catalog.Metric[Any],
    scope: Scope = EVERY,
    limit: int | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    question = Question(_range(**(params or PARAMS)), scope, NOW, get_settings().session_timeout_us, limit)
    return rest_dict(await metric.run(readers(), question))


def expected(
    reference: ref.Reference, name: str, scope: Scope = EVERY, params: dict[str, str] | None = None
) -> dict[str, Any]:
    r = ref.resolve_range(NOW, **(params or PARAMS))
    return ref.ROUTES[name](reference, r, (scope.bots, scope.user), NOW)


def user(**extra: Any) -> dict[str, Any]:
    return {"role": "user", **extra}


def bot(**extra: Any) -> dict[str, Any]:
    return {"role": "bot", **extra}


async def test_intents_order_ties_limit_and_rates(db: str) -> None:
    d = Data()
    t = T0 + timedelta(hours=1)
    # "b" and "a" tie with 2 messages each (code point order: "B" < "a" < "b"); "c" has 3.
    d.conv(
        t,
        messages=(user(intent="c"), bot(intent="c", fallback=True), bot(intent="c")),
        end=(t + timedelta(minutes=5), "resolved"),
    )
    d.conv(t, messages=(user(intent="a"), user(intent="a")))  # only user messages: fallback_rate null
    d.conv(NOW - timedelta(minutes=1), messages=(user(intent="b"), user(intent="later")))  # still active
    d.conv(
        t, messages=(bot(intent="b"), user(intent="B"), user()), end=(t + timedelta(minutes=9), "escalated")
    )
    reference = await d.load()
    got = await answer(catalog.INTENTS, limit=None)
    # The `b` conversation started "now - 1 min" lies outside the range (April 7): only 1 "b" message.
    assert [(x["intent"], x["messages"]) for x in got["data"]] == [("c", 3), ("a", 2), ("B", 1), ("b", 1)]
    assert (got["messages_with_intent"], got["messages_without_intent"]) == (7, 1)
    c, a = got["data"][0], got["data"][1]
    assert (c["fallback_messages"], c["fallback_rate"], c["resolution_rate"], c["escalation_rate"]) == (
        1,
        0.5,
        1.0,
        0.0,
    )
    # Its conversation has no end and timed out: abandoned, so closed.
    assert (a["bot_messages"], a["fallback_rate"], a["conversations"], a["resolution_rate"]) == (
        0,
        None,
        1,
        0.0,
    )
    assert_same(got, expected(reference, "intents"))
    got = await answer(catalog.INTENTS, limit=2)
    assert [x["intent"] for x in got["data"]] == ["c", "a"] and got["messages_with_intent"] == 7
    whole_week = {"start_date": "2025-04-07", "end_date": "2025-04-13"}
    got = await answer(catalog.INTENTS, params=whole_week)
    b = next(x for x in got["data"] if x["intent"] == "b")
    assert (b["messages"], b["conversations"], b["resolution_rate"], b["escalation_rate"]) == (2, 2, 0.0, 1.0)
    later = next(x for x in got["data"] if x["intent"] == "later")  # its only conversation is active
    assert (later["conversations"], later["resolution_rate"], later["escalation_rate"]) == (1, None, None)
    assert_same(got, expected(reference, "intents", params=whole_week))


async def test_intents_conversations_across_the_range_start_and_late_messages(db: str) -> None:
    """The distinct conversations of an intent come from its (conversation, intent) pairs: one first
    seen before the range counts when it has a message in it (also when it reaches past the range's
    end), not when it only spans the range; late, out-of-order and repeated events move a pair's
    first message and its conversation's outcome exactly."""
    b, u = new_id(), new_id()
    day = datetime(2025, 4, 7, tzinfo=UTC)
    convs = {name: new_id() for name in ("start", "over", "inside", "late", "edge")}

    def msg(conv: str, at: datetime, intent: str, role: str = "user") -> dict[str, Any]:
        base = {"conversation_id": convs[conv], "bot_id": b, "user_id": u, "id": new_id()}
        return {"type": "message", "timestamp": stamp(at), "role": role, "intent": intent, **base}

    def end(conv: str, at: datetime, resolution: str) -> dict[str, Any]:
        ts = stamp(at)
        return {"type": "conversation_ended", "timestamp": ts, "resolution": resolution,
                "conversation_id": convs[conv], "id": new_id()}  # fmt: skip

    first_late = msg("late", day + timedelta(hours=15), "z")
    batches = [
        [  # "start" begins before April 7 and goes on into it; "over" spans April 7 with no "x" in it
            msg("start", day - timedelta(minutes=10), "x"),
            msg("start", day + timedelta(minutes=20), "x", "bot"),
            end("start", day + timedelta(minutes=30), "resolved"),
            msg("over", day - timedelta(hours=2), "x"),
            msg("over", day + timedelta(hours=10), "y"),
            msg("over", day + timedelta(days=1, hours=1), "x"),
            msg("inside", day - timedelta(hours=2), "x"),
            msg("inside", day + timedelta(hours=12), "x"),
            msg("inside", day + timedelta(days=1, hours=1), "x"),
            end("inside", day + timedelta(days=1, hours=2), "escalated"),
            first_late,
            msg("late", day + timedelta(hours=15, minutes=5), "z", "bot"),
            msg("edge", day + timedelta(hours=12, minutes=5), "w"),
            msg("edge", day + timedelta(hours=12, minutes=30), "w"),
        ],
        [msg("late", day + timedelta(hours=3), "z"), first_late],  # earlier slot; a repeated event
        [end("late", day + timedelta(hours=16), "resolved")],
        [end("late", day + timedelta(hours=17), "escalated")],  # the later end wins: escalated
        [msg("late", day - timedelta(hours=1), "z")],  # now first seen before April 7
    ]
    events: list[dict[str, Any]] = []
    for batch in batches:
        await ingest(batch, NOW)
        events += [e for e in batch if e not in events]
    reference = ref.Reference(events, timedelta(minutes=30))
    got = await answer(catalog.INTENTS)
    by = {x["intent"]: x for x in got["data"]}
    assert (by["x"]["messages"], by["x"]["conversations"]) == (2, 2)  # "start" and "inside"
    assert (by["x"]["resolution_rate"], by["x"]["escalation_rate"]) == (0.5, 0.5)
    assert (by["z"]["messages"], by["z"]["conversations"], by["z"]["escalation_rate"]) == (3, 1, 1.0)
    assert_same(got, expected(reference, "intents"))
    week = {"start_date": "2025-04-07", "end_date": "2025-04-13"}
    got = await answer(catalog.INTENTS, params=week)
    assert next(x for x in got["data"] if x["intent"] == "x")["conversations"] == 3
    assert_same(got, expected(reference, "intents", params=week))
    for params in (
        {"start_date": "2025-04-07T00:20:00Z", "end_date": "2025-04-07T12:07:00Z"},  # raw edges
        {"start_date": "2025-04-07T12:01:00Z", "end_date": "2025-04-07T12:10:00Z"},  # inside one slot
        {"start_date": "2025-04-06", "end_date": "2025-04-06"},
        {"start_date": "2025-04-08", "end_date": "2025-04-08"},
    ):
        assert_same(
            await answer(catalog.INTENTS, params=params), expected(reference, "intents", params=params)
        )
    assert_same(
        await answer(catalog.INTENTS, Scope(frozenset({b})), params=week),
        expected(reference, "intents", Scope(frozenset({b})), week),
    )


async def test_performance_percentiles_models_and_costs(db: str) -> None:
    d = Data()
    t = T0 + timedelta(hours=2)
    # One latency on model "x"; two on model "y" (100 and 200): interpolated percentiles.
    d.conv(
        t,
        messages=(
            user(cost=0.5, tokens=3, latency_ms=9999),  # a user's cost and tokens count; its latency does not
            bot(model="x", latency_ms=300, tokens=10, cost=0.25),
            bot(model="y", latency_ms=100, tokens=5),
            bot(model="y", latency_ms=200, cost=1),
            user(model="z"),
        ),
        end=(t + timedelta(minutes=3), "resolved"),
    )
    d.conv(t, messages=(bot(model="z"),))  # "z" ties "x" and "y"... by messages: y 2, x 1, z 2
    reference = await d.load()
    got = await answer(catalog.PERFORMANCE)
    assert (got["bot_messages"], got["latency_count"], got["tokens"], got["cost"]) == (4, 3, 18, 1.75)
    assert got["p50_latency_ms"] == 200.0 and got["max_latency_ms"] == 300.0
    assert got["avg_latency_ms"] == 200.0
    assert [(m["model"], m["messages"]) for m in got["by_model"]] == [("y", 2), ("z", 2), ("x", 1)]
    x, y = got["by_model"][2], got["by_model"][0]
    assert (x["p95_latency_ms"], x["avg_latency_ms"]) == (300.0, 300.0)  # one value
    assert y["p95_latency_ms"] == pytest.approx(195.0) and y["avg_latency_ms"] == 150.0  # two values
    assert (got["conversations"], got["resolved_conversations"]) == (2, 1)
    assert (got["cost_per_conversation"], got["cost_per_resolved_conversation"]) == (0.875, 1.75)
    assert got["tokens_per_conversation"] == 9.0
    assert isinstance(got["tokens"], int)
    assert_same(got, expected(reference, "performance"))
    hourly = {**PARAMS, "group_by": "hour"}
    got = await answer(catalog.PERFORMANCE, params=hourly)
    assert got["data"][11]["bot_messages"] == 4  # 11:00 UTC
    assert got["data"][0]["p50_latency_ms"] is None and got["data"][0]["cost"] == 0.0
    assert_same(got, expected(reference, "performance", params=hourly))


async def test_outcomes_recontacts_reasons_and_channels(db: str) -> None:
    d = Data()
    other_user, other_bot = new_id(), new_id()
    t = T0 + timedelta(hours=3)
    end = t + timedelta(minutes=10)
    # Resolved, and the same user starts again exactly 24 h after the end: recontacted.
    d.conv(t, end=(end, "resolved"), channel="web")
    d.conv(end + timedelta(hours=24), channel="teams")
    # Resolved; the user's next conversation starts 24 h and 1 µs after: not a recontact.
    d.conv(t, user=other_user, end=(end, "resolved"), channel="web")
    d.conv(end + timedelta(hours=24, microseconds=1), user=other_user, channel="web")
    # Resolved by another bot; the user comes back to that bot within the hour (bot-scoped below).
    d.conv(t, bot=other_bot, end=(end, "resolved"), channel="whatsapp")
    d.conv(end + timedelta(hours=1), bot=other_bot, channel="whatsapp")
    # Ended less than 24 h before now: not checked yet (started in the range).
    d.conv(T0 + timedelta(hours=4), end=(NOW - timedelta(hours=23), "resolved"), channel="web")
    # Escalations: with a reason, without one, with an empty one.
    d.conv(t, end=(end, "escalated"), reason="low_confidence", channel="web")
    d.conv(t, end=(end, "escalated"), channel="web")
    d.conv(t, end=(end, "escalated"), reason="", channel="teams")
    # A rating in the range of a conversation started the day before (channel "sms").
    d.conv(T0 - timedelta(hours=10), channel="sms", rating=(t, 5))
    reference = await d.load()
    got = await answer(catalog.CONVERSATION_OUTCOMES)
    # The other bot's second conversation (in the range, no end) timed out: abandoned.
    assert (got["closed"], got["resolved"], got["escalated"], got["abandoned"]) == (8, 4, 3, 1)
    assert (got["checked_resolutions"], got["recontacts"], got["durable_resolution_rate"]) == (3, 2, 1 / 3)
    assert got["escalation_reasons"] == [
        {"reason": "unspecified", "conversations": 2},
        {"reason": "low_confidence", "conversations": 1},
    ]
    assert [(c["channel"], c["conversations"], c["ratings"]) for c in got["by_channel"]] == [
        ("web", 5, 0),
        ("whatsapp", 2, 0),
        ("teams", 1, 0),
        ("sms", 0, 1),
    ]
    sms = got["by_channel"][3]
    assert (sms["resolution_rate"], sms["average_score"], sms["csat"]) == (None, 5.0, 1.0)
    assert_same(got, expected(reference, "conversations/outcomes"))
    scoped = Scope(frozenset({other_bot}))
    got = await answer(catalog.CONVERSATION_OUTCOMES, scoped)
    assert (got["checked_resolutions"], got["recontacts"], got["by_channel"][0]["channel"]) == (
        1,
        1,
        "whatsapp",
    )
    assert_same(got, expected(reference, "conversations/outcomes", scoped))
    mine = Scope(frozenset({d.bot}))
    for metric in (catalog.INTENTS, catalog.PERFORMANCE, catalog.CONVERSATION_OUTCOMES):
        assert_same(await answer(metric, mine), expected(reference, metric.name, mine), metric.name)


async def test_performance_latency_reads_agree(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unsorted per-bucket read of the latency histogram (models coded by position) gives what
    the grouped read gives: with separators in model names, a model it was not told of, too many."""
    from app.analytics.buckets import series_buckets
    from app.analytics.counters import spend
    from app.analytics.scope import resolve_filter
    from app.analytics.sqlparts import bounds_of

    d = Data()
    t = T0 + timedelta(hours=2)
    d.conv(t, messages=(bot(model="a,b:c", latency_ms=7), bot(model="", latency_ms=7), bot(latency_ms=8)))
    d.conv(t + timedelta(hours=3), messages=(bot(model="x", latency_ms=5), bot(model="a,b:c", latency_ms=9)))
    reference = await d.load()
    conn = readers().main
    f = await resolve_filter(conn, EVERY)
    bounds = bounds_of(series_buckets(_range(**PARAMS, group_by="hour")))
    grouped = await spend.latency_histograms(conn, bounds, f, by_model=True)
    told = await spend.latency_histograms(conn, bounds, f, by_model=True, models=["", "a,b:c", "x"])
    untold = await spend.latency_histograms(conn, bounds, f, by_model=True, models=["x"])
    assert grouped == told == untold
    assert grouped[(11, "a,b:c")] == {7: 1} and grouped[(14, "a,b:c")] == {9: 1}
    assert grouped[(11, "")] == {7: 1} and grouped[(11, None)] == {8: 1}
    monkeypatch.setattr(spend, "MAX_CODED_MODELS", 0)
    assert_same(await answer(catalog.PERFORMANCE), expected(reference, "performance"))
