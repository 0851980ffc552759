"""Realistic demo data: several bots, hundreds of users, 90 days, every outcome, ratings, channels,
and what the insights routes (API.md section 9) read: intents, models, costs, reasons, recontacts.

Deterministic: the same arguments (`now` included) give the same events, from one seeded
`random.Random` (no `hash()`, whose value changes with each process).

What a demo shows:
- Intents with their own profiles: `opening_hours` is almost always answered, `password_reset`
  often falls back, `refund` and `cancel_subscription` mostly end with a human (`/intents`).
- Models with their own latency and price: a large model (slow, dear), a small one (fast, cheap),
  another vendor's, and a rules engine (instant, free); user messages carry an embedding model's
  small cost (`/performance`).
- Escalations with reasons that follow the intent (`policy` for refunds, `low_confidence` after
  fallbacks, some with none), and recontacts: a user coming back to the same bot within 24 hours
  of a "resolved" conversation, most often after a password reset (`/conversations/outcomes`).
- Last week against this week (`compare=previous_period` with `days=7`): for the last 7 days the
  support bot runs a retrained model on the small model (`RELEASE_DAYS_AGO`): fewer fallbacks and
  escalations, faster and cheaper answers, better ratings, and a quarter more conversations.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DEMO_BOTS", "INTENTS", "MODELS", "RELEASE_DAYS_AGO", "demo_events"]

DEMO_BOTS = {
    "support-bot": "3f1c2a9e-0b6d-4c0e-9a51-5d7f3b2a1c01",
    "sales-bot": "7b2e4d10-8c3f-4e7a-b1d2-6a9c0e5f4d02",
    "hr-helpdesk": "c5d8e2f4-1a7b-4c9d-8e3f-2b6a4d0c7e03",
    "faq-bot": "e9a1b3c5-d7f9-4b2d-a4c6-8e0f2a4b6c04",
}
CHANNELS = [("web", 0.45), ("whatsapp", 0.3), ("teams", 0.15), ("telegram", 0.1)]
RELEASE_DAYS_AGO = 7
"""The support bot's release: from this many days before `now`, it answers better and cheaper."""


@dataclass(frozen=True)
class Intent:
    name: str
    fallback: float
    """Chance that a bot reply to it is a fallback."""
    escalate: float
    """Chance that a conversation about it ends with a human."""
    recontact: float
    """Chance that a resolved conversation about it brings the user back within 24 hours."""
    reasons: tuple[tuple[str, float], ...]
    """Escalation reasons ("" = none given) and their weights."""


INTENTS: dict[str, Intent] = {
    i.name: i
    for i in (
        Intent("opening_hours", 0.01, 0.01, 0.02, (("user_request", 1.0),)),
        Intent("greeting", 0.02, 0.02, 0.02, (("user_request", 1.0),)),
        Intent("order_status", 0.05, 0.08, 0.08, (("user_request", 0.6), ("low_confidence", 0.3), ("", 0.1))),
        Intent("pricing", 0.06, 0.12, 0.05, (("sales_handoff", 0.7), ("user_request", 0.3))),
        Intent("vacation", 0.10, 0.15, 0.06, (("policy", 0.5), ("user_request", 0.4), ("", 0.1))),
        Intent("refund", 0.12, 0.45, 0.10, (("policy", 0.6), ("user_request", 0.25), ("", 0.15))),
        Intent("cancel_subscription", 0.18, 0.35, 0.08, (("user_request", 0.5), ("policy", 0.3), ("", 0.2))),
        Intent(
            "password_reset", 0.25, 0.20, 0.30, (("low_confidence", 0.7), ("user_request", 0.2), ("", 0.1))
        ),
    )
}
BOT_INTENTS = {
    "support-bot": ("order_status", "refund", "password_reset", "cancel_subscription", "opening_hours"),
    "sales-bot": ("pricing", "order_status", "cancel_subscription", "opening_hours"),
    "hr-helpdesk": ("vacation", "password_reset", "opening_hours"),
    "faq-bot": ("opening_hours", "pricing", "order_status", "password_reset"),
}


@dataclass(frozen=True)
class Model:
    name: str
    latency_ms: float
    """Median latency of a reply."""
    cost_per_token: float


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("gpt-4o", 1400, 0.00001),
        Model("gpt-4o-mini", 420, 0.0000006),
        Model("claude-3-haiku", 650, 0.0000012),
        Model("rules-engine", 35, 0.0),
    )
}
EMBEDDING = Model("text-embedding-3-small", 0, 0.00000002)
"""The model behind a user message's intent lookup: a cost, no latency."""
BOT_MODELS = {
    "support-bot": (("gpt-4o", 0.8), ("rules-engine", 0.2)),
    "sales-bot": (("gpt-4o-mini", 0.7), ("gpt-4o", 0.3)),
    "hr-helpdesk": (("claude-3-haiku", 0.9), ("rules-engine", 0.1)),
    "faq-bot": (("rules-engine", 0.6), ("gpt-4o-mini", 0.4)),
}
RELEASED_MODELS = (("gpt-4o-mini", 0.85), ("rules-engine", 0.15))
"""The support bot's models after the release."""


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...] | list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


class _Conversation:
    """One conversation's events, written with the shared generator."""

    def __init__(self, rng: random.Random, bot_name: str, user: str, released: bool) -> None:
        self.rng = rng
        self.bot_name = bot_name
        self.base = {
            "conversation_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "bot_id": DEMO_BOTS[bot_name],
            "user_id": user,
        }
        self.released = released
        self.events: list[dict[str, Any]] = []

    def event(self, kind: str, ts: datetime, **fields: Any) -> None:
        self.events.append(
            {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "type": kind,
                "timestamp": _iso(ts),
                **self.base,
                **fields,
            }
        )

    def talk(self, start: datetime, now: datetime, intent: Intent) -> tuple[datetime, int]:
        """The messages: the user asks, the bot answers. The end of the talk and its fallbacks."""
        rng, better = self.rng, self.released
        models = RELEASED_MODELS if better else BOT_MODELS[self.bot_name]
        t, fallbacks = start, 0
        for turn in range(rng.randint(1, 8)):
            t += timedelta(seconds=rng.uniform(2, 90))
            if t > now:
                break
            user: dict[str, Any] = {"role": "user"}
            if rng.random() < 0.9:  # some messages carry no intent
                user["intent"] = "greeting" if turn == 0 and rng.random() < 0.3 else intent.name
            tokens = rng.randint(5, 60)
            user |= {"tokens": tokens, "model": EMBEDDING.name, "cost": tokens * EMBEDDING.cost_per_token}
            self.event("message", t, **user)
            model = MODELS[_pick(rng, models)]
            latency = int(rng.lognormvariate(0, 0.45) * model.latency_ms)
            t += timedelta(milliseconds=latency)
            if t > now:
                break
            about = INTENTS[user.get("intent", intent.name)]
            fell_back = rng.random() < about.fallback * (0.4 if better else 1.0)
            fallbacks += fell_back
            tokens = rng.randint(20, 400) if model.cost_per_token else 0
            self.event(
                "message",
                t,
                role="bot",
                intent=about.name,
                fallback=fell_back,
                latency_ms=latency,
                tokens=tokens,
                model=model.name,
                cost=round(tokens * model.cost_per_token, 8),
            )
        return t, fallbacks

    def end(self, t: datetime, intent: Intent, fallbacks: int) -> str | None:
        """The outcome (None: no end event, the session times out) and the end event."""
        rng = self.rng
        escalate = intent.escalate * (0.5 if self.released else 1.0) + 0.08 * fallbacks
        abandon = 0.06 + 0.05 * fallbacks
        roll = rng.random()
        if roll < 0.08:
            return None
        if roll < 0.08 + escalate:
            reason = "low_confidence" if fallbacks and rng.random() < 0.5 else _pick(rng, intent.reasons)
            extra = {"reason": reason} if reason else {}
            self.event("conversation_ended", t + timedelta(seconds=5), resolution="escalated", **extra)
            return "escalated"
        if roll < 0.08 + escalate + abandon:
            self.event(
                "conversation_ended", t + timedelta(seconds=5), resolution="abandoned", reason="user_left"
            )
            return "abandoned"
        self.event("conversation_ended", t + timedelta(seconds=5), resolution="resolved")
        return "resolved"

    def rate(self, t: datetime, outcome: str | None) -> None:
        if self.rng.random() >= 0.35:
            return
        weights = {
            "resolved": [0.02, 0.04, 0.1, 0.34, 0.5],
            "escalated": [0.15, 0.2, 0.3, 0.25, 0.1],
        }.get(outcome or "", [0.3, 0.25, 0.25, 0.15, 0.05])
        if self.released:
            weights = [w * f for w, f in zip(weights, (0.5, 0.6, 0.9, 1.2, 1.4), strict=True)]
        score = self.rng.choices([1, 2, 3, 4, 5], weights)[0]
        self.event("satisfaction", t + timedelta(seconds=30), score=score)


def demo_events(
    now: datetime | None = None, days: int = 90, users: int = 400, per_day: int = 60, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """Yield events for `days` days up to `now`: a few conversations may still be active."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    user_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(users)]
    home = {u: list(DEMO_BOTS)[i % len(DEMO_BOTS)] for i, u in enumerate(user_ids)}
    start = now - timedelta(days=days)
    release = now - timedelta(days=RELEASE_DAYS_AGO)
    # A quarter of the users are regulars who come back often; the rest drop by now and then.
    regulars = max(1, users // 4)
    comebacks: list[tuple[datetime, str, str, str]] = []  # (when, bot, user, intent), time ordered
    for day in range(days):
        day_start = start + timedelta(days=day)
        grown = 1.25 if day_start >= release else 1.0  # the release brings more conversations
        n = max(1, int(rng.gauss(per_day * (0.6 + 0.8 * day / days) * grown, per_day * 0.15)))
        starts = []
        for _ in range(n):
            user = user_ids[rng.randrange(regulars) if rng.random() < 0.5 else rng.randrange(users)]
            bot_name = home[user] if rng.random() < 0.8 else rng.choice(list(DEMO_BOTS))
            about = rng.choice(BOT_INTENTS[bot_name])
            starts.append((day_start + timedelta(seconds=rng.uniform(0, 86400)), bot_name, user, about))
        # The recontacts due today: the user is back, about the same thing, within 24 hours.
        while comebacks and comebacks[0][0] < day_start + timedelta(days=1):
            starts.append(comebacks.pop(0))
        for ts, bot_name, user, intent_name in sorted(starts):
            if ts > now - timedelta(minutes=2):
                continue
            released = bot_name == "support-bot" and ts >= release
            conv = _Conversation(rng, bot_name, user, released)
            conv.event("conversation_started", ts, channel=_pick(rng, CHANNELS))
            intent = INTENTS[intent_name]
            t, fallbacks = conv.talk(ts, now, intent)
            outcome = None
            if not (
                now - t < timedelta(minutes=45) and rng.random() < 0.5
            ):  # else still active or timing out
                outcome = conv.end(t, intent, fallbacks)
                conv.rate(t, outcome)
            if outcome == "resolved" and rng.random() < intent.recontact * (0.5 if released else 1.0):
                back = t + timedelta(seconds=5) + timedelta(minutes=rng.uniform(10, 23 * 60))
                comebacks.append((back, bot_name, user, intent_name))
                comebacks.sort()
            yield from conv.events
