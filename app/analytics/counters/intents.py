"""Messages per intent (from `intent_slots` plus raw edges) and the distinct conversations each intent
was seen in, with their statuses at `now`.

Distinct conversations cannot be summed across slots, so ingestion keeps one `intent_convs` row per
(conversation, bot, intent) with its first and last message, and counts each pair once in
`intent_slots`, in the slot of its first message (with its conversation's end). The pairs with a
message in `[lo, hi)` are then exactly:
- those first seen in the range's whole slots: sums of `intent_slots` (the few whose conversation is
  still active at `now` are subtracted from the closed ones, as in `conversations_from_rollup`);
- those first seen in its raw edges (under 15 minutes each), and those first seen before `lo` whose
  last message is at or after it: rows of `intent_convs`, found per `span_class` (a pair of class
  k starts less than 2^k slots before any instant it covers), with their status. One that also
  reaches past `hi` counts when it has a message in the range (an indexed probe of its user's
  events: it spans the whole range, so there are few).
Under a user filter everything comes from that user's raw events (the rollups have no user).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.buckets import split_slots
from app.analytics.counters.conversations import status_sql
from app.analytics.sqlparts import Filter, as_int, day_pieces, edges_cte, fetch_rows, values_cte
from app.models import SLOT_US, SPAN_CLASSES

__all__ = ["IntentCounts", "count_intents"]


@dataclass
class IntentCounts:
    """One intent: its messages (all, the users', the bots', the bots' with `fallback`) and the
    distinct conversations with one of them, by status at `now` (`closed` = not active)."""

    messages: int = 0
    user: int = 0
    bot: int = 0
    fallback: int = 0
    conversations: int = 0
    closed: int = 0
    resolved: int = 0
    escalated: int = 0


_MESSAGES = ("n", "u", "bot", "fb")
_CONVERSATIONS = ("conversations", "closed", "resolved", "escalated")


def _add(
    out: dict[str, IntentCounts], row: dict[str, object], names: tuple[str, ...], fields: tuple[str, ...]
) -> None:
    c = out.setdefault(str(row["intent"]), IntentCounts())
    for name, field in zip(names, fields, strict=True):
        setattr(c, field, getattr(c, field) + as_int(row[name]))


async def count_intents(
    conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter, now_us: int, timeout_us: int
) -> dict[str, IntentCounts]:
    """Every intent of the messages whose timestamp falls in `[lo, hi)`, with its counts."""
    out: dict[str, IntentCounts] = {}
    edges = None if f.empty else edges_cte([(lo, hi)], f.user is not None)
    if edges is None:
        return out
    cte, any_slots, any_raw = edges
    split = split_slots(lo, hi)
    raw = [
        fetch_rows(
            conn,
            f"WITH {cte} SELECT e.intent AS intent, COUNT(*) AS n, "
            "SUM(CASE WHEN e.role = 'user' THEN 1 ELSE 0 END) AS u, "
            "SUM(CASE WHEN e.role = 'user' THEN 0 ELSE 1 END) AS bot, "
            "SUM(CASE WHEN e.role <> 'user' AND e.fallback THEN 1 ELSE 0 END) AS fb "
            f"FROM b JOIN events e ON e.ts_us >= b.{a} AND e.ts_us < b.{z} "
            f"WHERE e.type = 'message' AND e.intent IS NOT NULL AND {f.where('e')} GROUP BY e.intent",
        )
        for a, z in ((("alo", "ahi"), ("zlo", "zhi")) if any_raw else ())
    ]
    status, _duration = status_sql(now_us, timeout_us)
    counts = (
        "COUNT(*) AS conversations, "
        f"SUM(CASE WHEN ({status}) <> 'active' THEN 1 ELSE 0 END) AS closed, "
        f"SUM(CASE WHEN ({status}) = 'resolved' THEN 1 ELSE 0 END) AS resolved, "
        f"SUM(CASE WHEN ({status}) = 'escalated' THEN 1 ELSE 0 END) AS escalated"
    )
    if f.user is not None:
        active = _no_rows()
        pairs = fetch_rows(
            conn,
            f"SELECT x.intent AS intent, {counts} FROM (SELECT DISTINCT e.intent AS intent, "
            f"e.conversation_id AS cid FROM events e WHERE e.ts_us >= {int(lo)} AND e.ts_us < {int(hi)} "
            f"AND e.type = 'message' AND e.intent IS NOT NULL AND {f.where('e')}) x "
            "JOIN conversations c ON c.id = x.cid GROUP BY x.intent",
        )
    else:
        whole = split.slot_lo < split.slot_hi
        slots_us = (split.slot_lo * SLOT_US, split.slot_hi * SLOT_US)
        active = _active_pairs(conn, *slots_us, f, now_us, timeout_us) if whole else _no_rows()
        pairs = fetch_rows(conn, _pairs_outside_slots(lo, hi, split.raw, f, counts))
    # Every statement at once: one wait for the database (all are sums, in any order).
    rolled, not_closed, pair_rows, *raw_rows = await asyncio.gather(
        _rollup_rows(conn, split.slot_lo, split.slot_hi, f) if any_slots else _no_rows(), active, pairs, *raw
    )
    for row in rolled:
        _add(
            out,
            row,
            (*_MESSAGES, "pc", "pc", "pr", "pe"),
            ("messages", "user", "bot", "fallback", *_CONVERSATIONS),
        )
    for row in (row for rows in raw_rows for row in rows):
        _add(out, row, _MESSAGES, ("messages", "user", "bot", "fallback"))
    for row in not_closed:  # the pairs first seen in the whole slots whose conversation is active
        out.setdefault(str(row["intent"]), IntentCounts()).closed -= as_int(row["n"])
    for row in pair_rows:
        _add(out, row, _CONVERSATIONS, _CONVERSATIONS)
    return out


async def _rollup_rows(conn: BaseDBAsyncClient, slo: int, shi: int, f: Filter) -> list[dict[str, object]]:
    """The sums per intent of the whole slots `[slo, shi)`: whole UTC days from `intent_days`, the
    slots around them from `intent_slots` (a month is ~30 rows per bot and intent, not ~2,900)."""
    days, parts = day_pieces(slo, shi)
    sums = (
        "SELECT s.intent AS intent, SUM(s.messages) AS n, SUM(s.user_messages) AS u, "
        "SUM(s.bot_messages) AS bot, SUM(s.fallback_messages) AS fb, SUM(s.conversations) AS pc, "
        "SUM(s.resolved_conversations) AS pr, SUM(s.escalated_conversations) AS pe FROM {table} s "
        f"WHERE s.{{key}} >= {{lo}} AND s.{{key}} < {{hi}} AND {f.bot('s')} GROUP BY s.intent"
    )
    queries = [sums.format(table="intent_slots", key="slot", lo=int(a), hi=int(z)) for a, z in parts if a < z]
    if days is not None:
        queries.append(sums.format(table="intent_days", key="day", lo=int(days[0]), hi=int(days[1])))
    return [
        row for rows in await asyncio.gather(*(fetch_rows(conn, query) for query in queries)) for row in rows
    ]


async def _no_rows() -> list[dict[str, object]]:
    return []


async def _active_pairs(
    conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter, now_us: int, timeout_us: int
) -> list[dict[str, object]]:
    """Per intent, the pairs first seen in `[lo, hi)` (whole slots) whose conversation is active at
    `now` (no end event, last activity within the timeout: few, from the `last_activity_us` index):
    they are not closed."""
    return await fetch_rows(
        conn,
        "SELECT p.intent AS intent, COUNT(*) AS n FROM intent_convs p WHERE p.conversation_id IN "
        f"(SELECT c.id FROM conversations c WHERE c.last_activity_us >= {int(now_us - timeout_us)} "
        f"AND c.end_us IS NULL) AND p.first_us >= {int(lo)} AND p.first_us < {int(hi)} AND {f.bot('p')} "
        "GROUP BY p.intent",
    )


def _has_message(lo: int, hi: int, user: str) -> str:
    """EXISTS: the pair `p` has a message in `[lo, hi)` stored with user `user` (its conversation's
    user, or NULL when the conversation's user was not known yet), through `(user_id, ts_us)`."""
    return (
        f"EXISTS (SELECT 1 FROM events e WHERE e.user_id {user} AND e.ts_us >= {int(lo)} "
        f"AND e.ts_us < {int(hi)} AND e.conversation_id = p.conversation_id AND e.intent = p.intent "
        "AND e.bot_id = p.bot_id AND e.type = 'message')"
    )


def _pairs_outside_slots(lo: int, hi: int, raw: tuple[tuple[int, int], ...], f: Filter, counts: str) -> str:
    """A SELECT of `counts` per intent over the pairs with a message in `[lo, hi)` that are first seen
    in its raw edges `raw` or before `lo`."""
    windows: list[tuple[int, int, int]] = []
    for k in range(SPAN_CLASSES):
        reach = (1 << k) * SLOT_US
        windows.append((k, max(lo - reach, -(1 << 62)), lo))
        windows.extend((k, a, z) for a, z in raw)
    reaches = (
        f"p.first_us >= {int(lo)} OR (p.last_us >= {int(lo)} AND (p.last_us < {int(hi)} "
        f"OR {_has_message(lo, hi, '= c.user_id')} OR {_has_message(lo, hi, 'IS NULL')}))"
    )
    return (
        f"WITH {values_cte('w', ('k', 'lo', 'hi'), windows)} SELECT p.intent AS intent, {counts} FROM w "
        "JOIN intent_convs p ON p.span_class = w.k AND p.first_us >= w.lo AND p.first_us < w.hi "
        f"JOIN conversations c ON c.id = p.conversation_id WHERE {f.bot('p')} AND ({reaches}) "
        "GROUP BY p.intent"
    )
