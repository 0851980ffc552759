"""A short-lived result cache for the analytics answers of /graphql and the REST shim (which runs the
same resolvers). Reports do not use it: each reads its numbers at its own fixed "now".

Dashboards poll the same questions over and over, often from several viewers at once. Answers are
kept for `ANALYTICS_QUERY_CACHE_SECONDS` (default 2 s; 0 turns the cache off) and dropped at once
when this process ingests events; concurrent identical questions wait for one computation
(single flight). Another process's events show within the TTL.

Answers are frozen dataclasses (tuples for their series), so every caller gets the same object and
none can change what another one sees: no copies.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, TypeVar

from app.analytics.answers import Question
from app.config import get_settings
from app.db import Readers

if TYPE_CHECKING:
    from app.analytics.catalog import Metric

__all__ = ["cached_query", "clear", "note_data_changed"]

A = TypeVar("A")

_MAX_ENTRIES = 512
_entries: OrderedDict[tuple[Any, ...], tuple[float, asyncio.Future[Any]]] = OrderedDict()
_version = 0


def note_data_changed() -> None:
    """Called after events are stored: every cached answer is stale."""
    global _version
    _version += 1
    _entries.clear()


def clear() -> None:
    _entries.clear()


async def cached_query(metric: Metric[A], db: Readers, q: Question) -> A:
    """`metric.run(db, q)`, answered from the cache when the same question was asked just now."""
    ttl = get_settings().query_cache_seconds
    if ttl <= 0:
        return await metric.run(db, q)
    r, scope = q.range, q.scope
    key = (
        metric.name,
        r.start,
        r.end,
        r.tz_name,
        r.group_by,
        scope.bots,
        scope.user,
        q.session_timeout_us,
        q.limit,
        q.compare if metric.comparable else None,
        _version,
    )
    clock = time.monotonic()
    hit = _entries.get(key)
    if hit is not None and hit[0] > clock:
        _entries.move_to_end(key)
        found: A = await asyncio.shield(hit[1])
        return found
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _entries[key] = (clock + ttl, future)
    while len(_entries) > _MAX_ENTRIES:
        _entries.popitem(last=False)
    try:
        result = await metric.run(db, q)
    except BaseException as exc:
        _entries.pop(key, None)
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
        raise
    future.set_result(result)
    return result
