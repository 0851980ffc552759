"""Active and new users per bucket, the `(bucket, user)` pairs retention joins, and the extent of
stored events (which days can hold an active user)."""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.buckets import from_us
from app.analytics.sqlparts import (
    EDGE_COLUMNS,
    USER_ACTIVITY,
    Bounds,
    Filter,
    Reads,
    aligned_slots,
    as_int,
    day_split,
    edge_rows,
    edges_cte,
    fetch_rows,
    per_bucket,
    per_parts,
    slot_and_raw,
    values_cte,
)
from app.models.days import DAY_SLOTS

__all__ = ["active_pairs", "active_users", "event_extent", "new_pairs", "new_users"]


def active_pairs(bounds: Bounds, f: Filter) -> tuple[list[str], str] | None:
    """CTEs and a SELECT of `(idx, user_id)` rows, one per activity of a user in bucket `idx`.

    None when no bucket can hold activity. Rows repeat: count them with DISTINCT.
    """
    if f.empty:
        return None
    if f.user is not None:
        slots: list[tuple[int, int, int]] = []
        raw = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    else:
        slots, raw = slot_and_raw(bounds)
    ctes: list[str] = []
    parts: list[str] = []
    if slots:
        ctes.append(values_cte("s", ("idx", "lo", "hi"), slots))
        parts.append(
            "SELECT s.idx AS idx, us.user_id AS user_id FROM s "
            f"JOIN user_slots us ON us.slot >= s.lo AND us.slot < s.hi WHERE {f.bot('us')}"
        )
    if raw:
        ctes.append(values_cte("r", ("idx", "lo", "hi"), raw))
        parts.append(
            "SELECT r.idx AS idx, e.user_id AS user_id FROM r "
            "JOIN events e ON e.ts_us >= r.lo AND e.ts_us < r.hi "
            f"WHERE {USER_ACTIVITY.format(e='e')} AND {f.where('e')}"
        )
    if not parts:
        return None
    return ctes, " UNION ALL ".join(parts)


async def active_users_by_chain(
    conn: BaseDBAsyncClient, slots: list[tuple[int, int, int]], f: Filter, n: int
) -> list[int]:
    """Distinct users per slot-aligned bucket `[lo, hi)` from a `prev_slot` chain (`chain_reads`)."""
    out = [[0] for _ in range(n)]
    await per_parts(conn, chain_reads(slots, f, out))
    return [c[0] for c in out]


def chain_reads(slots: list[tuple[int, int, int]], f: Filter, out: list[list[int]]) -> list[Reads]:
    """Distinct users per slot-aligned bucket `[lo, hi)` from a `prev_slot` chain: each user's first row
    in the bucket is the one whose previous activity is before `lo` (or that has none).

    The rows of whole UTC days `[A, B)` come from the chain's day pairs (app/models/days.py: rows with
    `prev_day < A`), a few rows per day instead of every activity; the slots before and after them
    from the chain. When `lo` is inside a day the pairs also count the users of `[lo, 96 A)` again at
    their next activity within the days: those are subtracted (users of the head with a row in the
    days). A bucket with no whole day, or a cut start and fewer than two whole days, reads the chain.
    """
    if f.bots is None:
        chain, pairs = "user_slots_all a WHERE", "user_day_pairs_all d WHERE"
        same_user = "SELECT 1 FROM user_slots_all x WHERE x.user_id = a.user_id"
    else:
        bot = int(f.bots[0])
        chain = f"user_slots a WHERE a.bot_id = {bot} AND"
        pairs = f"user_day_pairs d WHERE d.bot_id = {bot} AND"
        same_user = f"SELECT 1 FROM user_slots x WHERE x.bot_id = {bot} AND x.user_id = a.user_id"
    fine: list[tuple[int, ...]] = []
    days: list[tuple[int, ...]] = []
    again: list[tuple[int, ...]] = []
    for idx, lo, hi in slots:
        whole = day_split(lo, hi)
        if whole is None or (lo % DAY_SLOTS and whole[1] - whole[0] < 2):
            fine.append((idx, lo, hi, lo))
            continue
        first, end = whole[0] * DAY_SLOTS, whole[1] * DAY_SLOTS
        days.append((idx, *whole))
        if lo < first:
            fine.append((idx, lo, first, lo))
            again.append((idx, lo, first, lo, end))
        if end < hi:
            fine.append((idx, end, hi, lo))
    first_row = (
        f"FROM {chain} a.slot >= b.lo AND a.slot < b.hi AND (a.prev_slot IS NULL OR a.prev_slot < b.p)"
    )
    days_source = f"FROM {pairs} d.day >= b.lo AND d.day < b.hi AND d.prev_day < b.lo"
    again_source = f"{first_row} AND EXISTS ({same_user} AND x.slot >= b.hi AND x.slot < b.e)"
    return [
        Reads(fine, ("lo", "hi", "p"), ["COUNT(*)"], first_row, out),
        Reads(days, ("lo", "hi"), ["SUM(d.users)"], days_source, out),
        Reads(again, ("lo", "hi", "p", "e"), ["COUNT(*)"], again_source, out, sign=-1),
    ]


async def _active_users_with_edges(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[int] | None:
    """Distinct users per bucket whose bounds cut slots (a datetime bound; a comparison range cut to
    the elapsed time, API.md section 9): the users of its whole slots from the chain, plus the users
    active in its raw edges who have no activity row in those slots (an indexed probe each), instead
    of a `COUNT(DISTINCT)` over every activity row of the range, in one statement. None when no
    bucket is non-empty."""
    edges = edge_rows(bounds, False)
    if edges is None:
        return None
    rows, _, any_raw = edges
    slots, _ = slot_and_raw(bounds)
    out = [[0] for _ in bounds]
    reads = chain_reads(slots, f, out)
    if any_raw:
        if f.bots is None:
            seen = (
                "SELECT 1 FROM user_slots_all us WHERE us.user_id = e.user_id "
                "AND us.slot >= b.slo AND us.slot < b.shi"
            )
        else:
            seen = (
                f"SELECT 1 FROM user_slots us WHERE us.bot_id = {int(f.bots[0])} AND us.user_id = e.user_id "
                "AND us.slot >= b.slo AND us.slot < b.shi"
            )
        parts = [
            f"SELECT e.user_id AS user_id FROM events e WHERE e.ts_us >= b.{lo} AND e.ts_us < b.{hi} "
            f"AND {USER_ACTIVITY.format(e='e')} AND {f.where('e')} AND NOT EXISTS ({seen})"
            for lo, hi in (("alo", "ahi"), ("zlo", "zhi"))
        ]
        source = f"FROM ({' UNION ALL '.join(parts)}) x"
        reads.append(Reads(rows, EDGE_COLUMNS, ["COUNT(DISTINCT x.user_id)"], source, out))
    await per_parts(conn, reads)
    return [c[0] for c in out]


async def active_users(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[int]:
    """Distinct active users per `[lo, hi)`."""
    if not f.empty and f.user is None and (f.bots is None or len(f.bots) == 1):
        slots = aligned_slots(bounds)
        if slots is not None:
            if not slots:
                return [0] * len(bounds)
            return await active_users_by_chain(conn, slots, f, len(bounds))
        found = await _active_users_with_edges(conn, bounds, f)
        return found if found is not None else [0] * len(bounds)
    edges = None if f.empty else edges_cte(bounds, f.user is not None)
    if edges is None:
        return [0] * len(bounds)
    cte, any_slots, any_raw = edges
    parts: list[str] = []
    if any_slots:
        parts.append(
            "SELECT us.user_id AS user_id FROM user_slots us "
            f"WHERE us.slot >= b.slo AND us.slot < b.shi AND {f.bot('us')}"
        )
    if any_raw:
        parts += [
            f"SELECT e.user_id AS user_id FROM events e WHERE e.ts_us >= b.{lo} AND e.ts_us < b.{hi} "
            f"AND {USER_ACTIVITY.format(e='e')} AND {f.where('e')}"
            for lo, hi in (("alo", "ahi"), ("zlo", "zhi"))
        ]
    source = f"FROM ({' UNION ALL '.join(parts)}) x"
    counts = await per_bucket(conn, [cte], ["COUNT(DISTINCT x.user_id)"], source, len(bounds))
    return [as_int(c[0]) for c in counts]


def new_pairs(f: Filter) -> str:
    """A SELECT of `(idx, user_id)`: users whose first activity within the filter is in bucket `b.idx`.

    Needs a CTE `b(idx, lo, hi)` of µs bounds. Rows may repeat (first activity with two bots at the
    same instant): count them with DISTINCT.
    """
    if f.empty:
        return "SELECT b.idx AS idx, 0 AS user_id FROM b WHERE 1 = 0"
    if f.bots is None:
        return (
            "SELECT b.idx AS idx, u.id AS user_id FROM b JOIN end_users u "
            f"ON u.first_active_us >= b.lo AND u.first_active_us < b.hi WHERE 1 = 1{f.user_and('u', 'id')}"
        )
    select = (
        "SELECT b.idx AS idx, a.user_id AS user_id FROM b JOIN bot_users a "
        f"ON a.first_active_us >= b.lo AND a.first_active_us < b.hi WHERE {f.where('a')}"
    )
    if len(f.bots) > 1:
        # The first activity within the covered bots: no covered bot saw the user earlier.
        select += (
            " AND NOT EXISTS (SELECT 1 FROM bot_users o WHERE o.user_id = a.user_id "
            f"AND {f.bot('o')} AND o.first_active_us < a.first_active_us)"
        )
    return select


def first_active_source(f: Filter) -> tuple[str, str]:
    """An aggregate and a FROM ... WHERE of the users whose first activity within the filter falls in
    the row `b` of a correlated subquery."""
    if f.bots is None:
        return "COUNT(*)", (
            "FROM end_users u WHERE u.first_active_us >= b.lo AND u.first_active_us < b.hi"
            + f.user_and("u", "id")
        )
    source = (
        f"FROM bot_users a WHERE a.first_active_us >= b.lo AND a.first_active_us < b.hi AND {f.where('a')}"
    )
    if len(f.bots) > 1:
        source += (
            " AND NOT EXISTS (SELECT 1 FROM bot_users o WHERE o.user_id = a.user_id "
            f"AND {f.bot('o')} AND o.first_active_us < a.first_active_us)"
        )
    return "COUNT(DISTINCT a.user_id)", source


async def new_users(conn: BaseDBAsyncClient, bounds: Bounds, f: Filter) -> list[int]:
    """New users (first activity ever within the filter) per `[lo, hi)`."""
    live = [(i, lo, hi) for i, (lo, hi) in enumerate(bounds) if lo < hi]
    if f.empty or not live:
        return [0] * len(bounds)
    expr, source = first_active_source(f)
    counts = await per_bucket(conn, [values_cte("b", ("idx", "lo", "hi"), live)], [expr], source, len(bounds))
    return [as_int(c[0]) for c in counts]


async def event_extent(conn: BaseDBAsyncClient, bounds: tuple[int, int]) -> tuple[datetime, datetime] | None:
    """The first and last event timestamp within `[lo, hi)` µs (two index seeks), None when none."""
    lo, hi = int(bounds[0]), int(bounds[1])
    where = f"FROM events WHERE ts_us >= {lo} AND ts_us < {hi} ORDER BY ts_us"
    (row,) = await fetch_rows(
        conn, f"SELECT (SELECT ts_us {where} LIMIT 1) AS lo, (SELECT ts_us {where} DESC LIMIT 1) AS hi"
    )
    if row["lo"] is None:
        return None
    return from_us(int(row["lo"])), from_us(int(row["hi"]))
