"""Realistic synthetic traffic, pure Python and deterministic (seeded).

Conversations are generated in start order as compact `Conv` records (integer microsecond
timestamps, UUID strings): the bulk loader folds them straight into table rows, and
`timed_api_events` turns one into the JSON events a botserver would POST.

The shape: bots of unequal popularity, users who join over the period (a third before it) with a
preferred bot and a heavy-tailed activity, a weekly and diurnal pattern with growth over the
period, about `avg_messages` messages per conversation alternating user and bot (user think time,
bot latency), most conversations ended (resolved / escalated / abandoned, some left to time out),
a third of the ended ones rated, and the conversations of the last minutes still active.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.analytics.buckets import EPOCH, to_us

US = 1_000_000
DAY_US = 86_400 * US

CHANNELS = ("web", "whatsapp", "teams", "telegram")
CHANNEL_WEIGHTS = (0.45, 0.30, 0.15, 0.10)
INTENTS = (
    "greeting",
    "order_status",
    "refund",
    "pricing",
    "opening_hours",
    "password_reset",
    "vacation",
    "shipping",
    "cancel",
    "human_agent",
)
# (model, share of bot messages, latency factor, price per token in units of 2^-20): a binary
# fraction, so every sum of costs is exact whatever order it is added in.
MODELS = (("gpt-4o-mini", 0.6, 0.8, 1), ("gpt-4o", 0.25, 1.6, 12), ("local-llama", 0.15, 1.1, 0))
PRICE_UNIT = 2.0**-20
NLU_MODEL = "intent-classifier"
NLU_COST = 16 * PRICE_UNIT
"""User messages go through an intent classifier: a model and a cost on every message."""
REASONS = ("user_request", "low_confidence", "policy", "technical_issue")
REASON_WEIGHTS = (0.45, 0.3, 0.1, 0.15)
OUTCOMES = ("resolved", "escalated", "abandoned", None)
OUTCOME_WEIGHTS = (0.62, 0.15, 0.10, 0.13)
SCORES = (1, 2, 3, 4, 5)
SCORE_WEIGHTS = (0.05, 0.07, 0.13, 0.35, 0.40)
BOT_WEIGHTS = (0.30, 0.25, 0.17, 0.13, 0.09, 0.06, 0.05, 0.04, 0.03, 0.02)
# Relative traffic per UTC hour: quiet nights, a morning ramp, an afternoon peak.
HOURLY = (
    0.18, 0.12, 0.09, 0.08, 0.09, 0.14, 0.28, 0.50, 0.78, 0.95, 1.00, 0.98,
    0.92, 0.96, 1.00, 0.97, 0.90, 0.80, 0.70, 0.62, 0.55, 0.46, 0.36, 0.26,
)  # fmt: skip
WEEKDAY = (1.0, 1.02, 1.0, 0.98, 0.92, 0.55, 0.45)  # Monday .. Sunday
_MASK = (1 << 128) - 1 ^ (0xF << 76) ^ (0x3 << 62)
_V4 = (0x4 << 76) | (0x2 << 62)


@dataclass(frozen=True)
class Params:
    """What a data set is made of (the bulk loader's cache key)."""

    bots: int = 6
    users: int = 40_000
    conversations: int = 400_000
    avg_messages: float = 25.0
    days: float = 90.0
    seed: int = 42

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser, *, seed: bool = False) -> None:
        """The data set's command-line options (`--bots` ... `--days`, and `--seed` if asked)."""
        d = Params()
        p.add_argument("--bots", type=int, default=d.bots)
        p.add_argument("--users", type=int, default=d.users)
        p.add_argument("--conversations", type=int, default=d.conversations)
        p.add_argument("--avg-messages", type=float, default=d.avg_messages)
        p.add_argument("--days", type=float, default=d.days)
        if seed:
            p.add_argument("--seed", type=int, default=d.seed)

    @classmethod
    def from_args(cls, a: argparse.Namespace) -> Params:
        """The data set the options of `add_arguments` name."""
        return cls(
            a.bots, a.users, a.conversations, a.avg_messages, a.days, getattr(a, "seed", Params().seed)
        )

    def key(self) -> str:
        return (
            f"b{self.bots}-u{self.users}-c{self.conversations}-m{self.avg_messages:g}"
            f"-d{self.days:g}-s{self.seed}-v{GENERATOR_VERSION}"
        )


GENERATOR_VERSION = 3


@dataclass(slots=True)
class Conv:
    uuid: str
    bot: int  # index into the bot UUIDs
    user: int  # index into the user UUIDs
    channel: str
    start_id: str
    start_us: int
    # (event id, ts_us, is_user, intent, fallback, latency_ms, tokens, model, cost)
    messages: list[
        tuple[str, int, bool, str | None, bool | None, int | None, int | None, str | None, float | None]
    ] = field(default_factory=list)
    end: tuple[str, int, str, str | None] | None = None  # (event id, ts_us, resolution, reason)
    rating: tuple[str, int, int, str | None] | None = None  # (event id, ts_us, score, comment)


class Dataset:
    """The bots, users and conversations of one `Params`, ending at `end_us`."""

    def __init__(self, params: Params, end_us: int) -> None:
        self.params = params
        self.end_us = end_us
        self.start_us = end_us - int(params.days * DAY_US)
        rng = random.Random(params.seed)
        self.bot_uuids = [self.uuid4(rng) for _ in range(params.bots)]
        weights = list(BOT_WEIGHTS[: params.bots]) + [0.02] * max(0, params.bots - len(BOT_WEIGHTS))
        self.bot_weights = weights
        self.user_uuids = [self.uuid4(rng) for _ in range(params.users)]
        # A third of the users existed before the period; the others join evenly over it.
        span = self.end_us - self.start_us
        joins = sorted(
            self.start_us if rng.random() < 1 / 3 else self.start_us + int(rng.random() * span)
            for _ in range(params.users)
        )
        self.user_join = joins
        self.user_bot = rng.choices(range(params.bots), weights, k=params.users)

    @staticmethod
    def uuid4(rng: random.Random) -> str:
        h = "%032x" % ((rng.getrandbits(128) & _MASK) | _V4)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _start_times(self, rng: random.Random) -> Iterator[int]:
        """Conversation start times in order: growth, weekday and hour-of-day weights."""
        p = self.params
        first_day = (self.start_us // DAY_US) * DAY_US
        days = []
        day = first_day
        while day < self.end_us:
            days.append(day)
            day += DAY_US
        n_days = len(days)
        weights = []
        for i, d in enumerate(days):
            weekday = datetime.fromtimestamp(d / US, UTC).weekday()
            growth = 0.75 + 0.5 * i / max(1, n_days - 1)
            lo, hi = max(d, self.start_us), min(d + DAY_US, self.end_us)
            covered = sum(HOURLY[h] * _overlap(d + h * 3600 * US, d + (h + 1) * 3600 * US, lo, hi)
                          for h in range(24)) / (3600 * US)  # fmt: skip
            weights.append(growth * WEEKDAY[weekday] * covered)
        total = sum(weights)
        remaining = p.conversations
        for i, d in enumerate(days):
            n = remaining if i == n_days - 1 else min(remaining, round(p.conversations * weights[i] / total))
            remaining -= n
            lo, hi = max(d, self.start_us), min(d + DAY_US, self.end_us)
            hours = [h for h in range(24) if _overlap(d + h * 3600 * US, d + (h + 1) * 3600 * US, lo, hi)]
            hw = [HOURLY[h] * _overlap(d + h * 3600 * US, d + (h + 1) * 3600 * US, lo, hi) for h in hours]
            times = []
            for h in rng.choices(hours, hw, k=n):
                a = max(lo, d + h * 3600 * US)
                b = min(hi, d + (h + 1) * 3600 * US)
                times.append(a + int(rng.random() * (b - a)))
            times.sort()
            yield from times

    def conversations(self, seed: int | None = None) -> Iterator[Conv]:
        """Every conversation, in start order (same output for the same params, end and seed)."""
        p = self.params
        rng = random.Random(p.seed * 7919 + 1 if seed is None else seed)
        uuid4 = self.uuid4
        joins = self.user_join
        n_users = p.users
        bot_w = self.bot_weights
        bots = range(p.bots)
        turns_mu = math.log(p.avg_messages / 2) - 0.18  # lognormal(mu, 0.6) has mean avg/2
        model_weights = [m[1] for m in MODELS]
        end_us = self.end_us
        for start in self._start_times(rng):
            k = bisect.bisect_right(joins, start)
            if k == 0:
                k = 1
            r = rng.random()
            # Half the traffic from a heavy core of early users, half spread over everyone joined.
            user = int(k * rng.random() ** 3) if r < 0.5 else int(k * rng.random())
            user = min(user, n_users - 1)
            bot = self.user_bot[user] if rng.random() < 0.8 else rng.choices(bots, bot_w)[0]
            conv = Conv(
                uuid=uuid4(rng),
                bot=bot,
                user=user,
                channel=rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0],
                start_id=uuid4(rng),
                start_us=start,
            )
            turns = max(1, round(rng.lognormvariate(turns_mu, 0.6)))
            t = start
            msgs = conv.messages
            truncated = False
            for turn in range(turns):
                t += int((2 + rng.expovariate(1 / 20)) * US)  # user think time
                if t > end_us:
                    truncated = True
                    break
                intent = rng.choice(INTENTS) if turn == 0 or rng.random() < 0.5 else None
                msgs.append((uuid4(rng), t, True, intent, None, None, None, NLU_MODEL, NLU_COST))
                model, _share, factor, price = rng.choices(MODELS, model_weights)[0]
                latency = int(rng.lognormvariate(6.6, 0.5) * factor)
                t += latency * 1000
                if t > end_us:
                    truncated = True
                    break
                fallback = rng.random() < 0.07
                tokens = rng.randint(20, 400)
                cost = tokens * price * PRICE_UNIT
                msgs.append((uuid4(rng), t, False, intent, fallback, latency, tokens, model, cost))
            if truncated or (end_us - t < 10 * 60 * US and rng.random() < 0.7):
                yield conv  # still active (or about to time out)
                continue
            outcome = rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]
            if outcome is not None:
                te = t + int(rng.uniform(1, 30) * US)
                if te <= end_us:
                    reason = rng.choices(REASONS, REASON_WEIGHTS)[0] if outcome == "escalated" else None
                    conv.end = (uuid4(rng), te, outcome, reason)
                    t = te
            if rng.random() < 0.35:
                tr = t + int(rng.uniform(5, 120) * US)
                if tr <= end_us:
                    comment = rng.choice(("thanks!", "not helpful", "quick answer", None, None, None))
                    conv.rating = (uuid4(rng), tr, rng.choices(SCORES, SCORE_WEIGHTS)[0], comment)
            yield conv


def _overlap(a: int, b: int, lo: int, hi: int) -> int:
    return max(0, min(b, hi) - max(a, lo))


def iso(ts_us: int) -> str:
    return (EPOCH + timedelta(microseconds=ts_us)).isoformat().replace("+00:00", "Z")


def timed_api_events(ds: Dataset, c: Conv) -> list[tuple[int, dict[str, Any]]]:
    """`(ts_us, event)` pairs of one conversation."""
    bot, user = ds.bot_uuids[c.bot], ds.user_uuids[c.user]
    out: list[tuple[int, dict[str, Any]]] = [
        (
            c.start_us,
            {
                "id": c.start_id,
                "type": "conversation_started",
                "timestamp": iso(c.start_us),
                "conversation_id": c.uuid,
                "bot_id": bot,
                "user_id": user,
                "channel": c.channel,
            },
        )
    ]
    for eid, ts, is_user, intent, fallback, latency, tokens, model, cost in c.messages:
        ev: dict[str, Any] = {
            "id": eid,
            "type": "message",
            "timestamp": iso(ts),
            "conversation_id": c.uuid,
            "bot_id": bot,
            "user_id": user,
            "role": "user" if is_user else "bot",
        }
        if intent is not None:
            ev["intent"] = intent
        if fallback is not None:
            ev["fallback"] = fallback
        if latency is not None:
            ev["latency_ms"] = latency
        if tokens is not None:
            ev["tokens"] = tokens
        if model is not None:
            ev["model"] = model
        if cost is not None:
            ev["cost"] = cost
        out.append((ts, ev))
    if c.end is not None:
        eid, ts, resolution, reason = c.end
        ev = {
            "id": eid,
            "type": "conversation_ended",
            "timestamp": iso(ts),
            "conversation_id": c.uuid,
            "bot_id": bot,
            "user_id": user,
            "resolution": resolution,
        }
        if reason is not None:
            ev["reason"] = reason
        out.append((ts, ev))
    if c.rating is not None:
        eid, ts, score, comment = c.rating
        ev = {
            "id": eid,
            "type": "satisfaction",
            "timestamp": iso(ts),
            "conversation_id": c.uuid,
            "bot_id": bot,
            "user_id": user,
            "score": score,
        }
        if comment is not None:
            ev["comment"] = comment
        out.append((ts, ev))
    return out


def time_ordered_events(ds: Dataset, seed: int | None = None) -> list[dict[str, Any]]:
    """All events of the data set in timestamp order (how a live botserver sends them); `seed` as
    for `Dataset.conversations`."""
    keyed: list[tuple[int, dict[str, Any]]] = []
    for c in ds.conversations(seed):
        keyed.extend(timed_api_events(ds, c))
    keyed.sort(key=lambda kv: kv[0])
    return [ev for _, ev in keyed]


def now_us() -> int:
    return to_us(datetime.now(UTC))
