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
    "EDGE_COLUMNS",
    "USER_ACTIVITY",
    "Bounds",
    "Filter",
    "Reads",
    "Row",
    "aligned_slots",
    "as_int",
    "bounds_of",
    "day_pieces",
    "day_split",
    "edge_rows",
    "edges_cte",
    "fetch_rows",
    "per_bucket",
    "per_parts",
    "rollup_reads",
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


EDGE_COLUMNS = ("lo", "hi", "slo", "shi", "alo", "ahi", "zlo", "zhi")


def edge_rows(bounds: Bounds, by_user: bool) -> tuple[list[tuple[int, ...]], bool, bool] | None:
    """Per non-empty bucket `(idx, lo, hi, slo, shi, alo, ahi, zlo, zhi)` (`EDGE_COLUMNS`): its whole
    slots `[slo, shi)` and raw edges `[alo, ahi)`, `[zlo, zhi)` (empty: 0, 0); then whether any bucket
    has slots, raw edges.

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
    return (out, any_slots, any_raw) if out else None


def edges_cte(bounds: Bounds, by_user: bool) -> tuple[str, bool, bool] | None:
    """`edge_rows` as a CTE `b(idx, lo, hi, slo, shi, alo, ahi, zlo, zhi)`."""
    found = edge_rows(bounds, by_user)
    if found is None:
        return None
    rows, any_slots, any_raw = found
    return values_cte("b", ("idx", *EDGE_COLUMNS), rows), any_slots, any_raw


def day_split(lo: int, hi: int, per_day: int = DAY_SLOTS) -> tuple[int, int] | None:
    """The whole UTC days `[A, B)` within the slots `[lo, hi)` (µs with `per_day` `DAY_US`), None
    when there is none."""
    first, end = -(-lo // per_day), hi // per_day
    return (first, end) if first < end else None


def day_pieces(
    lo: int, hi: int, per_day: int = DAY_SLOTS
) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """`[lo, hi)` as its whole UTC days (`day_split`) and the pieces outside them: the empty edges
    left out; all of `[lo, hi)` when it holds no whole day."""
    days = day_split(lo, hi, per_day)
    if days is None:
        return None, [(lo, hi)]
    edges = ((lo, days[0] * per_day), (days[1] * per_day, hi))
    return days, [(a, z) for a, z in edges if a < z]


@dataclass(frozen=True)
class Reads:
    """One read of `per_parts`: for each part `(idx, *values)` (a row `b(idx, *columns)`), the aggregates
    `exprs` of `source` (a FROM ... WHERE correlated with `b`), added `sign` times to `out[idx]`
    (several parts may add to one bucket)."""

    parts: Sequence[tuple[int, ...]]
    columns: Sequence[str]
    exprs: Sequence[str]
    source: str
    out: list[list[int]]
    sign: int = 1


async def per_parts(conn: BaseDBAsyncClient, reads: Sequence[Reads]) -> None:
    """`per_bucket` for several reads in one statement (one round trip): a VALUES list per read and
    the reads' correlated subqueries joined by UNION ALL, each row tagged with its read."""
    live = [r for r in reads if r.parts]
    if not live:
        return
    ctes: list[str] = []
    selects: list[str] = []
    for k, r in enumerate(live):
        rows = [(j, *values) for j, (_, *values) in enumerate(r.parts)]
        ctes.append(values_cte(f"b{k}", ("idx", *r.columns), rows))
        selects.append(
            f"SELECT {k} AS k, b.idx AS idx, (SELECT {_pack(r.exprs)} {r.source}) AS packed FROM b{k} b"
        )
    for row in await fetch_rows(conn, f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}"):
        r, packed = live[int(row["k"])], row["packed"]
        if packed is None:
            continue
        acc = r.out[r.parts[int(row["idx"])][0]]
        for c, x in enumerate(str(packed).split(",")):
            acc[c] += r.sign * (int(x) if x else 0)


def rollup_reads(
    slots: Sequence[tuple[int, int, int]], table: str, sums: Sequence[str], f: Filter, out: list[list[int]]
) -> list[Reads]:
    """The reads of the `SUM`s of the columns `sums` of a slot rollup (`{table}_slots`) per slot-aligned
    bucket `(idx, slot_lo, slot_hi)` into `out`: the whole UTC days from its day rollup
    (`{table}_days`, app/models/days.py), the slots before and after them from the slot rollup."""
    day_parts: list[tuple[int, ...]] = []
    slot_parts: list[tuple[int, ...]] = []
    for idx, lo, hi in slots:
        days, pieces = day_pieces(lo, hi)
        if days is not None:
            day_parts.append((idx, *days))
        slot_parts += [(idx, a, z) for a, z in pieces]
    exprs = [f"SUM(s.{col})" for col in sums]
    return [
        Reads(
            parts,
            ("lo", "hi"),
            exprs,
            f"FROM {table}_{unit}s s WHERE s.{unit} >= b.lo AND s.{unit} < b.hi AND {f.bot('s')}",
            out,
        )
        for parts, unit in ((day_parts, "day"), (slot_parts, "slot"))
    ]


async def rollup_sums(
    conn: BaseDBAsyncClient,
    slots: list[tuple[int, int, int]],
    table: str,
    sums: Sequence[str],
    f: Filter,
    n: int,
) -> list[list[int]]:
    """`rollup_reads` of `n` buckets, in one statement."""
    out = [[0] * len(sums) for _ in range(n)]
    await per_parts(conn, rollup_reads(slots, table, sums, f, out))
    return out
