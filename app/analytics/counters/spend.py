"""Spend and speed per bucket and model: messages, tokens, cost and bot-message latencies (API.md 9).

`model_slots` and the `latency_slots` histogram serve the whole 15-minute slots of a bucket, raw
`events` its partial edges (under a user filter everything is raw, as slots have no user). A model
is `None` for messages that name none. Percentiles come from the merged histogram, exactly: latencies
are integers, so each distinct value and its count say where every rank lies.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.sqlparts import (
    Bounds,
    Filter,
    Row,
    as_int,
    day_pieces,
    edges_cte,
    fetch_rows,
    slot_and_raw,
    values_cte,
)
from app.db import dialect, sql

__all__ = [
    "ConversationSpend",
    "Histogram",
    "Key",
    "Spend",
    "conversation_spend",
    "latency_histograms",
    "percentile",
    "spend_by_model",
]

Key = tuple[int, str | None]
"""(bucket index, model)."""


@dataclass
class Spend:
    """The messages of one bucket (and model): counts, tokens, cost, bot-message latencies."""

    messages: int = 0
    bot_messages: int = 0
    tokens: int = 0
    cost: float = 0.0
    latency_count: int = 0
    latency_sum: int = 0

    def add(self, other: Spend) -> None:
        self.messages += other.messages
        self.bot_messages += other.bot_messages
        self.tokens += other.tokens
        self.cost += other.cost
        self.latency_count += other.latency_count
        self.latency_sum += other.latency_sum


Histogram = dict[int, int]
"""latency_ms -> bot messages with that latency."""


def _model(row: Row) -> str | None:
    return str(row["model"]) if as_int(row["hm"]) else None


def _edge_union(select: str, where: str, group: str) -> str:
    """The raw part of both edges of every bucket (`b.alo..ahi` and `b.zlo..zhi`), grouped."""
    parts = [
        f"SELECT {select} FROM b JOIN events e ON e.ts_us >= b.{lo} AND e.ts_us < b.{hi} "
        f"WHERE e.type = 'message' AND {where} GROUP BY {group}"
        for lo, hi in (("alo", "ahi"), ("zlo", "zhi"))
    ]
    return " UNION ALL ".join(parts)


_MODEL_COLS = "CASE WHEN e.model IS NULL THEN 0 ELSE 1 END AS hm, COALESCE(e.model, '') AS model"
_MODEL_GROUP = "b.idx, CASE WHEN e.model IS NULL THEN 0 ELSE 1 END, COALESCE(e.model, '')"


async def spend_by_model(
    conn: BaseDBAsyncClient, bounds: Bounds, f: Filter, by_model: bool
) -> dict[Key, Spend]:
    """Per bucket (and per model when `by_model`, else under the model `None`), the messages whose
    timestamp falls in it: every role for messages, tokens and cost; bot messages for latency."""
    out: dict[Key, Spend] = defaultdict(Spend)
    edges = None if f.empty else edges_cte(bounds, f.user is not None)
    if edges is None:
        return out
    cte, any_slots, any_raw = edges
    queries: list[str] = []
    model_cols = "s.has_model AS hm, s.model AS model" if by_model else "0 AS hm, '' AS model"
    by_key = ", s.has_model, s.model" if by_model else ""
    if any_slots:
        sums = (
            "SUM(s.messages) AS n, SUM(s.bot_messages) AS bot, SUM(s.tokens) AS tokens, SUM(s.cost) AS cost, "
            "SUM(s.latency_count) AS lat_n, SUM(s.latency_sum) AS lat_sum"
        )
        # Whole UTC days from `model_days`, the other whole slots from `model_slots`.
        slots, days = _day_pieces(bounds)
        for name, rows, table, unit in (
            ("ss", slots, "model_slots", "slot"),
            ("sd", days, "model_days", "day"),
        ):
            if rows:
                queries.append(
                    f"{values_cte(name, ('idx', 'lo', 'hi'), rows)} SELECT {name}.idx AS idx, "
                    f"{model_cols}, {sums} FROM {name} JOIN {table} s ON s.{unit} >= {name}.lo "
                    f"AND s.{unit} < {name}.hi WHERE {f.bot('s')} GROUP BY {name}.idx{by_key}"
                )
    if any_raw:
        is_bot = "e.role <> 'user'"
        timed = f"{is_bot} AND e.latency_ms IS NOT NULL"
        queries.append(
            f"{cte} "
            + _edge_union(
                f"b.idx AS idx, {_MODEL_COLS if by_model else model_cols}, COUNT(*) AS n, "
                f"SUM(CASE WHEN {is_bot} THEN 1 ELSE 0 END) AS bot, SUM(COALESCE(e.tokens, 0)) AS tokens, "
                "SUM(COALESCE(e.cost, 0)) AS cost, "
                f"SUM(CASE WHEN {timed} THEN 1 ELSE 0 END) AS lat_n, "
                f"SUM(CASE WHEN {timed} THEN e.latency_ms ELSE 0 END) AS lat_sum",
                f.where("e"),
                _MODEL_GROUP if by_model else "b.idx",
            )
        )
    for query in queries:
        for row in await fetch_rows(conn, f"WITH {query}"):
            key = (int(row["idx"]), _model(row))
            out[key].add(
                Spend(
                    messages=as_int(row["n"]),
                    bot_messages=as_int(row["bot"]),
                    tokens=as_int(row["tokens"]),
                    cost=float(row["cost"] or 0),
                    latency_count=as_int(row["lat_n"]),
                    latency_sum=as_int(row["lat_sum"]),
                )
            )
    return out


def _day_pieces(bounds: Bounds) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """The whole slots of each bucket as `(idx, slot_lo, slot_hi)` pieces outside whole UTC days and
    `(idx, day_lo, day_hi)` pieces of whole days."""
    slots: list[tuple[int, int, int]] = []
    days: list[tuple[int, int, int]] = []
    for idx, lo, hi in slot_and_raw(bounds)[0]:
        whole, pieces = day_pieces(lo, hi)
        if whole is not None:
            days.append((idx, *whole))
        slots += [(idx, a, z) for a, z in pieces]
    return slots, days


async def latency_histograms(
    conn: BaseDBAsyncClient, bounds: Bounds, f: Filter, by_model: bool, models: Sequence[str] | None = None
) -> dict[Key, Histogram]:
    """Per bucket (and model, when `by_model`): the latencies of its bot messages, value -> count.

    `models`, when given with `by_model`, are the models the range names (from `spend_by_model`):
    the whole slots are then read in index order, unsorted (`_scan_slots`)."""
    out: dict[Key, Histogram] = defaultdict(dict)
    edges = None if f.empty else edges_cte(bounds, f.user is not None)
    if edges is None:
        return out
    cte, any_slots, any_raw = edges
    queries: list[str] = []
    model_cols = "s.has_model AS hm, s.model AS model" if by_model else "0 AS hm, '' AS model"
    if any_slots and by_model and models is not None and len(models) <= MAX_CODED_MODELS:
        any_slots = not await _scan_slots(conn, cte, f, list(models), out)
    if any_slots:
        group = "b.idx, s.has_model, s.model, s.latency_ms" if by_model else "b.idx, s.latency_ms"
        queries.append(
            f"SELECT b.idx AS idx, {model_cols}, s.latency_ms AS v, SUM(s.messages) AS n FROM b "
            "JOIN latency_slots s ON s.slot >= b.slo AND s.slot < b.shi "
            f"WHERE {f.bot('s')} GROUP BY {group}"
        )
    if any_raw:
        queries.append(
            _edge_union(
                f"b.idx AS idx, {_MODEL_COLS if by_model else model_cols}, e.latency_ms AS v, COUNT(*) AS n",
                f"e.role <> 'user' AND e.latency_ms IS NOT NULL AND {f.where('e')}",
                (_MODEL_GROUP if by_model else "b.idx") + ", e.latency_ms",
            )
        )
    pair = (
        "group_concat(x.v || ':' || x.n)"
        if dialect(conn) == "sqlite"
        else "string_agg(CAST(x.v AS TEXT) || ':' || CAST(x.n AS TEXT), ',')"
    )
    for query in queries:
        # Nearly one (value, count) per bot message: each histogram crosses the driver as one text
        # value `v:n,v:n,...` (a row through the driver costs more than the database's grouping).
        packed = (
            f"WITH {cte} SELECT x.idx AS idx, x.hm AS hm, x.model AS model, {pair} AS vs "
            f"FROM ({query}) x GROUP BY x.idx, x.hm, x.model"
        )
        for row in await fetch_rows(conn, packed):
            hist = out[(int(row["idx"]), _model(row))]
            for item in str(row["vs"] or "").split(","):
                if item:
                    v, n = map(int, item.split(":"))
                    hist[v] = hist.get(v, 0) + n
    return out


MAX_CODED_MODELS = 64
"""At most this many models are told apart by a code in `_scan_slots`' text (more: the grouped read)."""


async def _scan_slots(
    conn: BaseDBAsyncClient, cte: str, f: Filter, models: list[str], out: dict[Key, Histogram]
) -> bool:
    """The whole slots of every bucket of `b` added to `out` by model; False (and `out` untouched)
    when a slot names a model not in `models`.

    Grouping ~1.6M histogram rows (30 days at 10M messages) made SQLite sort them all: 3.3 s of the
    route's 3.5 s. Here one correlated subquery per bucket walks the `(slot, ...)` index in order
    and returns its rows as one text value of `model code:latency:count` tokens (the model as its
    position in `models`, -1 for none, -2 unknown), counted here by `Counter` (no sort anywhere)."""
    whens = " ".join(f"WHEN ? THEN {i}" for i in range(len(models)))
    named = f"CASE s.model {whens} ELSE -2 END" if whens else "-2"
    code = f"CASE WHEN s.has_model = 0 THEN -1 ELSE {named} END"
    token = f"CAST({code} AS TEXT) || ':' || CAST(s.latency_ms AS TEXT) || ':' || CAST(s.messages AS TEXT)"
    agg = f"group_concat({token})" if dialect(conn) == "sqlite" else f"string_agg({token}, ',')"
    query = (
        f"WITH {cte} SELECT b.idx AS idx, (SELECT {agg} FROM latency_slots s WHERE s.slot >= b.slo "
        f"AND s.slot < b.shi AND {f.bot('s')}) AS vs FROM b WHERE b.slo < b.shi"
    )
    found: dict[Key, Histogram] = defaultdict(dict)
    for row in await conn.execute_query_dict(sql(query, conn), models):
        idx = int(row["idx"])
        for token, k in Counter(str(row["vs"] or "").split(",")).items():
            if not token:
                continue
            c, v, n = (int(x) for x in token.split(":"))
            if c == -2:
                return False
            hist = found[(idx, None if c == -1 else models[c])]
            hist[v] = hist.get(v, 0) + n * k
    for key, hist in found.items():
        merged = out[key]
        for v, n in hist.items():
            merged[v] = merged.get(v, 0) + n
    return True


def percentile(hist: Histogram, p: float) -> float | None:
    """PostgreSQL's `percentile_cont(p)` over the values a histogram counts (None when empty)."""
    n = sum(hist.values())
    if not n:
        return None
    pos = p * (n - 1)
    lo_rank = int(pos)
    hi_rank = lo_rank + 1 if pos > lo_rank else lo_rank
    lo_value = hi_value = None
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if lo_value is None and seen > lo_rank:
            lo_value = value
        if seen > hi_rank:
            hi_value = value
            break
    assert lo_value is not None and hi_value is not None
    return float(lo_value + (hi_value - lo_value) * (pos - lo_rank))


@dataclass
class ConversationSpend:
    """The conversations started in a range: how many, how many resolved, their tokens and cost."""

    conversations: int = 0
    resolved: int = 0
    tokens: int = 0
    cost: float = 0.0


async def conversation_spend(conn: BaseDBAsyncClient, lo: int, hi: int, f: Filter) -> ConversationSpend:
    """Tokens and cost of all the messages of the conversations started in `[lo, hi)` (wherever those
    messages fall), their number and the resolved ones among them (status `resolved` comes only from
    an end event, so it does not depend on `now`)."""
    if f.empty or lo >= hi:
        return ConversationSpend()
    edges = edges_cte([(lo, hi)], f.user is not None)
    assert edges is not None
    cte, any_slots, _any_raw = edges
    parts = []
    if any_slots:
        parts.append(
            "SELECT SUM(s.conversations) AS n, SUM(s.resolved) AS resolved, SUM(s.tokens) AS tokens, "
            "SUM(s.cost) AS cost FROM b JOIN conv_slots s ON s.slot >= b.slo AND s.slot < b.shi "
            f"WHERE {f.bot('s')}"
        )
    resolved = "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'resolved' THEN 1 ELSE 0 END"
    for a, z in (("alo", "ahi"), ("zlo", "zhi")):
        parts.append(
            f"SELECT COUNT(*) AS n, SUM({resolved}) AS resolved, SUM(c.tokens) AS tokens, "
            f"SUM(c.cost) AS cost FROM b JOIN conversations c ON c.started_us >= b.{a} "
            f"AND c.started_us < b.{z} WHERE {f.where('c')}"
        )
    out = ConversationSpend()
    for row in await fetch_rows(conn, f"WITH {cte} " + " UNION ALL ".join(parts)):
        out.conversations += as_int(row["n"])
        out.resolved += as_int(row["resolved"])
        out.tokens += as_int(row["tokens"])
        out.cost += float(row["cost"] or 0)
    return out
