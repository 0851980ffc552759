"""The SQL of a group's transaction, as generators of statements: events, conversations, the
rollups (message and conversation slots), the activity chains, bots and users.

A generator yields each statement (``?`` placeholders) and receives each query's rows: the same
logic runs on PostgreSQL (each statement awaited through Tortoise) and on SQLite (the whole
transaction in one call on the writer's thread: no hand-off per statement); `writer` drives it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TypeVar

from app.ingest.fold import Conv, Group
from app.ingest.insight_rollups import MESSAGE_COUNTS as _MESSAGE_COUNTS
from app.ingest.insight_rollups import SLOT_KEY as _SLOT_KEY
from app.ingest.insight_rollups import insight_slots, outcome
from app.ingest.steps import IN_CHUNK as _IN_CHUNK
from app.ingest.steps import Many, Steps, add_rows, marks, query, select_in
from app.ingest.steps import chunks as _chunks
from app.models import CONV_SLOT_COLUMNS, CONV_SLOT_SPEND, SLOT_US

T = TypeVar("T")

CONV_NAMES = (
    "bot_id", "user_id", "started_us", "start_event_us", "start_event_id", "channel", "last_activity_us",
    "activity_event_us", "end_us", "end_event_id", "resolution", "messages", "user_messages", "bot_messages",
    "fallback_messages", "rating_score", "rating_us", "rating_event_id", "tokens", "cost", "reason",
)  # fmt: skip
"""The `conversations` columns ingestion writes (besides `uuid`), in `_conv_values` order."""


def existing_ids(ids: list[str]) -> Steps[set[str]]:
    rows = yield from select_in("SELECT id FROM events WHERE id IN ", ids)
    return {r["id"] for r in rows}


def load_conversations(uuids: list[str]) -> Steps[dict[str, Conv]]:
    out: dict[str, Conv] = {}
    rows = yield from select_in(
        "SELECT c.*, b.uuid AS bot_uuid, u.uuid AS user_uuid FROM conversations c "
        "LEFT JOIN bots b ON b.id = c.bot_id LEFT JOIN end_users u ON u.id = c.user_id WHERE c.uuid IN ",
        uuids,
    )
    for r in rows:
        c = out[r["uuid"]] = Conv(
            id=r["id"],
            uuid=r["uuid"],
            bot=r["bot_uuid"],
            user=r["user_uuid"],
            started_us=r["started_us"],
            start_event_us=r["start_event_us"],
            start_event_id=r["start_event_id"],
            channel=r["channel"],
            activity_event_us=r["activity_event_us"],
            end_us=r["end_us"],
            end_event_id=r["end_event_id"],
            resolution=r["resolution"],
            messages=r["messages"],
            user_messages=r["user_messages"],
            bot_messages=r["bot_messages"],
            fallback_messages=r["fallback_messages"],
            rating_score=r["rating_score"],
            rating_us=r["rating_us"],
            rating_event_id=r["rating_event_id"],
            tokens=int(r["tokens"]),
            cost=float(r["cost"]),
            reason=r["reason"],
        )
        c.stored_contribution = _contribution(c, r["bot_id"])
        c.stored_values = tuple(r[name] for name in CONV_NAMES)
    return out


def _contribution(c: Conv, bot_id: int | None) -> tuple[tuple[int, int], list[Any]] | None:
    """What one conversation adds to `conv_slots`: its key (start slot, bot) and column values."""
    if bot_id is None:
        return None
    ended = c.end_us is not None
    end_duration = max((c.end_us or 0) - c.started_us, 0) if ended else 0
    open_duration = 0 if ended else max(c.last_activity_us - c.started_us, 0)
    return (c.started_us // SLOT_US, bot_id), [
        1,
        c.messages,
        int(ended),
        int(ended and c.resolution == "resolved"),
        int(ended and c.resolution == "escalated"),
        int(ended and c.resolution == "abandoned"),
        end_duration,
        int(not ended),
        open_duration,
        c.tokens,
        c.cost,
    ]


_END_US, _RESOLUTION = CONV_NAMES.index("end_us"), CONV_NAMES.index("resolution")


def _stored_outcome(c: Conv) -> tuple[int, int]:
    """`outcome` of a conversation as it was stored before the group (none when it is new)."""
    if not c.stored_values:
        return 0, 0
    return outcome(c.stored_values[_END_US], c.stored_values[_RESOLUTION])


def _apply_conv_slots(touched: list[Conv], bot_ids: dict[str, int]) -> Steps[None]:
    deltas: dict[tuple[int, int], list[Any]] = {}
    for c in touched:
        for sign, contribution in (
            (-1, c.stored_contribution),
            (1, _contribution(c, bot_ids[c.bot] if c.bot else None)),
        ):
            if contribution is None:
                continue
            key, values = contribution
            acc = deltas.setdefault(key, [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += sign * v
    rows = [[slot, bot, *values] for (slot, bot), values in sorted(deltas.items()) if any(values)]
    if not rows:
        return
    yield add_rows("conv_slots", ("slot", "bot_id"), (*CONV_SLOT_COLUMNS, *CONV_SLOT_SPEND), rows)


def _extend_chain(table: str, owner: tuple[str, ...], keys: list[tuple[int, ...]]) -> Steps[None]:
    """Insert `(slot, *owner)` activity rows into `table` and keep its `prev_slot` chain (one per
    owner) exact, whatever the order events arrive in: a row that is new gets its predecessor
    looked up, and its successor now points at it (rows that were there already keep their links:
    most of a batch's activity is in slots its users were active in already)."""
    columns = ("slot", *owner)
    added: list[tuple[int, ...]] = []
    for chunk in _chunks(keys, _IN_CHUNK // len(columns)):
        rows = yield from query(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            + ",".join(f"({marks(len(columns))})" for _ in chunk)
            + f" ON CONFLICT ({', '.join(columns)}) DO NOTHING RETURNING {', '.join(columns)}",
            [v for k in chunk for v in k],
        )
        added += [tuple(r[col] for col in columns) for r in rows]
    if not added:
        return
    same_owner = " AND ".join(f"{{a}}.{col} = {table}.{col}" for col in owner)
    prev = f"(SELECT MAX(p.slot) FROM {table} p WHERE {same_owner.format(a='p')} AND p.slot < {table}.slot)"
    owner_is = " AND ".join(f"{col} = ?" for col in owner)
    yield Many(
        f"UPDATE {table} SET prev_slot = {prev} WHERE {owner_is} AND slot = ?",
        [[*k[1:], k[0]] for k in added],
    )
    next_owner_is = " AND ".join(f"n.{col} = ?" for col in owner)
    yield Many(
        f"UPDATE {table} SET prev_slot = {prev} WHERE {owner_is} AND slot = "
        f"(SELECT MIN(n.slot) FROM {table} n WHERE {next_owner_is} AND n.slot > ?)",
        [[*k[1:], *k[1:], k[0]] for k in added],
    )


def _extend_activity_chains(keys: list[tuple[int, int, int]]) -> Steps[None]:
    """`(slot, bot, user)` activity: per bot in `user_slots`, across bots in `user_slots_all`."""
    yield from _extend_chain("user_slots", ("bot_id", "user_id"), list(keys))
    yield from _extend_chain("user_slots_all", ("user_id",), sorted({(s, u) for s, _b, u in keys}))


def _bot_ids(uuids: set[str]) -> Steps[dict[str, int]]:
    wanted = sorted(uuids)
    select = "SELECT id, uuid FROM bots WHERE uuid IN "
    found = {r["uuid"]: r["id"] for r in (yield from select_in(select, wanted))}
    missing = [u for u in wanted if u not in found]
    if missing:
        yield Many("INSERT INTO bots (uuid) VALUES (?) ON CONFLICT (uuid) DO NOTHING", [[u] for u in missing])
        found.update({r["uuid"]: r["id"] for r in (yield from select_in(select, missing))})
    return found


_EARLIER = "{t}.first_active_us IS NULL OR excluded.first_active_us < {t}.first_active_us"
"""An upsert's incoming first activity is earlier than the stored one (which may be unknown)."""


def _upsert_users(first_active: dict[str, int | None]) -> Steps[dict[str, int]]:
    """Return the `end_users` row ids of these users, inserting the new ones and moving a user's first
    activity earlier where this group saw an earlier one (rows that do not change are not written)."""
    found: dict[str, int] = {}
    earlier: list[list[Any]] = []
    rows = yield from select_in(
        "SELECT id, uuid, first_active_us FROM end_users WHERE uuid IN ", sorted(first_active)
    )
    for r in rows:
        found[r["uuid"]] = r["id"]
        ts = first_active[r["uuid"]]
        if ts is not None and (r["first_active_us"] is None or ts < r["first_active_us"]):
            earlier.append([ts, r["id"], ts])
    if earlier:
        yield Many(
            "UPDATE end_users SET first_active_us = ? WHERE id = ? "
            "AND (first_active_us IS NULL OR first_active_us > ?)",
            earlier,
        )
    missing = [u for u in sorted(first_active) if u not in found]
    for chunk in _chunks(missing, _IN_CHUNK // 2):
        # The transaction saw these absent; should a row appear meanwhile all the same, the upsert
        # still returns its id (and keeps the earlier first activity).
        rows = yield from query(
            "INSERT INTO end_users (uuid, first_active_us) VALUES "
            + ",".join("(?, ?)" for _ in chunk)
            + " ON CONFLICT (uuid) DO UPDATE SET first_active_us = CASE WHEN "
            + _EARLIER.format(t="end_users")
            + " THEN excluded.first_active_us ELSE end_users.first_active_us END RETURNING id, uuid",
            [v for u in chunk for v in (u, first_active[u])],
        )
        found.update({r["uuid"]: r["id"] for r in rows})
    return found


def _conv_values(c: Conv, bot_ids: dict[str, int], user_ids: dict[str, int]) -> list[Any]:
    return [
        bot_ids[c.bot] if c.bot else None,
        user_ids[c.user] if c.user else None,
        c.started_us,
        c.start_event_us,
        c.start_event_id,
        c.channel,
        c.last_activity_us,
        c.activity_event_us,
        c.end_us,
        c.end_event_id,
        c.resolution,
        c.messages,
        c.user_messages,
        c.bot_messages,
        c.fallback_messages,
        c.rating_score,
        c.rating_us,
        c.rating_event_id,
        c.tokens,
        c.cost,
        c.reason,
    ]


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


def event_statement(present: tuple[bool, ...]) -> str:
    """The INSERT binding the base columns and the optional columns `present` marks, in the order
    of `EVENT_OPTIONAL` (a shorter `present` leaves the rest out). An event's others stay NULL:
    binding ~8 values instead of 16 makes the events insert much cheaper."""
    statement = _EVENT_STATEMENTS.get(present)
    if statement is None:
        cols = (*_EVENT_BASE, *(col for col, p in zip(EVENT_OPTIONAL, present, strict=False) if p))
        statement = _EVENT_STATEMENTS[present] = (
            f"INSERT INTO events ({', '.join(cols)}) VALUES ({marks(len(cols))})"
        )
    return statement


def write_group(group: Group) -> Steps[None]:
    """Write everything the accepted batches changed."""
    touched = [group.touched[u] for u in sorted(group.touched)]
    bot_ids = yield from _bot_ids({c.bot for c in touched if c.bot})
    users: dict[str, int | None] = {c.user: None for c in touched if c.user}
    users.update(group.first_active)
    user_ids = yield from _upsert_users(users)

    new_convs = [c for c in touched if c.id is None]
    old_convs = [c for c in touched if c.id is not None]
    per_chunk = _IN_CHUNK // 20
    for i in range(0, len(new_convs), per_chunk):
        chunk = new_convs[i : i + per_chunk]
        found = yield from query(
            f"INSERT INTO conversations (uuid, {', '.join(CONV_NAMES)}) VALUES "
            + ",".join(f"({marks(1 + len(CONV_NAMES))})" for _ in chunk)
            + " RETURNING id, uuid",
            [v for c in chunk for v in (c.uuid, *_conv_values(c, bot_ids, user_ids))],
        )
        ids = {r["uuid"]: r["id"] for r in found}
        for c in chunk:
            c.id = ids[c.uuid]
    # Only the columns that changed: an index none of whose columns is SET is left alone.
    updates: defaultdict[tuple[int, ...], list[list[Any]]] = defaultdict(list)
    for c in old_convs:
        values = _conv_values(c, bot_ids, user_ids)
        changed = tuple(
            i for i, (new, old) in enumerate(zip(values, c.stored_values, strict=True)) if new != old
        )
        if changed:
            updates[changed].append([*(values[i] for i in changed), c.id])
    for changed, rows in updates.items():
        assignments = ", ".join(f"{CONV_NAMES[i]} = ?" for i in changed)
        yield Many(f"UPDATE conversations SET {assignments} WHERE id = ?", rows)

    by_statement: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for e, c, bot, user, received_us in group.rows:
        by_statement[e.statement].append(
            (
                e.id, e.type, c.id, bot_ids[bot] if bot else None, user_ids[user] if user else None,
                e.ts_us, received_us, *e.extra,
            )
        )  # fmt: skip
    for statement, event_rows in by_statement.items():
        yield Many(statement, event_rows)

    if group.msg_slots:
        yield add_rows(
            "message_slots",
            _SLOT_KEY,
            _MESSAGE_COUNTS,
            [[slot, bot_ids[bot], *counts] for (slot, bot), counts in sorted(group.msg_slots.items())],
        )
    yield from _apply_conv_slots(touched, bot_ids)
    yield from insight_slots(group, touched, bot_ids, _stored_outcome)
    if group.user_slot_keys:
        keys = sorted({(slot, bot_ids[bot], user_ids[user]) for slot, bot, user in group.user_slot_keys})
        yield from _extend_activity_chains(keys)
    if group.bot_user_first:
        yield Many(
            "INSERT INTO bot_users (bot_id, user_id, first_active_us) VALUES (?, ?, ?) "
            "ON CONFLICT (bot_id, user_id) DO UPDATE SET first_active_us = excluded.first_active_us "
            "WHERE " + _EARLIER.format(t="bot_users"),
            [[bot_ids[b], user_ids[u], ts] for (b, u), ts in sorted(group.bot_user_first.items())],
        )
