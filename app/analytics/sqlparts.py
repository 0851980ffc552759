"""SQL fragments shared by the counters: the resolved filter, VALUES lists of bounds, per-bucket
correlated subqueries and the split of buckets into whole slots and raw edges.

Every value spliced into SQL text here is a Python `int` (row ids, microseconds, slot numbers) that
went through `int()`, never client text, so inlining it is safe; it also keeps a 10,000-bucket
series under every placeholder limit and gives PostgreSQL typed `bigint` literals in VALUES lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.buckets import Bucket, split_slots
from app.db import sql
from app.models.days import DAY_SLOTS

__all__ = [
    "USER_ACTIVITY",
    "Bounds",
    "Filter",
    "Row",
    "aligned_slots",
    "as_int",
    "bounds_of",
    "day_split",
    "edges_cte",
    "fetch_rows",
    "per_bucket",
    "per_part",
    "rollup_sums",
    "slot_and_raw",
    "values_cte",
]

USER_ACTIVITY = "({e}.type = 'conversation_started' OR ({e}.type = 'message' AND {e}.role = 'user'))"
"""An event that makes its user active (API.md section 5): a start or the user's own message."""

Row = dict[str, Any]
Bounds = Sequence[tuple[int, int]]
"""Half-open µs bounds `[lo, hi)`, one per bucket."""


@dataclass(frozen=True)
class Filter:
    """A scope resolved to row ids: `bots` None = every bot; `empty` = the caller sees nothing."""

    bots: tuple[int, ...] | None
    user: int | None
    empty: bool = False

    def bot(self, alias: str) -> str:
        """The condition on `alias.bot_id` (rows of no bot never count, also for every bot)."""
        if self.empty:
            return "1 = 0"
        if self.bots is None:
            return f"{alias}.bot_id IS NOT NULL"
        if len(self.bots) == 1:
            return f"{alias}.bot_id = {int(self.bots[0])}"
        return f"{alias}.bot_id IN ({', '.join(str(int(b)) for b in self.bots)})"

    def user_and(self, alias: str, column: str = "user_id") -> str:
        """` AND alias.user_id = n` under a user filter, else nothing."""
        return "" if self.user is None else f" AND {alias}.{column} = {int(self.user)}"

    def where(self, alias: str) -> str:
        """Bot and user conditions on a table with `bot_id` and `user_id` columns."""
        return self.bot(alias) + self.user_and(alias)


def values_cte(name: str, columns: Sequence[str], rows: Iterable[Sequence[int]]) -> str:
    """`name(c1, c2) AS (VALUES (1, 2), ...)` from integer rows (at least one row)."""
    body = ", ".join("(" + ", ".join(str(int(v)) for v in row) + ")" for row in rows)
    if not body:
        raise ValueError("a VALUES list needs at least one row")
    return f"{name}({', '.join(columns)}) AS (VALUES {body})"


def as_int(value: Any) -> int:
    """SUM over bigint is `numeric` (Decimal) on PostgreSQL; NULL (no rows) is 0."""
    return 0 if value is None else int(value)


async def fetch_rows(conn: BaseDBAsyncClient, query: str) -> list[Row]:
    """The rows of a query written with `?` placeholders (none here: see the module docstring)."""
    return list(await conn.execute_query_dict(sql(query, conn)))


def bounds_of(buckets: Sequence[Bucket]) -> list[tuple[int, int]]:
    """The µs bounds of buckets."""
    return [(b.lo, b.hi) for b in buckets]


def slot_and_raw(bounds: Bounds) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Per bucket index: its whole-slot range and its raw µs edges."""
    slots: list[tuple[int, int, int]] = []
    raw: list[tuple[int, int, int]] = []
    for idx, (lo, hi) in enumerate(bounds):
        split = split_slots(lo, hi)
        if split.slot_lo < split.slot_hi:
            slots.append((idx, split.slot_lo, split.slot_hi))
        raw.extend((idx, a, b) for a, b in split.raw)
    return slots, raw


def aligned_slots(bounds: Bounds) -> list[tuple[int, int, int]] | None:
    """`(idx, slot_lo, slot_hi)` per non-empty bucket when every bound falls on a slot edge, else None."""
    out: list[tuple[int, int, int]] = []
    for idx, (lo, hi) in enumerate(bounds):
        if lo >= hi:
            continue
        split = split_slots(lo, hi)
        if split.raw:
            return None
        out.append((idx, split.slot_lo, split.slot_hi))
    return out


def _pack(exprs: Sequence[str]) -> str:
    """Several aggregates as one text value `a,b,c` (NULL as empty), for a correlated scalar subquery."""
    return " || ',' || ".join(f"COALESCE(CAST({e} AS TEXT), '')" for e in exprs)


async def per_bucket(
    conn: BaseDBAsyncClient, ctes: Sequence[str], exprs: Sequence[str], source: str, n: int
) -> list[list[int | None]]:
    """Aggregates `exprs` of `source` (a FROM ... WHERE correlated with the row `b`) for each row of `b`.

    A correlated scalar subquery per bucket runs one index range scan per bucket and needs no sort,
    where `b JOIN t ... GROUP BY b.idx` makes SQLite sort every joined row (3x slower at 100k rows).
    """
    out: list[list[int | None]] = [[None] * len(exprs) for _ in range(n)]
    found = await fetch_rows(
        conn, f"WITH {', '.join(ctes)} SELECT b.idx AS idx, (SELECT {_pack(exprs)} {source}) AS packed FROM b"
    )
    for row in found:
        packed = row["packed"]
        if packed is not None:
            out[int(row["idx"])] = [int(x) if x else None for x in str(packed).split(",")]
    return out


def edges_cte(bounds: Bounds, by_user: bool) -> tuple[str, bool, bool] | None:
    """`b(idx, lo, hi, slo, shi, alo, ahi, zlo, zhi)`: per bucket its whole slots `[slo, shi)` and raw
    edges `[alo, ahi)`, `[zlo, zhi)` (empty: 0, 0); then whether any bucket has slots, raw edges.

    Under a user filter everything is raw (the rollups have no user dimension for messages, and the
    `(user_id, ts_us)` index makes one user's events cheap). None when no bucket is non-empty.
    """
    out: list[tuple[int, ...]] = []
    any_slots = any_raw = False
    for idx, (lo, hi) in enumerate(bounds):
        if lo >= hi:
            continue
        if by_user:
            slots, edges = (0, 0), [(lo, hi)]
        else:
            split = split_slots(lo, hi)
            slots, edges = (split.slot_lo, split.slot_hi), list(split.raw)
        edges += [(0, 0)] * (2 - len(edges))
        any_slots = any_slots or slots[0] < slots[1]
        any_raw = any_raw or any(a < z for a, z in edges)
        out.append((idx, lo, hi, *slots, *edges[0], *edges[1]))
    if not out:
        return None
    columns = ("idx", "lo", "hi", "slo", "shi", "alo", "ahi", "zlo", "zhi")
    return values_cte("b", columns, out), any_slots, any_raw


def day_split(lo: int, hi: int) -> tuple[int, int] | None:
    """The whole UTC days `[A, B)` within the slots `[lo, hi)`, None when there is none."""
    first, end = -(-lo // DAY_SLOTS), hi // DAY_SLOTS
    return (first, end) if first < end else None


async def per_part(
    conn: BaseDBAsyncClient,
    parts: Sequence[tuple[int, ...]],
    columns: Sequence[str],
    exprs: Sequence[str],
    source: str,
    out: list[list[int]],
    sign: int = 1,
) -> None:
    """Add `sign` times `per_bucket`'s aggregates to `out[idx]` for each part `(idx, *values)` (a CTE
    `b(idx, *columns)`, one row per part: several parts may add to one bucket)."""
    if not parts:
        return
    cte = values_cte("b", ("idx", *columns), [(j, *values) for j, (_, *values) in enumerate(parts)])
    found = await per_bucket(conn, [cte], exprs, source, len(parts))
    for (idx, *_), row in zip(parts, found, strict=True):
        for k, v in enumerate(row):
            out[idx][k] += sign * as_int(v)


async def rollup_sums(
    conn: BaseDBAsyncClient,
    slots: list[tuple[int, int, int]],
    table: str,
    sums: Sequence[str],
    f: Filter,
    n: int,
) -> list[list[int]]:
    """`SUM`s of the columns `sums` of a slot rollup (`{table}_slots`) per slot-aligned bucket
    `(idx, slot_lo, slot_hi)`: the whole UTC days from its day rollup (`{table}_days`, app/models/days.py),
    the slots before and after them from the slot rollup."""
    out = [[0] * len(sums) for _ in range(n)]
    day_parts: list[tuple[int, ...]] = []
    slot_parts: list[tuple[int, ...]] = []
    for idx, lo, hi in slots:
        days = day_split(lo, hi)
        if days is None:
            slot_parts.append((idx, lo, hi))
            continue
        day_parts.append((idx, *days))
        edges = ((lo, days[0] * DAY_SLOTS), (days[1] * DAY_SLOTS, hi))
        slot_parts += [(idx, a, z) for a, z in edges if a < z]
    exprs = [f"SUM(s.{col})" for col in sums]
    for parts, unit in ((day_parts, "day"), (slot_parts, "slot")):
        source = f"FROM {table}_{unit}s s WHERE s.{unit} >= b.lo AND s.{unit} < b.hi AND {f.bot('s')}"
        await per_part(conn, parts, ("lo", "hi"), exprs, source, out)
    return out
