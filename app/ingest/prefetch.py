"""PostgreSQL: everything a group's transaction reads before it folds, in one statement (each
statement is a round trip through the event loop, which is busy parsing the next requests)."""

from __future__ import annotations

from typing import Any

import orjson

from app.ingest.fold import Conv
from app.ingest.insight_rollups import PAIRS_OF
from app.ingest.statements import BOTS, CONVERSATIONS, USERS, Known, conversations_of
from app.ingest.steps import Query, Steps

_IN = " = ANY(?::text[])"


def _rows(select: str) -> str:
    return f"(SELECT coalesce(json_agg(x), '[]'::json) FROM ({select}) x)"


_OWNERS = (
    " UNION SELECT o.id, o.uuid{extra} FROM conversations c JOIN {table} o ON o.id = c.{column} "
    "WHERE c.uuid" + _IN
)
_FIRST = ", o.first_active_us"
_READ = (
    "SELECT json_build_object("
    f"'ids', {_rows('SELECT id FROM events WHERE id' + _IN)}, "
    f"'conversations', {_rows(CONVERSATIONS + _IN)}, "
    f"'bots', {_rows(BOTS + _IN + _OWNERS.format(extra='', table='bots', column='bot_id'))}, "
    f"'users', {_rows(USERS + _IN + _OWNERS.format(extra=_FIRST, table='end_users', column='user_id'))}, "
    f"'pairs', {_rows(PAIRS_OF + _IN)}"
    ")::text AS j"
)
"""The stored ids among the group's, its conversations as stored, the bots and users its events
or those conversations name, and those conversations' intent pairs (as JSON: floats print
exactly, in their shortest form)."""


def read_group(
    ids: list[str], conversations: list[str], bots: list[str], users: list[str]
) -> Steps[tuple[set[str], dict[str, Conv], Known]]:
    rows = yield Query(_READ, [ids, conversations, bots, conversations, users, conversations, conversations])
    # `bots` and `users` that are not among the rows are not stored (yet: see `Known`)
    assert rows is not None
    found: dict[str, Any] = orjson.loads(rows[0]["j"])
    bot_rows, user_rows = found["bots"], found["users"]
    known = Known(
        {r["uuid"]: r["id"] for r in bot_rows},
        {r["uuid"]: r for r in user_rows},
        set(bots),
        set(users),
        found["pairs"],
    )
    return {r["id"] for r in found["ids"]}, conversations_of(found["conversations"]), known
