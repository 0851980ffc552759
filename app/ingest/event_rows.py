"""The `events` rows of a group: the INSERT each parsed event takes on SQLite (its base columns and
the optional ones it sets) and, on PostgreSQL, one COPY of all of them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from app.ingest.fold import Group
from app.ingest.steps import Copy, Many, Steps, marks

_EVENT_BASE = ("id", "type", "conversation_id", "bot_id", "user_id", "ts_us", "received_us")
EVENT_OPTIONAL = (
    "role",
    "fallback",
    "intent",
    "latency_ms",
    "tokens",
    "channel",
    "resolution",
    "score",
    "comment",
    "model",
    "cost",
    "reason",
)
_EVENT_STATEMENTS: dict[tuple[bool, ...], str] = {}
_PRESENT: dict[str, tuple[bool, ...]] = {}
"""The optional columns an event statement binds (its `present`, as long as EVENT_OPTIONAL)."""
_ALL = (*_EVENT_BASE, *EVENT_OPTIONAL)
_INSERT_ALL = f"INSERT INTO events ({', '.join(_ALL)}) VALUES ({marks(len(_ALL))})"


def event_statement(present: tuple[bool, ...]) -> str:
    """The INSERT binding the base columns and the optional columns `present` marks, in the order
    of `EVENT_OPTIONAL` (a shorter `present` leaves the rest out). An event's others stay NULL:
    binding ~8 values instead of 16 makes the events insert much cheaper on SQLite."""
    statement = _EVENT_STATEMENTS.get(present)
    if statement is None:
        cols = (*_EVENT_BASE, *(col for col, p in zip(EVENT_OPTIONAL, present, strict=False) if p))
        statement = _EVENT_STATEMENTS[present] = (
            f"INSERT INTO events ({', '.join(cols)}) VALUES ({marks(len(cols))})"
        )
        _PRESENT[statement] = tuple(present) + (False,) * (len(EVENT_OPTIONAL) - len(present))
    return statement


def write_events(
    group: Group, bot_ids: dict[str, int], user_ids: dict[str, int], postgres: bool
) -> Steps[None]:
    """Insert the group's events: on SQLite an `executemany` per statement shape; on PostgreSQL
    one COPY of every column (an event's absent columns NULL; see `steps.Copy`)."""
    by_statement: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for e, c, bot, user, received_us in group.rows:
        by_statement[e.statement].append(
            (
                e.id, e.type, c.id, bot_ids[bot] if bot else None, user_ids[user] if user else None,
                e.ts_us, received_us, *e.extra,
            )
        )  # fmt: skip
    if not postgres:
        for statement, event_rows in by_statement.items():
            yield Many(statement, event_rows)
        return
    records: list[tuple[Any, ...]] = []
    for statement, event_rows in by_statement.items():
        given = iter(zip(*event_rows, strict=True))  # columns, transposed and back in C (zip)
        nulls = (None,) * len(event_rows)
        present = (True,) * len(_EVENT_BASE) + _PRESENT[statement]
        records += zip(*(next(given) if p else nulls for p in present), strict=True)
    yield Copy(_INSERT_ALL, records, "events", _ALL)
