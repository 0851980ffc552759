"""The randomized data set: 200 conversations of three bots and thirty users over a month, stored as of
`NOW`, in shuffled batches with resent duplicates.

It carries the cases the queries must get right: sessions near `NOW` (active, or abandoned by the
timeout), starts on slot, hour and day edges, second starts, messages before the start, ends before the
last message or the start, tied ends, several ratings, events of no bot and events after `NOW`, at
various UTC offsets. tests/analytics/test_queries_match_the_reference.py and the HTTP tests compare the service's answers
on it with tests/analytics/reference.py.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from app.models import SLOT_US
from tests.analytics import reference as ref
from tests.factories import new_id, stamp

NOW = datetime(2025, 3, 12, 15, 7, 30, 250_000, tzinfo=UTC)  # a Wednesday, after the NY DST change
DATA_START = datetime(2025, 2, 10, tzinfo=UTC)


@dataclasses.dataclass
class Dataset:
    events: list[dict[str, Any]]
    batches: list[list[dict[str, Any]]]
    bots: list[str]
    users: list[str]


INTENTS = ("order_status", "refund", "billing", "human", "", "ask_only")
MODELS = ("gpt-small", "gpt-large", "local", "")


def _insight_fields(rng: random.Random, msg: dict[str, Any], role: str) -> None:
    """Intents (one only ever on user messages: no fallback rate), models, latencies (bot messages
    mostly, a few on user messages: they do not count), tokens and costs (any role)."""
    if "intent" not in msg and rng.random() < 0.4:
        intent = rng.choice(INTENTS)
        if intent != "ask_only" or role == "user":
            msg["intent"] = intent
    if rng.random() < 0.6:
        msg["model"] = rng.choice(MODELS)
    if (role == "bot" and rng.random() < 0.8) or rng.random() < 0.1:
        msg["latency_ms"] = rng.choice([rng.randint(50, 3000), 120, 400, 400])
    if rng.random() < 0.5:
        msg["tokens"] = rng.randint(0, 900)
    if rng.random() < 0.5:
        msg["cost"] = rng.choice([0, 0.25, round(rng.uniform(0, 0.02), 6), 1])


def make_dataset(seed: int = 20250312, n_convs: int = 200) -> Dataset:
    rng = random.Random(seed)
    extra = random.Random(seed + 1)  # section 9's fields: the other draws stay as they were
    bots = [new_id(rng) for _ in range(3)]
    users = [new_id(rng) for _ in range(30)]
    events: list[dict[str, Any]] = []
    span = (NOW - DATA_START).total_seconds()

    def t_at(dt: datetime) -> str:
        return stamp(dt, rng.choice([0, 0, 330, -300, 60]))

    for i in range(n_convs):
        conv = new_id(rng)
        bot = rng.choices(bots, weights=[5, 3, 2])[0]
        user = rng.choice(users)
        if i < 30:  # near now: some still active, some abandoned by the timeout
            t0 = NOW - timedelta(minutes=rng.uniform(0, 95))
        else:
            t0 = DATA_START + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < 0.3:  # on a slot, an hour or a day boundary: ties with bucket edges
            unit = rng.choice([SLOT_US, 4 * SLOT_US, 96 * SLOT_US])
            us = int(t0.timestamp() * 1_000_000) // unit * unit
            t0 = datetime.fromtimestamp(us / 1_000_000, UTC)
        elif rng.random() < 0.5:
            t0 = t0.replace(microsecond=0)
        base = {"conversation_id": conv, "bot_id": bot, "user_id": user}
        conv_events: list[dict[str, Any]] = []
        if rng.random() < 0.85:
            start: dict[str, Any] = {"type": "conversation_started", "timestamp": t_at(t0), **base}
            channel = rng.choice([None, "web", "whatsapp", "teams", "whatsapp"])
            if channel:
                start["channel"] = channel
            conv_events.append(start)
            if rng.random() < 0.12:  # a second start: same instant (tie by id) or later
                later = t0 if rng.random() < 0.5 else t0 + timedelta(seconds=rng.randint(1, 300))
                conv_events.append(
                    {"type": "conversation_started", "timestamp": t_at(later), "channel": "teams", **base}
                )
        t = t0
        if rng.random() < 0.1:  # a message stamped before the start
            t = t0 - timedelta(seconds=rng.randint(1, 120))
        last = t0
        for k in range(rng.randint(0, 8)):
            role = "user" if k % 2 == 0 or rng.random() < 0.2 else "bot"
            msg: dict[str, Any] = {"type": "message", "role": role, "timestamp": t_at(t), **base}
            if rng.random() < 0.4:
                msg["fallback"] = rng.random() < 0.5
            if rng.random() < 0.3:
                msg["intent"] = "greet"
            _insight_fields(extra, msg, role)
            conv_events.append(msg)
            last = max(last, t)
            t += timedelta(
                seconds=rng.choice([0, 1, 5, 30, 90, 400, 1200, 2400]), microseconds=rng.randint(0, 999)
            )
        if rng.random() < 0.55 and i >= 5:
            choice = rng.random()
            if choice < 0.15:
                end_t = last - timedelta(seconds=rng.randint(1, 60))  # an end before the last message
            elif choice < 0.2:
                end_t = t0 - timedelta(seconds=30)  # an end before the start: duration 0
            else:
                end_t = last + timedelta(seconds=rng.choice([0, 10, 100, 1000, 4000]))
            end: dict[str, Any] = {
                "type": "conversation_ended",
                "timestamp": t_at(end_t),
                "conversation_id": conv,
                "resolution": rng.choice(["resolved", "resolved", "escalated", "abandoned"]),
            }
            reason = extra.choice([None, None, "", "user_request", "low_confidence", "low_confidence"])
            if reason is not None:
                end["reason"] = reason
            if rng.random() < 0.5:
                end.update(bot_id=bot, user_id=user)
            conv_events.append(end)
            if rng.random() < 0.15:  # two ends at the same instant: the greater id wins
                conv_events.append({**end, "resolution": rng.choice(["resolved", "escalated"])})
        if rng.random() < 0.35:
            rt = last + timedelta(seconds=rng.randint(0, 3 * 86400))
            for _ in range(rng.randint(1, 3)):
                conv_events.append(
                    {"type": "satisfaction", "score": rng.randint(1, 5), "timestamp": t_at(rt), **base}
                )
                if rng.random() < 0.6:
                    rt += timedelta(hours=rng.randint(1, 30))
        for e in conv_events:
            e["id"] = new_id(rng)
        # Ingestion refuses timestamps more than 24 h ahead of its clock.
        events.extend(e for e in conv_events if ref.ts_of(e["timestamp"]) < NOW + timedelta(hours=2))
    # Conversations of no bot (only an end event) count nowhere.
    for _ in range(2):
        events.append(
            {
                "id": new_id(rng),
                "type": "conversation_ended",
                "timestamp": t_at(NOW - timedelta(days=2)),
                "conversation_id": new_id(rng),
                "resolution": "resolved",
            }
        )
    # Events after now: never in the realtime window.
    events.append(
        {
            "id": new_id(rng),
            "type": "message",
            "role": "user",
            "timestamp": t_at(NOW + timedelta(minutes=20)),
            "conversation_id": new_id(rng),
            "bot_id": bots[0],
            "user_id": users[0],
        }
    )
    shuffled = events[:]
    rng.shuffle(shuffled)
    batches: list[list[dict[str, Any]]] = []
    i = 0
    while i < len(shuffled):
        size = rng.randint(1, 400)
        batch = shuffled[i : i + size]
        if batches and rng.random() < 0.5:  # retries: ids stored before are duplicates
            batch = batch + rng.sample(shuffled[:i], min(5, i))
        batches.append(batch)
        i += size
    return Dataset(events, batches, bots, users)


DATASET = make_dataset()
UNKNOWN = "00000000-0000-4000-8000-000000000000"
BUSY_USER = max(DATASET.users, key=lambda u: sum(1 for e in DATASET.events if e.get("user_id") == u))
