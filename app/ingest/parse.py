"""Validation of one event and of a batch (API.md section 4): a batch is checked in full, and every
bad event is named, before anything is written."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Any

from app.analytics.buckets import EPOCH, ONE_US
from app.errors import InvalidBody, InvalidParameter
from app.ingest.event_rows import event_statement
from app.ingest.events import NewEvent
from app.vocabulary import EventType, Resolution, normalise_uuid

MAX_BATCH = 1000
MAX_INTENT, MAX_CHANNEL, MAX_COMMENT = 200, 64, 2000
MAX_MODEL = MAX_REASON = 100
MAX_COST = 1_000_000_000
"""The largest `cost` of one message: sums of many stay finite (docs/decisions.md)."""
"""The longest `intent`, `channel` and `comment` of an event, in characters (app/limits.py)."""
MAX_FUTURE_US = 24 * 3600 * 1_000_000
EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)
RESOLUTIONS: tuple[str, ...] = tuple(r.value for r in Resolution)
MAX_INT = 2**53


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


_RFC3339 = re.compile(
    r"([0-9]{4})-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]+))?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
"""RFC 3339's date-time (section 5.6): seconds required, `T` or `t`, `Z`/`z` or a `+HH:MM` offset.
ISO 8601's other forms (week dates, basic format, comma fractions, `+HHMM`) are not RFC 3339."""
MIN_EVENT_YEAR = 1970


def _timestamp_us(ev: dict[str, Any], now_us: int) -> int:
    value = ev.get("timestamp")
    if value is None:
        raise _Bad("timestamp", "timestamp is required")
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _Bad("timestamp", "timestamp must be an RFC 3339 datetime with an offset")
    if int(match[1]) < MIN_EVENT_YEAR:
        raise _Bad("timestamp", f"timestamp must be in the year {MIN_EVENT_YEAR} or later")
    fraction = match[2]
    if fraction is not None and len(fraction) > 6:  # RFC 3339 allows more digits than microseconds
        value = value[: match.start(2) + 6] + value[match.end(2) :]
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise _Bad("timestamp", "timestamp must be an RFC 3339 datetime with an offset") from None
    ts: int = (parsed - EPOCH) // ONE_US  # to_us(parsed), inline: this runs for every event
    if ts - now_us > MAX_FUTURE_US:
        raise _Bad("timestamp", "timestamp is more than 24 hours in the future")
    return ts


def _optional_int(ev: dict[str, Any], key: str) -> int | None:
    value = ev.get(key)
    if value is None:
        return None
    value = _integral(value)
    if not isinstance(value, int) or value < 0 or value > MAX_INT:
        raise _Bad(key, f"{key} must be a non-negative integer")
    return value


def _integral(value: Any) -> Any:
    """`4.0` as `4`: JSON does not tell them apart, and GraphQL's Int and JSON Schema's integer take
    it; booleans and fractions stay what they are (and are refused by the caller)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INT:
        return int(value)
    return None if isinstance(value, bool) else value


def _optional_cost(ev: dict[str, Any]) -> float | None:
    """`cost`: a finite JSON number >= 0 (not a string, not a boolean; NaN and infinities refused)."""
    value = ev.get("cost")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad("cost", "cost must be a finite number >= 0")
    try:
        cost = float(value)
    except OverflowError:  # an integer beyond the float range
        raise _Bad("cost", "cost must be a finite number >= 0") from None
    if not math.isfinite(cost) or cost < 0:
        raise _Bad("cost", "cost must be a finite number >= 0")
    if cost > MAX_COST:
        raise _Bad("cost", f"cost must be at most {MAX_COST:,}")
    return cost


def _optional_str(ev: dict[str, Any], key: str, limit: int) -> str | None:
    value = ev.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _Bad(key, f"{key} must be a string of at most {limit} characters")
    if "\x00" in value:  # PostgreSQL cannot store NUL in text: refused on every database alike
        raise _Bad(key, f"{key} must not contain NUL characters")
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
        intent = _optional_str(ev, "intent", MAX_INTENT)
        fallback = ev.get("fallback")
        if fallback is not None and fallback is not True and fallback is not False:
            raise _Bad("fallback", "fallback must be a boolean")
        latency_ms = _optional_int(ev, "latency_ms")
        tokens = _optional_int(ev, "tokens")
        model = _optional_str(ev, "model", MAX_MODEL)
        cost = _optional_cost(ev)
        e = NewEvent(
            index, event_id, etype, ts, conversation, bot, user,
            role=role, intent=intent, fallback=fallback, latency_ms=latency_ms, tokens=tokens,
            model=model, cost=cost,
        )  # fmt: skip
        optional: tuple[Any, ...] = (role, fallback, intent, latency_ms, tokens)
        if model is not None or cost is not None:
            optional += (None, None, None, None, model, cost)
    elif etype == "conversation_started":
        channel = _optional_str(ev, "channel", MAX_CHANNEL)
        if channel is not None and not channel.strip():
            raise _Bad("channel", "channel must not be empty")
        e = NewEvent(index, event_id, etype, ts, conversation, bot, user, channel=channel or "web")
        optional = (None, None, None, None, None, e.channel)
    elif etype == "conversation_ended":
        resolution = ev.get("resolution")
        if resolution not in RESOLUTIONS:
            raise _Bad("resolution", f"resolution must be one of {', '.join(RESOLUTIONS)}")
        reason = _optional_str(ev, "reason", MAX_REASON)
        e = NewEvent(
            index, event_id, etype, ts, conversation, bot, user, resolution=resolution, reason=reason
        )
        optional = (None, None, None, None, None, None, resolution)
        if reason is not None:
            optional += (None, None, None, None, reason)
    else:
        score = _integral(ev.get("score"))
        if not isinstance(score, int) or not 1 <= score <= 5:
            raise _Bad("score", "score must be an integer from 1 to 5")
        comment = _optional_str(ev, "comment", MAX_COMMENT)
        e = NewEvent(index, event_id, etype, ts, conversation, bot, user, score=score, comment=comment)
        optional = (None, None, None, None, None, None, None, score, comment)
    # `optional` follows event_rows.EVENT_OPTIONAL (the columns after it are NULL for this type).
    e.statement = event_statement(tuple([v is not None for v in optional]))
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
