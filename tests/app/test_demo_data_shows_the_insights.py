"""The demo data (`make run`, `bot-analytics dev`) is the same for the same arguments and shows what
the insights routes are for (API.md section 9): intents that differ, models that differ, escalation
reasons, recontacts, and a last week that differs from the week before. Counted here from the raw
events, as a user of the demo would read them off the routes."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from app.demo import DEMO_BOTS, RELEASE_DAYS_AGO, demo_events

NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
EVENTS = list(demo_events(now=NOW, days=60, users=200, per_day=40, seed=11))


def _at(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


def test_the_same_arguments_give_the_same_events() -> None:
    assert list(demo_events(now=NOW, days=60, users=200, per_day=40, seed=11)) == EVENTS
    assert list(demo_events(now=NOW, days=60, users=200, per_day=40, seed=12)) != EVENTS


def test_intents_have_their_own_fallback_and_escalation_profiles() -> None:
    fallback: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in EVENTS:
        if e["type"] == "message" and e["role"] == "bot":
            fallback[e["intent"]][0] += e["fallback"]
            fallback[e["intent"]][1] += 1
    rate = {k: n / d for k, (n, d) in fallback.items()}
    assert rate["password_reset"] > 3 * rate["opening_hours"]
    intent_of = {
        e["conversation_id"]: e["intent"] for e in EVENTS if e.get("role") == "user" and "intent" in e
    }
    ends = [e for e in EVENTS if e["type"] == "conversation_ended"]
    escalated: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in ends:
        if e["conversation_id"] in intent_of:
            escalated[intent_of[e["conversation_id"]]][0] += e["resolution"] == "escalated"
            escalated[intent_of[e["conversation_id"]]][1] += 1
    share = {k: n / d for k, (n, d) in escalated.items()}
    assert share["refund"] > 3 * share["opening_hours"]
    reasons = Counter(e.get("reason", "") for e in ends if e["resolution"] == "escalated")
    assert {"policy", "low_confidence", "user_request", ""} <= set(reasons)


def test_models_differ_in_latency_and_cost_and_user_messages_cost_too() -> None:
    latency: dict[str, list[int]] = defaultdict(list)
    cost: dict[str, float] = defaultdict(float)
    for e in EVENTS:
        if e["type"] == "message":
            cost[e["model"]] += e["cost"]
            if e["role"] == "bot":
                latency[e["model"]].append(e["latency_ms"])
    mean = {m: sum(v) / len(v) for m, v in latency.items()}
    assert mean["gpt-4o"] > 2 * mean["gpt-4o-mini"] > 2 * mean["rules-engine"]
    assert cost["rules-engine"] == 0 and cost["gpt-4o"] > cost["gpt-4o-mini"] > 0
    assert cost["text-embedding-3-small"] > 0  # the user messages' share


def test_some_resolved_conversations_bring_the_user_back_within_24_hours() -> None:
    starts = defaultdict(list)
    for e in EVENTS:
        if e["type"] == "conversation_started":
            starts[(e["user_id"], e["bot_id"])].append(_at(e))
    recontacts = 0
    for e in EVENTS:
        if e["type"] == "conversation_ended" and e["resolution"] == "resolved":
            end = _at(e)
            recontacts += any(
                end < t <= end + timedelta(hours=24) for t in starts[(e["user_id"], e["bot_id"])]
            )
    resolved = sum(1 for e in EVENTS if e.get("resolution") == "resolved")
    assert 0.03 * resolved < recontacts < 0.5 * resolved


def test_the_support_bot_is_better_this_week_than_last_week() -> None:
    bot = DEMO_BOTS["support-bot"]
    release = NOW - timedelta(days=RELEASE_DAYS_AGO)

    def week(lo: datetime, hi: datetime) -> tuple[int, float, float, float]:
        mine = [e for e in EVENTS if e["bot_id"] == bot and lo <= _at(e) < hi]
        replies = [e for e in mine if e["type"] == "message" and e["role"] == "bot"]
        started = sum(1 for e in mine if e["type"] == "conversation_started")
        return (
            started,
            sum(e["fallback"] for e in replies) / len(replies),
            sum(e["latency_ms"] for e in replies) / len(replies),
            sum(e["cost"] for e in replies) / started,
        )

    before = week(release - timedelta(days=7), release)
    after = week(release, NOW)
    assert after[0] > before[0]  # more conversations
    assert after[1] < 0.7 * before[1]  # fewer fallbacks
    assert after[2] < 0.5 * before[2]  # faster
    assert after[3] < 0.5 * before[3]  # cheaper per conversation
