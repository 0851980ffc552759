"""Event ingestion (API.md section 4): validate a batch, then fold it into storage atomically.

The batch is validated in full before anything is written. Batches are written by one writer task
per event loop (group commit): batches that arrive while a group is being written queue up, and
the next group folds each of them in turn (a batch sees every id stored or accepted before it, and
one whose events conflict with a conversation's owner is refused alone, before anything is
written), then writes all the accepted ones in one transaction. The conversation state, the raw
events and the rollup tables change together; should the group's transaction fail, each of its
batches is retried in a transaction of its own, so a batch's outcome never depends on another's.
On PostgreSQL a transaction-scoped advisory lock also serialises groups from every process, so
concurrent ingesters neither lose nor double-count. On SQLite the writer runs on the thread of
ingestion's own connection, a whole transaction per call (see `_Writer`), beside the connections
the API reads on.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
import weakref
from collections import defaultdict, deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.analytics.buckets import EPOCH, ONE_US, to_us
from app.analytics.cache import note_data_changed
from app.auth import Principal
from app.db import dialect, ingest_connection, sql
from app.errors import Forbidden, InvalidBody, InvalidParameter
from app.models import CONV_SLOT_COLUMNS, SLOT_US
from app.vocabulary import EventType, Resolution, normalise_uuid

__all__ = ["MAX_BATCH", "IngestResult", "NewEvent", "ingest_events", "parse_events"]

T = TypeVar("T")
MAX_BATCH = 1000
MAX_FUTURE_US = 24 * 3600 * 1_000_000
EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)
RESOLUTIONS: tuple[str, ...] = tuple(r.value for r in Resolution)
MAX_INT = 2**53
MAX_GROUP_EVENTS = 8000
"""A group takes queued batches until it holds this many events (at least one batch)."""
_INGEST_LOCK_KEY = 0x6B07A11


@dataclass(slots=True)
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
    statement: str = ""
    """The INSERT of this event's row: its base columns and the optional ones it sets (worked out
    while the request is parsed rather than in the writer, which every batch waits for)."""
    extra: tuple[Any, ...] = ()
    """The values of the optional columns it sets, in the statement's order."""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _uuid(ev: dict[str, Any], key: str, required: bool, known: dict[str, str]) -> str | None:
    """The normalised UUID under `key`; `known` caches the values already seen in this batch
    (bots, users and conversations repeat across its events)."""
    value = ev.get(key)
    if value is None:
        if required:
            raise _Bad(key, f"{key} is required")
        return None
    if not isinstance(value, str):
        raise _Bad(key, f"{key} must be a UUID string")
    normal = known.get(value)
    if normal is not None:
        return normal
    try:
        normal = normalise_uuid(value, key)
    except InvalidParameter as exc:
        raise _Bad(key, exc.message) from None
    known[value] = normal
    return normal


def _timestamp_us(ev: dict[str, Any], now_us: int) -> int:
    value = ev.get("timestamp")
    if value is None:
        raise _Bad("timestamp", "timestamp is required")
    if not isinstance(value, str) or ("T" not in value and "t" not in value):
        raise _Bad("timestamp", "timestamp must be an RFC 3339 datetime with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad("timestamp", "timestamp must be an RFC 3339 datetime with an offset") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Bad("timestamp", "timestamp must carry an offset (e.g. Z or +02:00)")
    ts: int = (parsed - EPOCH) // ONE_US  # to_us(parsed), inline: this runs for every event
    if ts - now_us > MAX_FUTURE_US:
        raise _Bad("timestamp", "timestamp is more than 24 hours in the future")
    return ts


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


def _parse_one(index: int, ev: Any, now_us: int, known: dict[str, str]) -> NewEvent:
    if not isinstance(ev, dict):
        raise _Bad("", "each event must be a JSON object")
    etype = ev.get("type")
    if etype not in EVENT_TYPES:
        raise _Bad("type", f"type must be one of {', '.join(EVENT_TYPES)}")
    event_id = _uuid(ev, "id", False, known) or str(uuid.uuid4())
    # Bots, users and conversations repeat across a batch: the cache first, inline.
    value = ev.get("conversation_id")
    conversation = known.get(value) if type(value) is str else None
    if conversation is None:
        conversation = _uuid(ev, "conversation_id", True, known)
        assert conversation is not None
    needs_owner = etype != "conversation_ended"
    value = ev.get("bot_id")
    bot = known.get(value) if type(value) is str else None
    if bot is None:
        bot = _uuid(ev, "bot_id", needs_owner, known)
    value = ev.get("user_id")
    user = known.get(value) if type(value) is str else None
    if user is None:
        user = _uuid(ev, "user_id", needs_owner, known)
    ts = _timestamp_us(ev, now_us)
    e: NewEvent
    if etype == "message":
        role = ev.get("role")
        if role != "user" and role != "bot":
            raise _Bad("role", "role must be 'user' or 'bot'")
        intent = _optional_str(ev, "intent", 200)
        fallback = ev.get("fallback")
        if fallback is not None and fallback is not True and fallback is not False:
            raise _Bad("fallback", "fallback must be a boolean")
        latency_ms = _optional_int(ev, "latency_ms")
        tokens = _optional_int(ev, "tokens")
        e = NewEvent(
            index, event_id, etype, ts, conversation, bot, user,
            role=role, intent=intent, fallback=fallback, latency_ms=latency_ms, tokens=tokens,
        )  # fmt: skip
        optional: tuple[Any, ...] = (role, fallback, intent, latency_ms, tokens)
    elif etype == "conversation_started":
        channel = _optional_str(ev, "channel", 64)
        if channel is not None and not channel.strip():
            raise _Bad("channel", "channel must not be empty")
        e = NewEvent(index, event_id, etype, ts, conversation, bot, user, channel=channel or "web")
        optional = (None, None, None, None, None, e.channel)
    elif etype == "conversation_ended":
        resolution = ev.get("resolution")
        if resolution not in RESOLUTIONS:
            raise _Bad("resolution", f"resolution must be one of {', '.join(RESOLUTIONS)}")
        e = NewEvent(index, event_id, etype, ts, conversation, bot, user, resolution=resolution)
        optional = (None, None, None, None, None, None, resolution)
    else:
        score = ev.get("score")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise _Bad("score", "score must be an integer from 1 to 5")
        comment = _optional_str(ev, "comment", 2000)
        e = NewEvent(index, event_id, etype, ts, conversation, bot, user, score=score, comment=comment)
        optional = (None, None, None, None, None, None, None, score, comment)
    # `optional` follows _EVENT_OPTIONAL (the columns after it are NULL for this type).
    e.statement = _event_statement(tuple([v is not None for v in optional]))
    e.extra = tuple([v for v in optional if v is not None])
    return e


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
    known: dict[str, str] = {}
    for index, ev in enumerate(raw):
        try:
            parsed.append(_parse_one(index, ev, now_us, known))
        except _Bad as bad:
            errors.append({"index": index, "field": bad.field, "message": bad.message})
    if errors:
        raise InvalidBody(f"{len(errors)} invalid event(s): nothing was stored", errors)
    return parsed


@dataclass(slots=True)
class _Conv:
    """A conversation's folded state while a group is applied (uuids, not row ids)."""

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
    stored_values: tuple[Any, ...] = ()
    """Its row as loaded, in `_CONV_NAMES` order (an UPDATE sets only the columns that changed)."""

    @property
    def last_activity_us(self) -> int:
        return self.activity_event_us if self.activity_event_us is not None else self.started_us

    def fold(self, e: NewEvent) -> None:
        """Apply one event; the result does not depend on the order events arrive in."""
        etype, ts = e.type, e.ts_us
        if etype == "message":
            if self.activity_event_us is None or ts > self.activity_event_us:
                self.activity_event_us = ts
            self.messages += 1
            if e.role == "user":
                self.user_messages += 1
            else:
                self.bot_messages += 1
                if e.fallback:
                    self.fallback_messages += 1
        elif etype == "conversation_started":
            if (
                self.start_event_us is None
                or ts < self.start_event_us
                or (ts == self.start_event_us and e.id > (self.start_event_id or ""))
            ):
                self.start_event_us, self.start_event_id = ts, e.id
                self.channel = e.channel or "web"
            if self.activity_event_us is None or ts > self.activity_event_us:
                self.activity_event_us = ts
        elif etype == "conversation_ended":
            if (
                self.end_us is None
                or ts > self.end_us
                or (ts == self.end_us and e.id > (self.end_event_id or ""))
            ):
                self.end_us, self.end_event_id, self.resolution = ts, e.id, e.resolution
        elif (
            self.rating_us is None
            or ts > self.rating_us
            or (ts == self.rating_us and e.id > (self.rating_event_id or ""))
        ):
            self.rating_us, self.rating_event_id, self.rating_score = ts, e.id, e.score
        if self.start_event_us is not None:
            self.started_us = self.start_event_us
        elif ts < self.started_us:
            self.started_us = ts


_CONV_NAMES = (
    "bot_id", "user_id", "started_us", "start_event_us", "start_event_id", "channel", "last_activity_us",
    "activity_event_us", "end_us", "end_event_id", "resolution", "messages", "user_messages", "bot_messages",
    "fallback_messages", "rating_score", "rating_us", "rating_event_id",
)  # fmt: skip
"""The `conversations` columns ingestion writes (besides `uuid`), in `_conv_values` order."""
_IN_CHUNK = 4000
"""Values bound in one `IN (...)` list or multi-row VALUES (SQLite and PostgreSQL allow 32,766)."""


def _chunks(items: list[Any], size: int = _IN_CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _marks(n: int) -> str:
    return ",".join("?" * n)


@dataclass(slots=True, frozen=True)
class _Query:
    """A statement whose rows (as dicts) the step that yielded it gets back."""

    text: str
    params: list[Any]


@dataclass(slots=True, frozen=True)
class _Many:
    """A statement executed once per row of parameters (nothing comes back)."""

    text: str
    rows: Sequence[Sequence[Any]]


_Steps = Generator[_Query | _Many, list[dict[str, Any]] | None, T]
"""The SQL of a write, as a generator of statements (``?`` placeholders) that receives each
query's rows: the same logic runs on PostgreSQL (each statement awaited through Tortoise) and on
SQLite (the whole transaction in one call on aiosqlite's thread: no hand-off per statement)."""


def _query(text: str, params: list[Any]) -> _Steps[list[dict[str, Any]]]:
    rows = yield _Query(text, params)
    assert rows is not None
    return rows


def _select_in(text: str, values: list[Any]) -> _Steps[list[dict[str, Any]]]:
    """The rows of `text` (a SELECT ending in `IN `) for every value, an IN list a chunk."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(values):
        rows += yield from _query(f"{text}({_marks(len(chunk))})", chunk)
    return rows


def _existing_ids(ids: list[str]) -> _Steps[set[str]]:
    rows = yield from _select_in("SELECT id FROM events WHERE id IN ", ids)
    return {r["id"] for r in rows}


def _load_conversations(uuids: list[str]) -> _Steps[dict[str, _Conv]]:
    out: dict[str, _Conv] = {}
    rows = yield from _select_in(
        "SELECT c.*, b.uuid AS bot_uuid, u.uuid AS user_uuid FROM conversations c "
        "LEFT JOIN bots b ON b.id = c.bot_id LEFT JOIN end_users u ON u.id = c.user_id WHERE c.uuid IN ",
        uuids,
    )
    for r in rows:
        c = out[r["uuid"]] = _Conv(
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
        c.stored_contribution = _contribution(c, r["bot_id"])
        c.stored_values = tuple(r[name] for name in _CONV_NAMES)
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


def _apply_conv_slots(touched: list[_Conv], bot_ids: dict[str, int]) -> _Steps[None]:
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
    updates = ", ".join(f"{col} = conv_slots.{col} + excluded.{col}" for col in CONV_SLOT_COLUMNS)
    yield _Many(
        f"INSERT INTO conv_slots (slot, bot_id, {', '.join(CONV_SLOT_COLUMNS)}) "
        f"VALUES ({_marks(2 + len(CONV_SLOT_COLUMNS))}) "
        f"ON CONFLICT (slot, bot_id) DO UPDATE SET {updates}",
        rows,
    )


def _extend_chain(table: str, owner: tuple[str, ...], keys: list[tuple[int, ...]]) -> _Steps[None]:
    """Insert `(slot, *owner)` activity rows into `table` and keep its `prev_slot` chain (one per
    owner) exact, whatever the order events arrive in: a row that is new gets its predecessor
    looked up, and its successor now points at it (rows that were there already keep their links:
    most of a batch's activity is in slots its users were active in already)."""
    columns = ("slot", *owner)
    added: list[tuple[int, ...]] = []
    for chunk in _chunks(keys, _IN_CHUNK // len(columns)):
        rows = yield from _query(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            + ",".join(f"({_marks(len(columns))})" for _ in chunk)
            + f" ON CONFLICT ({', '.join(columns)}) DO NOTHING RETURNING {', '.join(columns)}",
            [v for k in chunk for v in k],
        )
        added += [tuple(r[col] for col in columns) for r in rows]
    if not added:
        return
    same_owner = " AND ".join(f"{{a}}.{col} = {table}.{col}" for col in owner)
    prev = f"(SELECT MAX(p.slot) FROM {table} p WHERE {same_owner.format(a='p')} AND p.slot < {table}.slot)"
    owner_is = " AND ".join(f"{col} = ?" for col in owner)
    yield _Many(
        f"UPDATE {table} SET prev_slot = {prev} WHERE {owner_is} AND slot = ?",
        [[*k[1:], k[0]] for k in added],
    )
    next_owner_is = " AND ".join(f"n.{col} = ?" for col in owner)
    yield _Many(
        f"UPDATE {table} SET prev_slot = {prev} WHERE {owner_is} AND slot = "
        f"(SELECT MIN(n.slot) FROM {table} n WHERE {next_owner_is} AND n.slot > ?)",
        [[*k[1:], *k[1:], k[0]] for k in added],
    )


def _extend_activity_chains(keys: list[tuple[int, int, int]]) -> _Steps[None]:
    """`(slot, bot, user)` activity: per bot in `user_slots`, across bots in `user_slots_all`."""
    yield from _extend_chain("user_slots", ("bot_id", "user_id"), list(keys))
    yield from _extend_chain("user_slots_all", ("user_id",), sorted({(s, u) for s, _b, u in keys}))


def _bot_ids(uuids: set[str]) -> _Steps[dict[str, int]]:
    wanted = sorted(uuids)
    select = "SELECT id, uuid FROM bots WHERE uuid IN "
    found = {r["uuid"]: r["id"] for r in (yield from _select_in(select, wanted))}
    missing = [u for u in wanted if u not in found]
    if missing:
        yield _Many(
            "INSERT INTO bots (uuid) VALUES (?) ON CONFLICT (uuid) DO NOTHING", [[u] for u in missing]
        )
        found.update({r["uuid"]: r["id"] for r in (yield from _select_in(select, missing))})
    return found


_EARLIER = "{t}.first_active_us IS NULL OR excluded.first_active_us < {t}.first_active_us"
"""An upsert's incoming first activity is earlier than the stored one (which may be unknown)."""


def _upsert_users(first_active: dict[str, int | None]) -> _Steps[dict[str, int]]:
    """Return the `end_users` row ids of these users, inserting the new ones and moving a user's first
    activity earlier where this group saw an earlier one (rows that do not change are not written)."""
    found: dict[str, int] = {}
    earlier: list[list[Any]] = []
    rows = yield from _select_in(
        "SELECT id, uuid, first_active_us FROM end_users WHERE uuid IN ", sorted(first_active)
    )
    for r in rows:
        found[r["uuid"]] = r["id"]
        ts = first_active[r["uuid"]]
        if ts is not None and (r["first_active_us"] is None or ts < r["first_active_us"]):
            earlier.append([ts, r["id"], ts])
    if earlier:
        yield _Many(
            "UPDATE end_users SET first_active_us = ? WHERE id = ? "
            "AND (first_active_us IS NULL OR first_active_us > ?)",
            earlier,
        )
    missing = [u for u in sorted(first_active) if u not in found]
    for chunk in _chunks(missing, _IN_CHUNK // 2):
        # The transaction saw these absent; should a row appear meanwhile all the same, the upsert
        # still returns its id (and keeps the earlier first activity).
        rows = yield from _query(
            "INSERT INTO end_users (uuid, first_active_us) VALUES "
            + ",".join("(?, ?)" for _ in chunk)
            + " ON CONFLICT (uuid) DO UPDATE SET first_active_us = CASE WHEN "
            + _EARLIER.format(t="end_users")
            + " THEN excluded.first_active_us ELSE end_users.first_active_us END RETURNING id, uuid",
            [v for u in chunk for v in (u, first_active[u])],
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


_EVENT_BASE = ("id", "type", "conversation_id", "bot_id", "user_id", "ts_us", "received_us")
_EVENT_OPTIONAL = (
    "role",
    "fallback",
    "intent",
    "latency_ms",
    "tokens",
    "channel",
    "resolution",
    "score",
    "comment",
)
_EVENT_STATEMENTS: dict[tuple[bool, ...], str] = {}


def _event_statement(present: tuple[bool, ...]) -> str:
    """The INSERT binding the base columns and the optional columns `present` marks, in the order
    of `_EVENT_OPTIONAL` (a shorter `present` leaves the rest out). An event's others stay NULL:
    binding ~8 values instead of 16 makes the events insert much cheaper."""
    statement = _EVENT_STATEMENTS.get(present)
    if statement is None:
        cols = (*_EVENT_BASE, *(col for col, p in zip(_EVENT_OPTIONAL, present, strict=False) if p))
        statement = _EVENT_STATEMENTS[present] = (
            f"INSERT INTO events ({', '.join(cols)}) VALUES ({_marks(len(cols))})"
        )
    return statement


@dataclass(eq=False)
class _Job:
    """One batch waiting for the writer: its parsed events (ids unique) and its caller's future."""

    events: list[NewEvent]
    duplicates: int
    now_us: int
    future: asyncio.Future[IngestResult]
    bot_scope: frozenset[str] | None = None
    """The caller's bots (None: every bot): the batch may touch no conversation of another bot."""


@dataclass(eq=False)
class _Group:
    """Batches folded one after the other into shared state, then written together."""

    convs: dict[str, _Conv]
    seen: set[str]
    """Event ids already stored, or accepted from an earlier batch of the group."""
    touched: dict[str, _Conv] = field(default_factory=dict)
    rows: list[tuple[NewEvent, _Conv, str | None, str | None, int]] = field(default_factory=list)
    msg_slots: defaultdict[tuple[int, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    first_active: dict[str, int] = field(default_factory=dict)
    bot_user_first: dict[tuple[str, str], int] = field(default_factory=dict)
    user_slot_keys: set[tuple[int, str, str]] = field(default_factory=set)

    def add(self, job: _Job) -> IngestResult:
        """Fold one batch in, as if it were applied alone after the batches before it; raise
        Forbidden when one of its events touches a conversation of a bot outside the caller's scope
        (an end event names no bot), InvalidBody when one names another bot or user for a
        conversation; either changes nothing."""
        seen, convs = self.seen, self.convs
        fresh = [e for e in job.events if e.id not in seen]
        duplicates = job.duplicates + len(job.events) - len(fresh)
        if not fresh:
            return IngestResult(accepted=0, duplicates=duplicates)
        scope = job.bot_scope
        if scope is not None:
            for e in fresh:
                c = convs.get(e.conversation)
                if c is not None and c.bot is not None and c.bot not in scope:
                    raise Forbidden(
                        f"event {e.index}: conversation_id {e.conversation} belongs to a bot "
                        "outside this credential's bot scope"
                    )
        owners: dict[str, list[str | None]] = {}
        errors: list[dict[str, Any]] = []
        for e in fresh:
            owner = owners.get(e.conversation)
            if owner is None:
                c = convs.get(e.conversation)
                owner = owners[e.conversation] = [c.bot, c.user] if c is not None else [None, None]
            if e.bot is not None:
                if owner[0] is None:
                    owner[0] = e.bot
                elif owner[0] != e.bot:
                    errors.append(
                        {
                            "index": e.index,
                            "field": "bot_id",
                            "message": "conversation belongs to another bot",
                        }
                    )
                    continue
            if e.user is not None:
                if owner[1] is None:
                    owner[1] = e.user
                elif owner[1] != e.user:
                    errors.append(
                        {
                            "index": e.index,
                            "field": "user_id",
                            "message": "conversation belongs to another user",
                        }
                    )
        if errors:
            raise InvalidBody(f"{len(errors)} invalid event(s): nothing was stored", errors)

        touched = self.touched
        for e in fresh:
            c = convs.get(e.conversation)
            if c is None:
                c = convs[e.conversation] = _Conv(
                    id=None, uuid=e.conversation, bot=None, user=None, started_us=e.ts_us
                )
                touched[e.conversation] = c
            elif e.conversation not in touched:
                touched[e.conversation] = c
            c.fold(e)
        for conv, (bot, user) in owners.items():
            c = convs[conv]
            c.bot, c.user = bot, user

        # Rollups, with each event's bot and user as its conversation has them after this batch.
        rows, msg_slots, first_active = self.rows, self.msg_slots, self.first_active
        bot_user_first, user_slot_keys = self.bot_user_first, self.user_slot_keys
        now_us = job.now_us
        for e in fresh:
            c = convs[e.conversation]
            bot, user = e.bot or c.bot, e.user or c.user
            rows.append((e, c, bot, user, now_us))
            etype = e.type
            if etype == "message":
                if bot:
                    counts = msg_slots[(e.ts_us // SLOT_US, bot)]
                    counts[0] += 1
                    if e.role == "user":
                        counts[1] += 1
                    else:
                        counts[2] += 1
                        if e.fallback:
                            counts[3] += 1
                if e.role != "user":
                    continue
            elif etype != "conversation_started":
                continue
            if bot and user:
                ts = e.ts_us
                prev = first_active.get(user)
                if prev is None or ts < prev:
                    first_active[user] = ts
                key = (bot, user)
                prev = bot_user_first.get(key)
                if prev is None or ts < prev:
                    bot_user_first[key] = ts
                user_slot_keys.add((ts // SLOT_US, bot, user))
        seen.update(e.id for e in fresh)
        return IngestResult(accepted=len(fresh), duplicates=duplicates)

    def write(self) -> _Steps[None]:
        """Write everything the accepted batches changed."""
        touched = [self.touched[u] for u in sorted(self.touched)]
        bot_ids = yield from _bot_ids({c.bot for c in touched if c.bot})
        users: dict[str, int | None] = {c.user: None for c in touched if c.user}
        users.update(self.first_active)
        user_ids = yield from _upsert_users(users)

        new_convs = [c for c in touched if c.id is None]
        old_convs = [c for c in touched if c.id is not None]
        per_chunk = _IN_CHUNK // 20
        for i in range(0, len(new_convs), per_chunk):
            chunk = new_convs[i : i + per_chunk]
            found = yield from _query(
                f"INSERT INTO conversations (uuid, {', '.join(_CONV_NAMES)}) VALUES "
                + ",".join(f"({_marks(1 + len(_CONV_NAMES))})" for _ in chunk)
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
            assignments = ", ".join(f"{_CONV_NAMES[i]} = ?" for i in changed)
            yield _Many(f"UPDATE conversations SET {assignments} WHERE id = ?", rows)

        by_statement: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for e, c, bot, user, received_us in self.rows:
            by_statement[e.statement].append(
                (
                    e.id, e.type, c.id, bot_ids[bot] if bot else None, user_ids[user] if user else None,
                    e.ts_us, received_us, *e.extra,
                )
            )  # fmt: skip
        for statement, event_rows in by_statement.items():
            yield _Many(statement, event_rows)

        if self.msg_slots:
            yield _Many(
                "INSERT INTO message_slots (slot, bot_id, messages, user_messages, bot_messages, "
                "fallback_messages) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (slot, bot_id) DO UPDATE SET "
                "messages = message_slots.messages + excluded.messages, "
                "user_messages = message_slots.user_messages + excluded.user_messages, "
                "bot_messages = message_slots.bot_messages + excluded.bot_messages, "
                "fallback_messages = message_slots.fallback_messages + excluded.fallback_messages",
                [[slot, bot_ids[bot], *counts] for (slot, bot), counts in sorted(self.msg_slots.items())],
            )
        yield from _apply_conv_slots(touched, bot_ids)
        if self.user_slot_keys:
            keys = sorted({(slot, bot_ids[bot], user_ids[user]) for slot, bot, user in self.user_slot_keys})
            yield from _extend_activity_chains(keys)
        if self.bot_user_first:
            yield _Many(
                "INSERT INTO bot_users (bot_id, user_id, first_active_us) VALUES (?, ?, ?) "
                "ON CONFLICT (bot_id, user_id) DO UPDATE SET first_active_us = excluded.first_active_us "
                "WHERE " + _EARLIER.format(t="bot_users"),
                [[bot_ids[b], user_ids[u], ts] for (b, u), ts in sorted(self.bot_user_first.items())],
            )


def _apply(jobs: list[_Job], postgres: bool) -> _Steps[list[IngestResult | BaseException]]:
    """Inside the group's transaction: find the ids stored before, fold the batches in turn (each
    refused alone if invalid), then write the accepted ones."""
    if postgres:
        yield _Query("SELECT pg_advisory_xact_lock(?)", [_INGEST_LOCK_KEY])
    stored = yield from _existing_ids(list({e.id: None for job in jobs for e in job.events}))
    conversations = sorted({e.conversation for job in jobs for e in job.events if e.id not in stored})
    group = _Group((yield from _load_conversations(conversations)), stored)
    outcomes: list[IngestResult | BaseException] = []
    for job in jobs:
        try:
            outcomes.append(group.add(job))
        except (InvalidBody, Forbidden) as exc:
            outcomes.append(exc)
    if group.rows:
        yield from group.write()
    return outcomes


async def _run_awaiting(conn: BaseDBAsyncClient, steps: _Steps[T]) -> T:
    """Drive `steps` statement by statement through a Tortoise connection (PostgreSQL)."""
    result: list[dict[str, Any]] | None = None
    while True:
        try:
            step = steps.send(result)
        except StopIteration as stop:
            value: T = stop.value
            return value
        if isinstance(step, _Query):
            result = await conn.execute_query_dict(sql(step.text, conn), step.params)
        else:
            # asyncpg takes any sequence of rows (Tortoise annotates lists)
            await conn.execute_many(sql(step.text, conn), cast("list[list[Any]]", step.rows))
            result = None


def _run_sqlite_transaction(db: sqlite3.Connection, steps: _Steps[T]) -> T:
    """Drive `steps` in one SQLite transaction, on the thread that owns `db` (aiosqlite's)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result: list[dict[str, Any]] | None = None
        while True:
            try:
                step = steps.send(result)
            except StopIteration as stop:
                value: T = stop.value
                break
            if isinstance(step, _Query):
                cursor = db.execute(step.text, step.params)
                names = [d[0] for d in cursor.description]
                result = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            else:
                db.executemany(step.text, step.rows)
                result = None
        db.execute("COMMIT")
        return value
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _sqlite_group(db: sqlite3.Connection, jobs: list[_Job]) -> list[IngestResult | BaseException]:
    """Apply the batches in one transaction (on aiosqlite's thread). Should it fail, each batch is
    retried in a transaction of its own, so one batch's failure cannot fail another."""
    try:
        return _run_sqlite_transaction(db, _apply(jobs, postgres=False))
    except Exception as exc:
        if len(jobs) == 1:
            return [exc]
        return [outcome for job in jobs for outcome in _sqlite_group(db, [job])]


async def _awaited_group(jobs: list[_Job]) -> list[IngestResult | BaseException]:
    """`_sqlite_group` for PostgreSQL: each statement awaited through Tortoise's pool."""
    try:
        async with in_transaction("default") as conn:
            return await _run_awaiting(conn, _apply(jobs, postgres=True))
    except Exception as exc:
        if len(jobs) == 1:
            return [exc]
        return [outcome for job in jobs for outcome in await _awaited_group([job])]


def _settle(jobs: list[_Job], outcomes: list[IngestResult | BaseException]) -> None:
    for job, outcome in zip(jobs, outcomes, strict=True):
        if job.future.done():  # its caller was cancelled
            continue
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)


@dataclass(eq=False)
class _Writer:
    """The batches waiting in one event loop and the writer applying them, group after group.

    On SQLite the writer runs on the thread of the ingestion connection: once it has applied a
    group it takes the batches queued meanwhile and goes on, without a round trip through the
    event loop (which may be busy parsing the next requests), until the queue is empty. Hence
    the lock: the queue is shared by the loop and that thread."""

    pending: deque[_Job] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: bool = False
    """A drain is scheduled or running (it empties `pending` before it stops)."""
    task: asyncio.Task[None] | None = None

    def submit(self, job: _Job) -> None:
        with self.lock:
            self.pending.append(job)
            if self.running:
                return
            self.running = True
        self.task = asyncio.get_running_loop().create_task(self.drain())

    def next_group(self) -> list[_Job]:
        """Take the next group off the queue: queued batches up to MAX_GROUP_EVENTS events (at
        least one batch), skipping those whose caller gave up while they waited."""
        jobs: list[_Job] = []
        size = 0
        with self.lock:
            pending = self.pending
            while pending and (not jobs or size + len(pending[0].events) <= MAX_GROUP_EVENTS):
                job = pending.popleft()
                if not job.future.done():
                    jobs.append(job)
                    size += len(job.events)
        return jobs

    def write_on_thread(
        self, db: sqlite3.Connection, loop: asyncio.AbstractEventLoop, jobs: list[_Job]
    ) -> None:
        """On the ingestion connection's thread: apply groups until the queue is empty."""
        while jobs:
            outcomes = _sqlite_group(db, jobs)
            try:
                loop.call_soon_threadsafe(_settle, jobs, outcomes)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                return
            jobs = self.next_group()

    async def drain(self) -> None:
        jobs: list[_Job] = []
        try:
            while True:
                jobs = self.next_group()
                if not jobs:
                    with self.lock:
                        if not self.pending:
                            self.running = False
                            return
                    continue
                client = ingest_connection()
                if dialect(client) == "postgres":
                    _settle(jobs, await _awaited_group(jobs))
                    continue
                # One hand-off for as many groups as keep arriving (a hand-off per statement cost
                # ~20% of the throughput), holding Tortoise's lock on the connection so that no
                # other statement runs inside a transaction. Shielded: once queued, the work runs
                # to its end on the thread (a cancelled caller's outcome is discarded by _settle).
                async with client.acquire_connection() as aconn:
                    await asyncio.shield(
                        aconn._execute(self.write_on_thread, aconn._conn, asyncio.get_running_loop(), jobs)
                    )
        except BaseException:
            # Only cancellation (the loop shutting down) gets here.
            with self.lock:
                for job in (*jobs, *self.pending):
                    job.future.cancel()
                self.pending.clear()
                self.running = False
            raise


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Writer] = weakref.WeakKeyDictionary()


async def ingest_events(raw: Any, principal: Principal, now: datetime | None = None) -> IngestResult:
    """Validate and store a batch atomically; ids stored before (or repeated in the batch) are duplicates."""
    now_us = to_us(now or datetime.now(UTC))
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
    loop = asyncio.get_running_loop()
    job = _Job(unique, len(events) - len(unique), now_us, loop.create_future(), principal.bot_scope)
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = _Writer()
    writer.submit(job)
    result: IngestResult = await job.future
    if result.accepted:
        note_data_changed()  # cached answers of this process are stale now
    return result
