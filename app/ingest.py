"""Event ingestion (API.md section 4): validate a batch, then fold it into storage atomically.

The batch is validated in full before anything is written; inside one transaction the
conversation state, the raw events and the rollup tables change together. On PostgreSQL a
transaction-scoped advisory lock serialises batches from every process, so concurrent
ingesters neither lose nor double-count; on SQLite the single writer does the same.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.auth import Principal
from app.db import dialect, sql
from app.errors import Forbidden, InvalidBody
from app.models import SLOT_US

__all__ = ["MAX_BATCH", "IngestResult", "NewEvent", "ingest_events", "parse_events"]

MAX_BATCH = 1000
MAX_FUTURE_US = 24 * 3600 * 1_000_000
EVENT_TYPES = ("conversation_started", "message", "conversation_ended", "satisfaction")
RESOLUTIONS = ("resolved", "escalated", "abandoned")
MAX_INT = 2**53
_INGEST_LOCK_KEY = 0x6B07A11
_sqlite_lock = asyncio.Lock()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""What `str(uuid.UUID(value))` returns: such a value is already normalised (4 UUIDs an event,
and `uuid.UUID` + `str` cost ~10x a regex match: a third of a batch's validation time)."""


@dataclass
class NewEvent:
    index: int
    id: str
    type: str
    ts_us: int
    conversation: str
    bot: str | None
    user: str | None
    channel: str | None = None
    role: str | None = None
    intent: str | None = None
    fallback: bool | None = None
    latency_ms: int | None = None
    tokens: int | None = None
    resolution: str | None = None
    score: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _uuid(ev: dict[str, Any], key: str, required: bool) -> str | None:
    value = ev.get(key)
    if value is None:
        if required:
            raise _Bad(key, f"{key} is required")
        return None
    if not isinstance(value, str):
        raise _Bad(key, f"{key} must be a UUID string")
    if _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _Bad(key, f"{key} must be a UUID") from None


def _timestamp_us(ev: dict[str, Any], now_us: int) -> int:
    value = ev.get("timestamp")
    if value is None:
        raise _Bad("timestamp", "timestamp is required")
    if not isinstance(value, str) or "T" not in value.upper():
        raise _Bad("timestamp", "timestamp must be an RFC 3339 datetime with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad("timestamp", "timestamp must be an RFC 3339 datetime with an offset") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Bad("timestamp", "timestamp must carry an offset (e.g. Z or +02:00)")
    ts = (parsed - _EPOCH) // _ONE_US
    if ts - now_us > MAX_FUTURE_US:
        raise _Bad("timestamp", "timestamp is more than 24 hours in the future")
    return int(ts)


def _optional_int(ev: dict[str, Any], key: str) -> int | None:
    value = ev.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > MAX_INT:
        raise _Bad(key, f"{key} must be a non-negative integer")
    return value


def _optional_str(ev: dict[str, Any], key: str, limit: int) -> str | None:
    value = ev.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _Bad(key, f"{key} must be a string of at most {limit} characters")
    return value


def _parse_one(index: int, ev: Any, now_us: int) -> NewEvent:
    if not isinstance(ev, dict):
        raise _Bad("", "each event must be a JSON object")
    etype = ev.get("type")
    if etype not in EVENT_TYPES:
        raise _Bad("type", f"type must be one of {', '.join(EVENT_TYPES)}")
    event_id = _uuid(ev, "id", required=False) or str(uuid.uuid4())
    conversation = _uuid(ev, "conversation_id", required=True)
    assert conversation is not None
    needs_owner = etype != "conversation_ended"
    bot = _uuid(ev, "bot_id", required=needs_owner)
    user = _uuid(ev, "user_id", required=needs_owner)
    ts = _timestamp_us(ev, now_us)
    out = NewEvent(index, event_id, etype, ts, conversation, bot, user)
    if etype == "conversation_started":
        channel = _optional_str(ev, "channel", 64)
        if channel is not None and not channel.strip():
            raise _Bad("channel", "channel must not be empty")
        out.channel = channel or "web"
    elif etype == "message":
        role = ev.get("role")
        if role not in ("user", "bot"):
            raise _Bad("role", "role must be 'user' or 'bot'")
        out.role = role
        out.intent = _optional_str(ev, "intent", 200)
        fallback = ev.get("fallback")
        if fallback is not None and not isinstance(fallback, bool):
            raise _Bad("fallback", "fallback must be a boolean")
        out.fallback = fallback
        out.latency_ms = _optional_int(ev, "latency_ms")
        out.tokens = _optional_int(ev, "tokens")
    elif etype == "conversation_ended":
        resolution = ev.get("resolution")
        if resolution not in RESOLUTIONS:
            raise _Bad("resolution", f"resolution must be one of {', '.join(RESOLUTIONS)}")
        out.resolution = resolution
    else:
        score = ev.get("score")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise _Bad("score", "score must be an integer from 1 to 5")
        out.score = score
        out.comment = _optional_str(ev, "comment", 2000)
    return out


def parse_events(raw: Any, now_us: int) -> list[NewEvent]:
    """Validate a whole batch; raise InvalidBody with one `details` entry per bad event."""
    if not isinstance(raw, list):
        raise InvalidBody("events must be a list", [{"field": "events"}])
    if not raw:
        raise InvalidBody("events must not be empty", [{"field": "events"}])
    if len(raw) > MAX_BATCH:
        raise InvalidBody(f"at most {MAX_BATCH} events per request", [{"field": "events"}])
    parsed: list[NewEvent] = []
    errors: list[dict[str, Any]] = []
    for index, ev in enumerate(raw):
        try:
            parsed.append(_parse_one(index, ev, now_us))
        except _Bad as bad:
            errors.append({"index": index, "field": bad.field, "message": bad.message})
    if errors:
        raise InvalidBody(f"{len(errors)} invalid event(s): nothing was stored", errors)
    return parsed


@dataclass
class _Conv:
    """A conversation's folded state while a batch is applied (uuids, not row ids)."""

    id: int | None
    uuid: str
    bot: str | None
    user: str | None
    started_us: int
    start_event_us: int | None = None
    start_event_id: str | None = None
    channel: str = "unknown"
    activity_event_us: int | None = None
    end_us: int | None = None
    end_event_id: str | None = None
    resolution: str | None = None
    messages: int = 0
    user_messages: int = 0
    bot_messages: int = 0
    fallback_messages: int = 0
    rating_score: int | None = None
    rating_us: int | None = None
    rating_event_id: str | None = None
    stored_contribution: tuple[tuple[int, int], list[int]] | None = None

    @property
    def last_activity_us(self) -> int:
        return self.activity_event_us if self.activity_event_us is not None else self.started_us

    def fold(self, e: NewEvent) -> None:
        """Apply one event; the result does not depend on the order events arrive in."""
        if e.type == "conversation_started":
            if (
                self.start_event_us is None
                or e.ts_us < self.start_event_us
                or (e.ts_us == self.start_event_us and e.id > (self.start_event_id or ""))
            ):
                self.start_event_us, self.start_event_id = e.ts_us, e.id
                self.channel = e.channel or "web"
        if self.start_event_us is not None:
            self.started_us = self.start_event_us
        else:
            self.started_us = min(self.started_us, e.ts_us)
        if e.type in ("conversation_started", "message"):
            if self.activity_event_us is None or e.ts_us > self.activity_event_us:
                self.activity_event_us = e.ts_us
        if e.type == "message":
            self.messages += 1
            if e.role == "user":
                self.user_messages += 1
            else:
                self.bot_messages += 1
                if e.fallback:
                    self.fallback_messages += 1
        elif e.type == "conversation_ended":
            if (
                self.end_us is None
                or e.ts_us > self.end_us
                or (e.ts_us == self.end_us and e.id > (self.end_event_id or ""))
            ):
                self.end_us, self.end_event_id, self.resolution = e.ts_us, e.id, e.resolution
        elif e.type == "satisfaction":
            if (
                self.rating_us is None
                or e.ts_us > self.rating_us
                or (e.ts_us == self.rating_us and e.id > (self.rating_event_id or ""))
            ):
                self.rating_us, self.rating_event_id, self.rating_score = e.ts_us, e.id, e.score


_CONV_COLUMNS = (
    "bot_id, user_id, started_us, start_event_us, start_event_id, channel, last_activity_us, "
    "activity_event_us, end_us, end_event_id, resolution, messages, user_messages, bot_messages, "
    "fallback_messages, rating_score, rating_us, rating_event_id"
)


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _marks(n: int) -> str:
    return ",".join("?" * n)


async def _existing_ids(conn: BaseDBAsyncClient, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        rows = await conn.execute_query_dict(
            sql(f"SELECT id FROM events WHERE id IN ({_marks(len(chunk))})", conn), chunk
        )
        found.update(r["id"] for r in rows)
    return found


async def _load_conversations(conn: BaseDBAsyncClient, uuids: list[str]) -> dict[str, _Conv]:
    out: dict[str, _Conv] = {}
    for chunk in _chunks(uuids):
        rows = await conn.execute_query_dict(
            sql(
                "SELECT c.*, b.uuid AS bot_uuid, u.uuid AS user_uuid FROM conversations c "
                "LEFT JOIN bots b ON b.id = c.bot_id LEFT JOIN end_users u ON u.id = c.user_id "
                f"WHERE c.uuid IN ({_marks(len(chunk))})",
                conn,
            ),
            chunk,
        )
        for r in rows:
            out[r["uuid"]] = _Conv(
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
            )
            out[r["uuid"]].stored_contribution = _contribution(out[r["uuid"]], r["bot_id"])
    return out


def _contribution(c: _Conv, bot_id: int | None) -> tuple[tuple[int, int], list[int]] | None:
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
    ]


_CONV_SLOT_COLUMNS = (
    "conversations",
    "messages",
    "ended",
    "resolved",
    "escalated",
    "abandoned",
    "ended_duration_us",
    "open",
    "open_duration_us",
)


async def _apply_conv_slots(conn: BaseDBAsyncClient, touched: list[_Conv], bot_ids: dict[str, int]) -> None:
    deltas: dict[tuple[int, int], list[int]] = {}
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
    updates = ", ".join(f"{col} = conv_slots.{col} + excluded.{col}" for col in _CONV_SLOT_COLUMNS)
    await conn.execute_many(
        sql(
            f"INSERT INTO conv_slots (slot, bot_id, {', '.join(_CONV_SLOT_COLUMNS)}) "
            f"VALUES ({_marks(2 + len(_CONV_SLOT_COLUMNS))}) "
            f"ON CONFLICT (slot, bot_id) DO UPDATE SET {updates}",
            conn,
        ),
        rows,
    )


async def _extend_activity_chains(conn: BaseDBAsyncClient, keys: list[tuple[int, int, int]]) -> None:
    """Insert (slot, bot, user) activity rows and keep both `prev_slot` chains exact, whatever the order
    events arrive in: a new row's predecessor is looked up, and its successor now points at it."""
    await conn.execute_many(
        sql(
            "INSERT INTO user_slots (slot, bot_id, user_id) VALUES (?, ?, ?) "
            "ON CONFLICT (slot, bot_id, user_id) DO NOTHING",
            conn,
        ),
        [list(k) for k in keys],
    )
    prev = (
        "(SELECT MAX(p.slot) FROM user_slots p WHERE p.bot_id = user_slots.bot_id "
        "AND p.user_id = user_slots.user_id AND p.slot < user_slots.slot)"
    )
    await conn.execute_many(
        sql(f"UPDATE user_slots SET prev_slot = {prev} WHERE bot_id = ? AND user_id = ? AND slot = ?", conn),
        [[b, u, s] for s, b, u in keys],
    )
    await conn.execute_many(
        sql(
            f"UPDATE user_slots SET prev_slot = {prev} WHERE bot_id = ? AND user_id = ? AND slot = "
            "(SELECT MIN(n.slot) FROM user_slots n WHERE n.bot_id = ? AND n.user_id = ? AND n.slot > ?)",
            conn,
        ),
        [[b, u, b, u, s] for s, b, u in keys],
    )
    every = sorted({(s, u) for s, _b, u in keys})
    await conn.execute_many(
        sql(
            "INSERT INTO user_slots_all (slot, user_id) VALUES (?, ?) ON CONFLICT (slot, user_id) DO NOTHING",
            conn,
        ),
        [list(k) for k in every],
    )
    prev_all = (
        "(SELECT MAX(p.slot) FROM user_slots_all p WHERE p.user_id = user_slots_all.user_id "
        "AND p.slot < user_slots_all.slot)"
    )
    await conn.execute_many(
        sql(f"UPDATE user_slots_all SET prev_slot = {prev_all} WHERE user_id = ? AND slot = ?", conn),
        [[u, s] for s, u in every],
    )
    await conn.execute_many(
        sql(
            f"UPDATE user_slots_all SET prev_slot = {prev_all} WHERE user_id = ? AND slot = "
            "(SELECT MIN(n.slot) FROM user_slots_all n WHERE n.user_id = ? AND n.slot > ?)",
            conn,
        ),
        [[u, u, s] for s, u in every],
    )


async def _ids_for(conn: BaseDBAsyncClient, table: str, uuids: set[str]) -> dict[str, int]:
    wanted = sorted(uuids)
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        rows = await conn.execute_query_dict(
            sql(f"SELECT id, uuid FROM {table} WHERE uuid IN ({_marks(len(chunk))})", conn), chunk
        )
        found.update({r["uuid"]: r["id"] for r in rows})
    missing = [u for u in wanted if u not in found]
    if missing:
        await conn.execute_many(
            sql(f"INSERT INTO {table} (uuid) VALUES (?) ON CONFLICT (uuid) DO NOTHING", conn),
            [[u] for u in missing],
        )
        for chunk in _chunks(missing):
            rows = await conn.execute_query_dict(
                sql(f"SELECT id, uuid FROM {table} WHERE uuid IN ({_marks(len(chunk))})", conn), chunk
            )
            found.update({r["uuid"]: r["id"] for r in rows})
    return found


def _conv_values(c: _Conv, bot_ids: dict[str, int], user_ids: dict[str, int]) -> list[Any]:
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
    ]


_MIN_FIRST_ACTIVE = (
    "CASE WHEN excluded.first_active_us IS NOT NULL AND ({t}.first_active_us IS NULL "
    "OR excluded.first_active_us < {t}.first_active_us) THEN excluded.first_active_us "
    "ELSE {t}.first_active_us END"
)


async def _apply(conn: BaseDBAsyncClient, fresh: list[NewEvent], now_us: int) -> None:
    convs = await _load_conversations(conn, sorted({e.conversation for e in fresh}))
    errors: list[dict[str, Any]] = []
    for e in fresh:
        c = convs.get(e.conversation)
        if c is None:
            c = convs[e.conversation] = _Conv(
                id=None, uuid=e.conversation, bot=None, user=None, started_us=e.ts_us
            )
        if e.bot is not None:
            if c.bot is None:
                c.bot = e.bot
            elif c.bot != e.bot:
                errors.append(
                    {"index": e.index, "field": "bot_id", "message": f"conversation belongs to bot {c.bot}"}
                )
                continue
        if e.user is not None:
            if c.user is None:
                c.user = e.user
            elif c.user != e.user:
                errors.append(
                    {
                        "index": e.index,
                        "field": "user_id",
                        "message": f"conversation belongs to user {c.user}",
                    }
                )
                continue
        c.fold(e)
    if errors:
        raise InvalidBody(f"{len(errors)} invalid event(s): nothing was stored", errors)

    touched = {e.conversation for e in fresh}
    bot_ids = await _ids_for(conn, "bots", {c.bot for c in convs.values() if c.bot})

    # Users: first activity (a conversation start or a user message) across all bots.
    first_active: dict[str, int | None] = {}
    for c in convs.values():
        if c.user:
            first_active.setdefault(c.user, None)
    bot_user_first: dict[tuple[str, str], int] = {}
    user_slot_keys: set[tuple[int, str, str]] = set()
    msg_slots: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for e in fresh:
        c = convs[e.conversation]
        bot, user = e.bot or c.bot, e.user or c.user
        if e.type == "message" and bot:
            counts = msg_slots[(e.ts_us // SLOT_US, bot)]
            counts[0] += 1
            if e.role == "user":
                counts[1] += 1
            else:
                counts[2] += 1
                counts[3] += 1 if e.fallback else 0
        if (e.type == "conversation_started" or (e.type == "message" and e.role == "user")) and bot and user:
            prev = first_active.get(user)
            first_active[user] = e.ts_us if prev is None else min(prev, e.ts_us)
            key = (bot, user)
            bot_user_first[key] = min(bot_user_first.get(key, e.ts_us), e.ts_us)
            user_slot_keys.add((e.ts_us // SLOT_US, bot, user))

    await conn.execute_many(
        sql(
            "INSERT INTO end_users (uuid, first_active_us) VALUES (?, ?) ON CONFLICT (uuid) DO UPDATE "
            "SET first_active_us = " + _MIN_FIRST_ACTIVE.format(t="end_users"),
            conn,
        ),
        [[u, first_active[u]] for u in sorted(first_active)],
    )
    user_ids = await _ids_for(conn, "end_users", set(first_active))

    new_convs = [c for c in convs.values() if c.id is None]
    old_convs = [c for c in convs.values() if c.id is not None and c.uuid in touched]
    if new_convs:
        await conn.execute_many(
            sql(f"INSERT INTO conversations (uuid, {_CONV_COLUMNS}) VALUES (?, {_marks(18)})", conn),
            [[c.uuid, *_conv_values(c, bot_ids, user_ids)] for c in sorted(new_convs, key=lambda c: c.uuid)],
        )
        for chunk in _chunks([c.uuid for c in new_convs]):
            found = await conn.execute_query_dict(
                sql(f"SELECT id, uuid FROM conversations WHERE uuid IN ({_marks(len(chunk))})", conn), chunk
            )
            for r in found:
                convs[r["uuid"]].id = r["id"]
    if old_convs:
        assignments = ", ".join(f"{col.strip()} = ?" for col in _CONV_COLUMNS.split(","))
        await conn.execute_many(
            sql(f"UPDATE conversations SET {assignments} WHERE id = ?", conn),
            [[*_conv_values(c, bot_ids, user_ids), c.id] for c in sorted(old_convs, key=lambda c: c.uuid)],
        )

    rows: list[list[Any]] = []
    for e in fresh:
        c = convs[e.conversation]
        bot, user = e.bot or c.bot, e.user or c.user
        rows.append(
            [
                e.id,
                e.type,
                c.id,
                bot_ids[bot] if bot else None,
                user_ids[user] if user else None,
                e.ts_us,
                e.role,
                e.fallback,
                e.intent,
                e.latency_ms,
                e.tokens,
                e.channel,
                e.resolution,
                e.score,
                e.comment,
                now_us,
            ]
        )
    await conn.execute_many(
        sql(
            "INSERT INTO events (id, type, conversation_id, bot_id, user_id, ts_us, role, fallback, intent, "
            f"latency_ms, tokens, channel, resolution, score, comment, received_us) VALUES ({_marks(16)})",
            conn,
        ),
        rows,
    )
    if msg_slots:
        await conn.execute_many(
            sql(
                "INSERT INTO message_slots (slot, bot_id, messages, user_messages, bot_messages, "
                "fallback_messages) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (slot, bot_id) DO UPDATE SET "
                "messages = message_slots.messages + excluded.messages, "
                "user_messages = message_slots.user_messages + excluded.user_messages, "
                "bot_messages = message_slots.bot_messages + excluded.bot_messages, "
                "fallback_messages = message_slots.fallback_messages + excluded.fallback_messages",
                conn,
            ),
            [[slot, bot_ids[bot], *counts] for (slot, bot), counts in sorted(msg_slots.items())],
        )
    await _apply_conv_slots(conn, [convs[u] for u in sorted(touched)], bot_ids)
    if user_slot_keys:
        keys = sorted({(slot, bot_ids[bot], user_ids[user]) for slot, bot, user in user_slot_keys})
        await _extend_activity_chains(conn, keys)
    if bot_user_first:
        await conn.execute_many(
            sql(
                "INSERT INTO bot_users (bot_id, user_id, first_active_us) VALUES (?, ?, ?) "
                "ON CONFLICT (bot_id, user_id) DO UPDATE SET first_active_us = "
                + _MIN_FIRST_ACTIVE.format(t="bot_users"),
                conn,
            ),
            [[bot_ids[b], user_ids[u], ts] for (b, u), ts in sorted(bot_user_first.items())],
        )


async def ingest_events(raw: Any, principal: Principal, now: datetime | None = None) -> IngestResult:
    """Validate and store a batch atomically; ids stored before (or repeated in the batch) are duplicates."""
    principal.require_ingest()
    now_us = ((now or datetime.now(UTC)) - _EPOCH) // _ONE_US
    events = parse_events(raw, now_us)
    for e in events:
        if e.bot is not None and not principal.may_see_bot(e.bot):
            raise Forbidden(f"event {e.index}: bot_id {e.bot} is outside this credential's bot scope")
    seen: set[str] = set()
    unique: list[NewEvent] = []
    for e in events:
        if e.id not in seen:
            seen.add(e.id)
            unique.append(e)
    in_batch_duplicates = len(events) - len(unique)
    async with _sqlite_lock, in_transaction("default") as conn:
        if dialect(conn) == "postgres":
            await conn.execute_query(sql("SELECT pg_advisory_xact_lock(?)", conn), [_INGEST_LOCK_KEY])
        stored = await _existing_ids(conn, [e.id for e in unique])
        fresh = [e for e in unique if e.id not in stored]
        if fresh:
            await _apply(conn, fresh, now_us)
    return IngestResult(accepted=len(fresh), duplicates=in_batch_duplicates + len(stored))
