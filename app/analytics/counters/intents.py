"""Messages per intent (from `intent_slots` plus raw edges) and the conversations each intent was
seen in, with their statuses at `now` (from the raw `events` of the range: distinct conversations
cannot be summed across slots)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.counters.conversations import status_sql
from app.analytics.sqlparts import Filter, as_int, edges_cte, fetch_rows
from app.db import sql

__all__ = ["IntentConversations", "IntentMessages", "count_intent_conversations", "count_intents"]


@dataclass
class IntentMessages:
    """The messages of one intent: all, the users', the bots', the bots' with `fallback`."""

    messages: int = 0
    user: int = 0
    bot: int = 0
    fallback: int = 0


async def count_intents(conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter) -> dict[str, IntentMessages]:
    """Every intent of the messages whose timestamp falls in `[lo, hi)`, with its counts."""
    out: dict[str, IntentMessages] = {}
    edges = None if f.empty else edges_cte([(lo, hi)], f.user is not None)
    if edges is None:
        return out
    cte, any_slots, any_raw = edges
    queries = []
    if any_slots:
        queries.append(
            "SELECT s.intent AS intent, SUM(s.messages) AS n, SUM(s.user_messages) AS u, "
            "SUM(s.bot_messages) AS bot, SUM(s.fallback_messages) AS fb FROM b JOIN intent_slots s "
            f"ON s.slot >= b.slo AND s.slot < b.shi WHERE {f.bot('s')} GROUP BY s.intent"
        )
    if any_raw:
        for a, z in (("alo", "ahi"), ("zlo", "zhi")):
            queries.append(
                "SELECT e.intent AS intent, COUNT(*) AS n, "
                "SUM(CASE WHEN e.role = 'user' THEN 1 ELSE 0 END) AS u, "
                "SUM(CASE WHEN e.role = 'user' THEN 0 ELSE 1 END) AS bot, "
                "SUM(CASE WHEN e.role <> 'user' AND e.fallback THEN 1 ELSE 0 END) AS fb "
                f"FROM b JOIN events e ON e.ts_us >= b.{a} AND e.ts_us < b.{z} "
                f"WHERE e.type = 'message' AND e.intent IS NOT NULL AND {f.where('e')} GROUP BY e.intent"
            )
    for query in queries:
        for row in await fetch_rows(conn, f"WITH {cte} {query}"):
            m = out.setdefault(str(row["intent"]), IntentMessages())
            m.messages += as_int(row["n"])
            m.user += as_int(row["u"])
            m.bot += as_int(row["bot"])
            m.fallback += as_int(row["fb"])
    return out


@dataclass
class IntentConversations:
    """The distinct conversations with a message of one intent in the range, by status at `now`."""

    conversations: int = 0
    closed: int = 0
    resolved: int = 0
    escalated: int = 0


async def count_intent_conversations(
    conn: BaseDBAsyncClient,
    lo: int,
    hi: int,
    f: Filter,
    intents: Sequence[str],
    now_us: int,
    timeout_us: int,
) -> dict[str, IntentConversations]:
    """For each of `intents` (at most a page: they are bound as parameters), its conversations."""
    out = {name: IntentConversations() for name in intents}
    if f.empty or lo >= hi or not intents:
        return out
    status, _duration = status_sql(now_us, timeout_us)
    marks = ", ".join("?" * len(intents))
    query = (
        "SELECT x.intent AS intent, COUNT(*) AS n, "
        f"SUM(CASE WHEN ({status}) <> 'active' THEN 1 ELSE 0 END) AS closed, "
        f"SUM(CASE WHEN ({status}) = 'resolved' THEN 1 ELSE 0 END) AS resolved, "
        f"SUM(CASE WHEN ({status}) = 'escalated' THEN 1 ELSE 0 END) AS escalated "
        "FROM (SELECT DISTINCT e.intent AS intent, e.conversation_id AS cid FROM events e "
        f"WHERE e.ts_us >= {int(lo)} AND e.ts_us < {int(hi)} AND e.type = 'message' "
        f"AND e.intent IN ({marks}) AND {f.where('e')}) x "
        "JOIN conversations c ON c.id = x.cid GROUP BY x.intent"
    )
    for row in await conn.execute_query_dict(sql(query, conn), list(intents)):
        c = out[str(row["intent"])]
        c.conversations = as_int(row["n"])
        c.closed = as_int(row["closed"])
        c.resolved = as_int(row["resolved"])
        c.escalated = as_int(row["escalated"])
    return out
