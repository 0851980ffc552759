"""The day rollups a group adds to (app/models/days.py): `message_days` and `conv_days` from the
deltas of the slot rollups, `user_day_pairs(_all)` from the rows the `prev_slot` chains gained."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from app.ingest.steps import Query, Steps, add_rows, chunks
from app.models.days import DAY_SLOTS

__all__ = ["by_day", "pair_deltas"]

_PAIRS = {"user_slots": "user_day_pairs", "user_slots_all": "user_day_pairs_all"}
_KEYS_PER_QUERY = 1000


def by_day(table: str, sums: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> Steps[None]:
    """Add slot-rollup deltas `[slot, bot_id, *sums]` to the day rollup `table`, per UTC day."""
    days: dict[tuple[int, int], list[Any]] = {}
    for slot, bot, *values in rows:
        acc = days.setdefault((slot // DAY_SLOTS, bot), [0] * len(values))
        for i, v in enumerate(values):
            acc[i] += v
    out = [[day, bot, *values] for (day, bot), values in sorted(days.items()) if any(values)]
    if out:
        yield add_rows(table, ("day", "bot_id"), sums, out)


def _day(slot: int | None) -> int:
    return -1 if slot is None else slot // DAY_SLOTS


def pair_deltas(table: str, owner: tuple[str, ...], added: list[tuple[int, ...]]) -> Steps[None]:
    """Count the chain rows `added` to `table` (`(slot, *owner)`, already linked) in its pair table.

    Each new row adds a pair (its day, its previous slot's day). A run of new rows between two stored
    rows `e < new... < n` also relinks `n`: its pair (day of n, day of e) becomes (day of n, day of the
    run's last row). The links are read back after the chain's update: one query per 1,000 rows.
    """
    columns = ("slot", *owner)
    link: dict[tuple[int, ...], tuple[int | None, int | None]] = {}
    same = " AND ".join(f"n.{col} = t.{col}" for col in owner)
    on = " AND ".join(f"t.{col} = k.{col}" for col in columns)
    for chunk in chunks(added, _KEYS_PER_QUERY):
        values = ", ".join("(" + ", ".join("CAST(? AS INTEGER)" for _ in columns) + ")" for _ in chunk)
        rows = yield Query(
            f"WITH k({', '.join(columns)}) AS (VALUES {values}) "
            f"SELECT {', '.join(f't.{col}' for col in columns)}, t.prev_slot AS prev_slot, "
            f"(SELECT MIN(n.slot) FROM {table} n WHERE {same} AND n.slot > t.slot) AS next_slot "
            f"FROM k JOIN {table} t ON {on}",
            [v for key in chunk for v in key],
        )
        assert rows is not None
        for r in rows:
            link[tuple(int(r[col]) for col in columns)] = (r["prev_slot"], r["next_slot"])
    group = owner.index("user_id")
    deltas: defaultdict[tuple[int, ...], int] = defaultdict(int)
    for key, (prev, nxt) in link.items():
        slot, rest = key[0], key[1:]
        scope = rest[:group]
        deltas[(*scope, _day(slot), _day(prev))] += 1
        if nxt is None or (nxt, *rest) in link:
            continue
        before = prev
        while before is not None and (before, *rest) in link:
            before = link[(before, *rest)][0]
        deltas[(*scope, _day(nxt), _day(before))] -= 1
        deltas[(*scope, _day(nxt), _day(slot))] += 1
    keys = (*owner[:group], "day", "prev_day")
    out = [[*k, n] for k, n in sorted(deltas.items()) if n]
    if out:
        yield add_rows(_PAIRS[table], keys, ("users",), out)
