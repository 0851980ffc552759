"""`/intents` (API.md section 9): the messages of the range by intent, their fallbacks and the outcomes
of the conversations they were seen in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.analytics.answers import Question, RangeEcho, range_echo, ratio
from app.analytics.buckets import range_bucket, to_us
from app.analytics.counters.intents import count_intents
from app.analytics.counters.messages import count_messages
from app.analytics.scope import resolve_filter
from app.db import Readers
from app.vocabulary import INTENTS_LIMIT

__all__ = ["IntentStats", "Intents", "intents"]


@dataclass(frozen=True)
class IntentStats:
    intent: str
    messages: int
    user_messages: int
    bot_messages: int
    fallback_messages: int
    fallback_rate: float | None
    conversations: int
    resolution_rate: float | None
    escalation_rate: float | None


@dataclass(frozen=True)
class Intents:
    range: RangeEcho
    messages_with_intent: int
    messages_without_intent: int
    data: tuple[IntentStats, ...]


async def intents(db: Readers, q: Question) -> Intents:
    """`GET /intents`: most `messages` first (ties by intent, in code point order), `limit` of them."""
    conn = db.main
    f = await resolve_filter(conn, q.scope)
    whole = range_bucket(q.range)
    limit = INTENTS_LIMIT.check(q.limit)
    counts, (all_messages,) = await asyncio.gather(  # one wait for the database, not two
        count_intents(conn, whole.lo, whole.hi, f, to_us(q.now), q.session_timeout_us),
        count_messages(db.side, [(whole.lo, whole.hi)], f),
    )
    with_intent = sum(m.messages for m in counts.values())
    top = sorted(counts.items(), key=lambda kv: (-kv[1].messages, kv[0]))[:limit]
    return Intents(
        range=range_echo(q.range),
        messages_with_intent=with_intent,
        messages_without_intent=all_messages.messages - with_intent,
        data=tuple(
            IntentStats(
                intent=name,
                messages=m.messages,
                user_messages=m.user,
                bot_messages=m.bot,
                fallback_messages=m.fallback,
                fallback_rate=ratio(m.fallback, m.bot),
                conversations=m.conversations,
                resolution_rate=ratio(m.resolved, m.closed),
                escalation_rate=ratio(m.escalated, m.closed),
            )
            for name, m in top
        ),
    )
