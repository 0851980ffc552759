"""Tortoise models. Timestamps are integer microseconds since the Unix epoch (UTC), so the same
arithmetic (durations, 15-minute slots) runs unchanged on SQLite and PostgreSQL.

Rollup tables (`message_slots`, `user_slots`) are kept up to date at ingestion; the aggregate
queries read them for the slot-aligned part of a range and the raw `events` table for the edges.
"""

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from app.models.bands import DAY_SLOTS, SLOT_US
from app.models.days import ConvDay, MessageCounts, MessageDay, UserDayPair, UserDayPairAll
from app.models.insights import (
    SPAN_CLASSES,
    IntentConv,
    IntentDay,
    IntentSlot,
    LatencyDay,
    LatencyDayBand,
    LatencySlot,
    ModelDay,
    ModelSlot,
    span_class,
)
from app.vocabulary import ReportStatus

__all__ = [
    "CONV_SLOT_COLUMNS",
    "CONV_SLOT_SPEND",
    "DAY_US",
    "OUTCOME_COLUMNS",
    "RECONTACT_US",
    "SLOT_US",
    "SPAN_CLASSES",
    "ApiKey",
    "Bot",
    "BotUser",
    "ConvDay",
    "ConvSlot",
    "Conversation",
    "EndUser",
    "Event",
    "IntentConv",
    "IntentDay",
    "IntentSlot",
    "LatencyDay",
    "LatencyDayBand",
    "LatencySlot",
    "MessageDay",
    "MessageSlot",
    "ModelDay",
    "ModelSlot",
    "OutcomeDay",
    "Report",
    "UserDayPair",
    "UserDayPairAll",
    "UserSlot",
    "UserSlotAll",
    "span_class",
]


class Bot(Model):
    id = fields.IntField(primary_key=True)
    uuid = fields.CharField(max_length=36, unique=True)

    class Meta:
        table = "bots"


class EndUser(Model):
    """An end user of the bots: `first_active_us` is its first activity across all bots."""

    id = fields.IntField(primary_key=True)
    uuid = fields.CharField(max_length=36, unique=True)
    first_active_us = fields.BigIntField(null=True)

    class Meta:
        table = "end_users"
        indexes = (Index(fields=("first_active_us",)),)


class BotUser(Model):
    """First activity of a user with one bot (for `new_users` under a bot filter or scope)."""

    id = fields.IntField(primary_key=True)
    bot_id = fields.IntField()
    user_id = fields.IntField()
    first_active_us = fields.BigIntField()

    class Meta:
        table = "bot_users"
        unique_together = (("bot_id", "user_id"),)
        indexes = (Index(fields=("bot_id", "first_active_us")), Index(fields=("user_id",)))


class Conversation(Model):
    """One conversation and the state folded from its events (see API.md section 5)."""

    id = fields.IntField(primary_key=True)
    uuid = fields.CharField(max_length=36, unique=True)
    bot_id = fields.IntField(null=True)
    user_id = fields.IntField(null=True)
    started_us = fields.BigIntField()
    start_event_us = fields.BigIntField(null=True)
    start_event_id = fields.CharField(max_length=36, null=True)
    channel = fields.CharField(max_length=64, default="unknown")
    last_activity_us = fields.BigIntField()
    activity_event_us = fields.BigIntField(null=True)
    end_us = fields.BigIntField(null=True)
    end_event_id = fields.CharField(max_length=36, null=True)
    resolution = fields.CharField(max_length=16, null=True)
    messages = fields.IntField(default=0)
    user_messages = fields.IntField(default=0)
    bot_messages = fields.IntField(default=0)
    fallback_messages = fields.IntField(default=0)
    rating_score = fields.SmallIntField(null=True)
    rating_us = fields.BigIntField(null=True)
    rating_event_id = fields.CharField(max_length=36, null=True)
    tokens = fields.BigIntField(default=0)
    cost = fields.FloatField(default=0)
    reason = fields.CharField(max_length=100, null=True)
    """The `reason` of the end event that gave `resolution`."""
    recontacted = fields.SmallIntField(default=0, db_default=0)
    """1 when it has an end and another conversation of its user and bot started in `(end_us, end_us
    + 24 h]` (API.md section 9), else 0: kept exact by ingestion whatever order events arrive in."""

    class Meta:
        table = "conversations"
        # Covering indexes: the aggregate queries read only index pages.
        indexes = (
            Index(
                fields=(
                    "started_us",
                    "bot_id",
                    "user_id",
                    "end_us",
                    "last_activity_us",
                    "messages",
                    "resolution",
                    "channel",
                )
            ),
            Index(fields=("bot_id", "started_us")),
            Index(fields=("user_id", "started_us")),
            Index(fields=("rating_us", "bot_id", "user_id", "rating_score")),
            Index(fields=("last_activity_us", "bot_id", "end_us", "started_us", "user_id")),
        )


class Event(Model):
    """Every stored event: the primary key is the client's idempotency id."""

    id = fields.CharField(max_length=36, primary_key=True)
    type = fields.CharField(max_length=24)
    conversation_id = fields.IntField()
    bot_id = fields.IntField(null=True)
    user_id = fields.IntField(null=True)
    ts_us = fields.BigIntField()
    role = fields.CharField(max_length=4, null=True)
    fallback = fields.BooleanField(null=True)
    intent = fields.CharField(max_length=200, null=True)
    latency_ms = fields.BigIntField(null=True)
    tokens = fields.BigIntField(null=True)
    channel = fields.CharField(max_length=64, null=True)
    resolution = fields.CharField(max_length=16, null=True)
    score = fields.SmallIntField(null=True)
    comment = fields.TextField(null=True)
    received_us = fields.BigIntField()
    model = fields.CharField(max_length=100, null=True)
    cost = fields.FloatField(null=True)
    reason = fields.CharField(max_length=100, null=True)

    class Meta:
        table = "events"
        indexes = (
            Index(fields=("ts_us", "bot_id")),
            Index(fields=("user_id", "ts_us")),
        )


class MessageSlot(MessageCounts):
    """Messages per bot and 15-minute UTC slot (by message timestamp)."""

    slot = fields.IntField()

    class Meta:
        table = "message_slots"
        unique_together = (("slot", "bot_id"),)


class UserSlot(Model):
    """A user was active (started a conversation or sent a message) with a bot in a 15-minute slot.

    `prev_slot` is the same user's previous active slot with the same bot, so the distinct users of
    a slot range `[lo, hi)` are the rows in it with `prev_slot` NULL or below `lo` (each user's first
    row in the range): a plain indexed count instead of a DISTINCT over every row.
    """

    id = fields.IntField(primary_key=True)
    slot = fields.IntField()
    bot_id = fields.IntField()
    user_id = fields.IntField()
    prev_slot = fields.IntField(null=True)

    class Meta:
        table = "user_slots"
        unique_together = (("slot", "bot_id", "user_id"),)
        indexes = (Index(fields=("bot_id", "user_id", "slot")), Index(fields=("bot_id", "slot", "prev_slot")))


class UserSlotAll(Model):
    """Like `user_slots` across every bot: the chain that counts distinct users for unscoped callers."""

    id = fields.IntField(primary_key=True)
    slot = fields.IntField()
    user_id = fields.IntField()
    prev_slot = fields.IntField(null=True)

    class Meta:
        table = "user_slots_all"
        unique_together = (("slot", "user_id"),)
        indexes = (Index(fields=("user_id", "slot")), Index(fields=("slot", "prev_slot")))


CONV_SLOT_COLUMNS = (
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
"""The additive columns of `conv_slots`, in the order ingestion writes and queries read them."""
CONV_SLOT_SPEND = ("tokens", "cost")
"""The spend columns of `conv_slots` (all the messages of the conversations started in a slot)."""


class ConvSlot(Model):
    """Conversations per bot and 15-minute slot of `started_us`, with their folded totals.

    Ingestion moves a conversation's contribution when its start, end or counts change. `open_*`
    are conversations without an end event; the still-active ones among them (last activity within
    the session timeout) are subtracted at query time from the few recent rows.
    """

    id = fields.IntField(primary_key=True)
    slot = fields.IntField()
    bot_id = fields.IntField()
    conversations = fields.IntField(default=0)
    messages = fields.BigIntField(default=0)
    ended = fields.IntField(default=0)
    resolved = fields.IntField(default=0)
    escalated = fields.IntField(default=0)
    abandoned = fields.IntField(default=0)
    ended_duration_us = fields.BigIntField(default=0)
    open = fields.IntField(default=0)
    open_duration_us = fields.BigIntField(default=0)
    tokens = fields.BigIntField(default=0)
    cost = fields.FloatField(default=0)

    class Meta:
        table = "conv_slots"
        unique_together = (("slot", "bot_id"),)


DAY_US = DAY_SLOTS * SLOT_US
"""A UTC day: the granularity of `outcome_days`."""
RECONTACT_US = DAY_US
"""A resolution is checked 24 hours after it ended, for a new conversation of its user and bot within
those 24 hours (API.md section 9)."""


class OutcomeDay(Model):
    """Per UTC day of `started_us`, bot, channel and escalation `reason` ('' unless escalated with a
    reason): the conversations started by outcome (`open`: no end event yet), the resolved ones that
    were recontacted; and per UTC day of the kept rating, its conversation's bot and channel: the
    ratings, their score sum and the satisfied ones (score >= 4).

    Ingestion moves a conversation's contribution when its start, end, channel, rating or recontact
    flag changes. What depends on `now` (still-active sessions, resolutions ended less than 24 h
    ago) is subtracted at query time from the few rows concerned.
    """

    id = fields.IntField(primary_key=True)
    day = fields.IntField()
    bot_id = fields.IntField()
    channel = fields.CharField(max_length=64)
    reason = fields.CharField(max_length=100)
    conversations = fields.IntField(default=0)
    resolved = fields.IntField(default=0)
    escalated = fields.IntField(default=0)
    abandoned = fields.IntField(default=0)
    open = fields.IntField(default=0)
    recontacted = fields.IntField(default=0)
    ratings = fields.IntField(default=0)
    score_sum = fields.IntField(default=0)
    satisfied = fields.IntField(default=0)

    class Meta:
        table = "outcome_days"
        unique_together = (("day", "bot_id", "channel", "reason"),)


OUTCOME_COLUMNS = (
    "conversations", "resolved", "escalated", "abandoned", "open", "recontacted", "ratings", "score_sum",
    "satisfied",
)  # fmt: skip
"""The additive columns of `outcome_days`, in the order ingestion writes and queries read them."""


class ApiKey(Model):
    """An API key: only the SHA-256 of the key is stored."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    roles: fields.JSONField[list[str]] = fields.JSONField()
    bot_ids: fields.JSONField[list[str] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"


class Report(Model):
    """A report job and, once completed, its file under the reports directory."""

    id = fields.CharField(max_length=36, primary_key=True)
    status = fields.CharField(max_length=16, default=ReportStatus.PENDING.value)
    type = fields.CharField(max_length=16)
    format = fields.CharField(max_length=8)
    title = fields.CharField(max_length=200, null=True)
    parameters: fields.JSONField[dict[str, Any]] = fields.JSONField()
    bot_scope: fields.JSONField[list[str] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField()
    started_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    size_bytes = fields.BigIntField(null=True)
    error = fields.TextField(null=True)
    file_path = fields.CharField(max_length=500, null=True)
    claimed_by = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "reports"
        indexes = (Index(fields=("status", "created_at")), Index(fields=("created_at",)))
