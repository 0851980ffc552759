"""A short-lived result cache for the analytics answers of /graphql and the REST shim (which runs the
same resolvers). Reports do not use it: each reads its numbers at its own fixed "now".

Dashboards poll the same questions over and over, often from several viewers at once. Answers are
kept for `ANALYTICS_QUERY_CACHE_SECONDS` (default 2 s; 0 turns the cache off) and dropped at once
when this process ingests events; concurrent identical questions wait for one computation
(single flight). Another process's events show within the TTL.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from app.analytics.queries import Scope
from app.analytics.ranges import ResolvedRange
from app.config import get_settings

__all__ = ["cached_query", "clear", "note_data_changed"]

Query = Callable[[ResolvedRange, Scope, datetime], Awaitable[dict[str, Any]]]

_MAX_ENTRIES = 512
_entries: OrderedDict[tuple[Any, ...], tuple[float, asyncio.Future[dict[str, Any]]]] = OrderedDict()
_version = 0


def note_data_changed() -> None:
    """Called after events are stored: every cached answer is stale."""
    global _version
    _version += 1
    _entries.clear()


def clear() -> None:
    _entries.clear()


async def cached_query(query: Query, r: ResolvedRange, scope: Scope, now: datetime) -> dict[str, Any]:
    """`query(r, scope, now)`, answered from the cache when the same question was asked just now."""
    ttl = get_settings().query_cache_seconds
    if ttl <= 0:
        return await query(r, scope, now)
    key = (
        getattr(query, "__qualname__", repr(query)),
        r.start,
        r.end,
        r.tz_name,
        r.group_by,
        scope.bots,
        scope.user,
        _version,
    )
    clock = time.monotonic()
    hit = _entries.get(key)
    if hit is not None and hit[0] > clock:
        _entries.move_to_end(key)
        return copy.deepcopy(await asyncio.shield(hit[1]))
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    _entries[key] = (clock + ttl, future)
    while len(_entries) > _MAX_ENTRIES:
        _entries.popitem(last=False)
    try:
        result = await query(r, scope, now)
    except BaseException as exc:
        _entries.pop(key, None)
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
        raise
    future.set_result(result)
    return copy.deepcopy(result)
