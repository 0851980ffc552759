"""Retention's cohort x bucket counts: of the users new in bucket `c`, how many were active in a
later bucket `a` (API.md section 6, `/engagement/retention`), from the users' activity rows."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.buckets import Bucket, to_us
from app.analytics.counters.users import active_pairs, new_pairs
from app.analytics.sqlparts import Filter, aligned_slots, as_int, bounds_of, fetch_rows, values_cte
from app.models import SLOT_US

__all__ = ["cohort_activity"]


def _uniform_slots(buckets: Sequence[Bucket]) -> tuple[int, int] | None:
    """`(origin, length)` in slots when every bucket's aligned start is `origin + i * length` (days
    and weeks in a zone without a DST change in the range), else None."""
    starts = [to_us(b.start) for b in buckets]
    if not starts or any(x % SLOT_US for x in starts):
        return None
    if len(starts) == 1:
        return starts[0] // SLOT_US, max(1, -(-(buckets[0].hi - starts[0]) // SLOT_US))
    steps = {b - a for a, b in pairwise(starts)}
    if len(steps) != 1:
        return None
    return starts[0] // SLOT_US, steps.pop() // SLOT_US


async def _retention_uniform(
    conn: BaseDBAsyncClient, uniform: tuple[int, int], slots: list[tuple[int, int, int]], f: Filter
) -> dict[tuple[int, int], int]:
    """Cohort x bucket counts when buckets are equally long: bucket numbers are arithmetic, so one
    pass over the cohorts' activity rows (index seek per user) counts every pair."""
    origin, length = uniform
    lo, hi = min(x[1] for x in slots), max(x[2] for x in slots)
    o, n, lo_us, hi_us = int(origin), int(length), int(lo) * SLOT_US, int(hi) * SLOT_US
    if f.bots is None:
        cohort = (
            f"SELECT u.id AS id, (u.first_active_us / {SLOT_US} - {o}) / {n} AS c FROM end_users u "
            f"WHERE u.first_active_us >= {lo_us} AND u.first_active_us < {hi_us}"
        )
        activity = "user_slots_all a ON a.user_id = fa.id"
    else:
        bot = int(f.bots[0])
        cohort = (
            f"SELECT u.user_id AS id, (u.first_active_us / {SLOT_US} - {o}) / {n} AS c FROM bot_users u "
            f"WHERE u.bot_id = {bot} AND u.first_active_us >= {lo_us} AND u.first_active_us < {hi_us}"
        )
        activity = f"user_slots a ON a.bot_id = {bot} AND a.user_id = fa.id"
    bucket = f"((a.slot - {o}) / {n})"
    rows = await fetch_rows(
        conn,
        f"WITH fa(id, c) AS MATERIALIZED ({cohort}) "
        f"SELECT fa.c AS c, {bucket} AS a, COUNT(*) AS n FROM fa JOIN {activity} "
        f"AND a.slot >= {int(lo)} AND a.slot < {int(hi)} "
        f"WHERE (a.prev_slot IS NULL OR a.prev_slot < {int(lo)} OR a.prev_slot < {o} + {bucket} * {n}) "
        f"AND {bucket} > fa.c GROUP BY fa.c, {bucket}",
    )
    return {(int(row["c"]), int(row["a"])): as_int(row["n"]) for row in rows}


async def _retention_by_chain(
    conn: BaseDBAsyncClient, slots: list[tuple[int, int, int]], live: list[tuple[int, int, int]], f: Filter
) -> dict[tuple[int, int], int]:
    """Cohort x bucket counts for slot-aligned buckets, driven from the cohorts' users: for each user
    new in the range, its activity rows (index seek on user and slot) that are its first in a bucket
    by the `prev_slot` chain. Materialising the cohort first keeps SQLite from probing the users
    table once per activity row (4x slower at 10M messages)."""
    if f.bots is None:
        cohort = (
            "SELECT u.id AS id, cb.idx AS c FROM cb JOIN end_users u "
            "ON u.first_active_us >= cb.lo AND u.first_active_us < cb.hi"
        )
        activity = "user_slots_all a ON a.user_id = fa.id"
    else:
        bot = int(f.bots[0])
        cohort = (
            "SELECT u.user_id AS id, cb.idx AS c FROM cb JOIN bot_users u "
            f"ON u.bot_id = {bot} AND u.first_active_us >= cb.lo AND u.first_active_us < cb.hi"
        )
        activity = f"user_slots a ON a.bot_id = {bot} AND a.user_id = fa.id"
    lo, hi = min(s[1] for s in slots), max(s[2] for s in slots)
    rows = await fetch_rows(
        conn,
        f"WITH {values_cte('b', ('idx', 'lo', 'hi'), slots)}, {values_cte('cb', ('idx', 'lo', 'hi'), live)}, "
        f"fa(id, c) AS MATERIALIZED ({cohort}) "
        f"SELECT fa.c AS c, b.idx AS a, COUNT(*) AS n FROM fa JOIN {activity} "
        f"AND a.slot >= {int(lo)} AND a.slot < {int(hi)} JOIN b ON a.slot >= b.lo AND a.slot < b.hi "
        "WHERE (a.prev_slot IS NULL OR a.prev_slot < b.lo) AND fa.c < b.idx GROUP BY fa.c, b.idx",
    )
    return {(int(row["c"]), int(row["a"])): as_int(row["n"]) for row in rows}


async def cohort_activity(
    conn: BaseDBAsyncClient, buckets: Sequence[Bucket], sizes: Sequence[int], f: Filter
) -> dict[tuple[int, int], int]:
    """`{(c, a): users}`: of the users new in bucket `c` (`sizes[c]` of them), those active in a later
    bucket `a` (a pair `a == c` may appear, unread; pairs with none are left out). Slot-aligned
    buckets of one bot or every bot read the `prev_slot` chains of `user_slots`; anything else, the
    raw activity pairs."""
    bounds = bounds_of(buckets)
    counts: dict[tuple[int, int], int] = {}
    pairs = active_pairs(bounds, f)
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    slots = aligned_slots(bounds) if f.user is None and (f.bots is None or len(f.bots) == 1) else None
    if slots and not f.empty and any(sizes):
        uniform = _uniform_slots(buckets)
        if uniform is not None:
            counts = await _retention_uniform(conn, uniform, slots, f)
        else:
            counts = await _retention_by_chain(conn, slots, live, f)
    elif pairs is not None and live and any(sizes):
        ctes, select = pairs
        rows = await fetch_rows(
            conn,
            f"WITH {values_cte('b', ('idx', 'lo', 'hi'), live)}, {', '.join(ctes)}, "
            f"cohort AS ({new_pairs(f)}), act AS ({select}) "
            "SELECT cohort.idx AS c, act.idx AS a, COUNT(DISTINCT act.user_id) AS n "
            "FROM cohort JOIN act ON act.user_id = cohort.user_id AND act.idx >= cohort.idx "
            "GROUP BY cohort.idx, act.idx",
        )
        counts = {(int(row["c"]), int(row["a"])): as_int(row["n"]) for row in rows}
    return counts
