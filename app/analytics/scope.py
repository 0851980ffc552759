"""What a question covers (`Scope`: bots and one end user, as UUIDs) and its resolution to row ids."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.sqlparts import Filter
from app.db import sql

__all__ = ["Scope", "resolve_filter", "visible_bots"]


@dataclass(frozen=True)
class Scope:
    """What a query covers: `bots` (UUID strings; None = every bot, empty = nothing) and one end user."""

    bots: frozenset[str] | None
    user: str | None = None


async def resolve_filter(conn: BaseDBAsyncClient, scope: Scope) -> Filter:
    """Translate bot and user UUIDs into row ids once; unknown ones match nothing."""
    bots: tuple[int, ...] | None = None
    if scope.bots is not None:
        wanted = sorted(scope.bots)
        if not wanted:
            return Filter(bots=(), user=None, empty=True)
        marks = ", ".join("?" * len(wanted))
        found = await conn.execute_query_dict(
            sql(f"SELECT id FROM bots WHERE uuid IN ({marks})", conn), wanted
        )
        bots = tuple(sorted(int(r["id"]) for r in found))
        if not bots:
            return Filter(bots=(), user=None, empty=True)
    user: int | None = None
    if scope.user is not None:
        found = await conn.execute_query_dict(
            sql("SELECT id FROM end_users WHERE uuid = ?", conn), [scope.user]
        )
        if not found:
            return Filter(bots=bots, user=None, empty=True)
        user = int(found[0]["id"])
    return Filter(bots=bots, user=user)


async def visible_bots(conn: BaseDBAsyncClient, bots: frozenset[str] | None) -> list[str]:
    """The bots a caller may pick (a dashboard's bot selector): a scoped caller's own bots, with or
    without data; for an unscoped one every bot that has data. Sorted."""
    if bots is not None:
        return sorted(bots)
    rows = await conn.execute_query_dict("SELECT uuid FROM bots ORDER BY uuid")
    return [str(row["uuid"]) for row in rows]
