"""Realistic demo data: several bots, hundreds of users, 90 days, every outcome, ratings, channels."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DEMO_BOTS", "demo_events"]

DEMO_BOTS = {
    "support-bot": "3f1c2a9e-0b6d-4c0e-9a51-5d7f3b2a1c01",
    "sales-bot": "7b2e4d10-8c3f-4e7a-b1d2-6a9c0e5f4d02",
    "hr-helpdesk": "c5d8e2f4-1a7b-4c9d-8e3f-2b6a4d0c7e03",
    "faq-bot": "e9a1b3c5-d7f9-4b2d-a4c6-8e0f2a4b6c04",
}
CHANNELS = [("web", 0.45), ("whatsapp", 0.3), ("teams", 0.15), ("telegram", 0.1)]
INTENTS = ["greeting", "order_status", "refund", "pricing", "opening_hours", "password_reset", "vacation"]


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def demo_events(
    now: datetime | None = None, days: int = 90, users: int = 400, per_day: int = 60, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """Yield events for `days` days up to `now`: a few conversations may still be active."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    user_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(users)]
    bots = list(DEMO_BOTS.values())
    start = now - timedelta(days=days)
    # A quarter of the users are regulars who come back often; the rest drop by now and then.
    regulars = max(1, users // 4)
    for day in range(days):
        n = max(1, int(rng.gauss(per_day * (0.6 + 0.8 * day / days), per_day * 0.15)))
        for _ in range(n):
            ts = start + timedelta(days=day, seconds=rng.uniform(0, 86400))
            if ts > now - timedelta(minutes=2):
                continue
            user = user_ids[rng.randrange(regulars) if rng.random() < 0.5 else rng.randrange(users)]
            bot = bots[hash(user) % len(bots)] if rng.random() < 0.8 else rng.choice(bots)
            conv = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            yield {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "type": "conversation_started",
                "timestamp": _iso(ts),
                "conversation_id": conv,
                "bot_id": bot,
                "user_id": user,
                "channel": _pick(rng, CHANNELS),
            }
            t = ts
            for _turn in range(rng.randint(1, 8)):
                for role in ("user", "bot"):
                    t += timedelta(seconds=rng.uniform(2, 90))
                    if t > now:
                        break
                    ev: dict[str, Any] = {
                        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "type": "message",
                        "role": role,
                        "timestamp": _iso(t),
                        "conversation_id": conv,
                        "bot_id": bot,
                        "user_id": user,
                    }
                    if role == "user":
                        ev["intent"] = rng.choice(INTENTS)
                    else:
                        ev["fallback"] = rng.random() < 0.08
                        ev["latency_ms"] = int(rng.lognormvariate(6, 0.5))
                        ev["tokens"] = rng.randint(20, 400)
                    yield ev
            if now - t < timedelta(minutes=45) and rng.random() < 0.5:
                continue  # still active or left to time out
            outcome = rng.choices(["resolved", "escalated", "abandoned", None], [0.65, 0.15, 0.1, 0.1])[0]
            if outcome is not None:
                yield {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "type": "conversation_ended",
                    "timestamp": _iso(t + timedelta(seconds=5)),
                    "conversation_id": conv,
                    "bot_id": bot,
                    "user_id": user,
                    "resolution": outcome,
                }
            if rng.random() < 0.35:
                score = rng.choices([1, 2, 3, 4, 5], [0.05, 0.07, 0.13, 0.35, 0.4])[0]
                yield {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "type": "satisfaction",
                    "timestamp": _iso(t + timedelta(seconds=30)),
                    "conversation_id": conv,
                    "bot_id": bot,
                    "user_id": user,
                    "score": score,
                }
