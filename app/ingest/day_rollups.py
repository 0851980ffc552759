"""The day rollups a group adds to (app/models/days.py): `message_days` and `conv_days` from the
deltas of the slot rollups, `user_day_pairs(_all)` from the rows the `prev_slot` chains gained."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from app.ingest.steps import Query, Rows, Steps, add_rows, chunks
from app.models.days import DAY_SLOTS

__all__ = ["by_day", "pair_deltas", "pair_rows", "relinked"]

_PAIRS = {"user_slots": "user_day_pairs", "user_slots_all": "user_day_pairs_all"}
_KEYS_PER_QUERY = 1000
Links = dict[tuple[int, ...], tuple[int | None, int | None]]
"""Per new chain row `(slot, *owner)`: its previous and its next slot (None: none)."""


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


def pair_deltas(table: str, owner: tuple[str, ...], added: list[tuple[int, ...]]) -> Steps[Rows | None]:
    """SQLite: the upsert that counts the chain rows `added` to `table` (`(slot, *owner)`, already
    linked) in its pair table (`pair_rows`), their links read back after the chain's update: one
    query per 1,000 rows."""
    columns = ("slot", *owner)
    link: Links = {}
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
    return pair_rows(table, owner, link)


def relinked(owner: tuple[str, ...], added: list[tuple[int, ...]], rows: list[dict[str, Any]]) -> Links:
    """PostgreSQL: the links of the chain rows `added` (`(slot, *owner)`) from the rows the relink
    UPDATE sent back (`slot`, the owner's columns, `prev_slot`): the new rows and the successor of
    each, so a new row's next slot is the least of those rows above it (of its owner). Two round
    trips per group fewer than reading them back (`pair_deltas`)."""
    slots: defaultdict[tuple[int, ...], list[int]] = defaultdict(list)
    prev: dict[tuple[int, ...], int | None] = {}
    for r in rows:
        rest = tuple(int(r[col]) for col in owner)
        slots[rest].append(int(r["slot"]))
        prev[(int(r["slot"]), *rest)] = None if r["prev_slot"] is None else int(r["prev_slot"])
    link: Links = {}
    for key in added:
        slot, rest = key[0], key[1:]
        above = [s for s in slots[rest] if s > slot]
        link[key] = (prev[key], min(above) if above else None)
    return link


def pair_rows(table: str, owner: tuple[str, ...], link: Links) -> Rows | None:
    """The upsert counting the chain rows `link` holds (new rows of `table`: `(slot, *owner)`, with
    their previous and next slots once linked) in its pair table.

    Each new row adds a pair (its day, its previous slot's day). A run of new rows between two stored
    rows `e < new... < n` also relinks `n`: its pair (day of n, day of e) becomes (day of n, day of the
    run's last row)."""
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
    return add_rows(_PAIRS[table], keys, ("users",), out) if out else None
