"""The rollups of API.md section 9 (models, latencies, intents) per 15-minute slot and per UTC day,
and the (conversation, bot, intent) pairs that count distinct conversations per intent."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from app.models.bands import SLOT_US

__all__ = [
    "SPAN_CLASSES",
    "IntentConv",
    "IntentDay",
    "IntentSlot",
    "LatencyDay",
    "LatencyDayBand",
    "LatencySlot",
    "ModelDay",
    "ModelSlot",
    "span_class",
]


class _ModelCounts(Model):
    """The columns `model_slots` and `model_days` share (a bot, model and its counts)."""

    id = fields.IntField(primary_key=True)
    bot_id = fields.IntField()
    has_model = fields.SmallIntField()
    model = fields.CharField(max_length=100)
    messages = fields.IntField(default=0)
    bot_messages = fields.IntField(default=0)
    tokens = fields.BigIntField(default=0)
    cost = fields.FloatField(default=0)
    latency_count = fields.IntField(default=0)
    latency_sum = fields.BigIntField(default=0)

    class Meta:
        abstract = True


class ModelSlot(_ModelCounts):
    """Messages per bot, 15-minute slot and model (`has_model` 0 with model '' for none): counts,
    tokens and cost of every role; bot messages, and the count and sum of their latencies."""

    slot = fields.IntField()

    class Meta:
        table = "model_slots"
        unique_together = (("slot", "bot_id", "has_model", "model"),)


class LatencySlot(Model):
    """A histogram of bot-message latencies per bot, slot and model: exact percentiles over integers."""

    id = fields.IntField(primary_key=True)
    slot = fields.IntField()
    bot_id = fields.IntField()
    has_model = fields.SmallIntField()
    model = fields.CharField(max_length=100)
    latency_ms = fields.BigIntField()
    messages = fields.IntField(default=0)

    class Meta:
        table = "latency_slots"
        unique_together = (("slot", "bot_id", "has_model", "model", "latency_ms"),)


class ModelDay(_ModelCounts):
    """`model_slots` summed per UTC day (`slot // 96`): what whole days of a range read."""

    day = fields.IntField()

    class Meta:
        table = "model_days"
        unique_together = (("day", "bot_id", "has_model", "model"),)


class LatencyDay(Model):
    """`latency_slots` per UTC day and bot (`bot_id` 0: every bot together), keyed by value after
    them: the exact values of one band of a day are one index range (app/models/bands.py)."""

    id = fields.IntField(primary_key=True)
    day = fields.IntField()
    bot_id = fields.IntField()
    latency_ms = fields.BigIntField()
    has_model = fields.SmallIntField()
    model = fields.CharField(max_length=100)
    messages = fields.IntField(default=0)

    class Meta:
        table = "latency_days"
        unique_together = (("bot_id", "day", "latency_ms", "has_model", "model"),)


class LatencyDayBand(Model):
    """Bot-message latencies per UTC day, bot (0: every bot) and model, counted per coarse band."""

    id = fields.IntField(primary_key=True)
    day = fields.IntField()
    bot_id = fields.IntField()
    has_model = fields.SmallIntField()
    model = fields.CharField(max_length=100)
    band = fields.SmallIntField()
    messages = fields.IntField(default=0)

    class Meta:
        table = "latency_day_bands"
        unique_together = (("bot_id", "day", "has_model", "model", "band"),)


class _IntentCounts(Model):
    """Messages with an intent per bot and intent, by role, and bot messages with fallback; then the
    `intent_convs` pairs whose first message of the intent falls in the row's time, and those of
    them whose conversation ended resolved or escalated (moved when a conversation's end changes)."""

    id = fields.IntField(primary_key=True)
    bot_id = fields.IntField()
    intent = fields.CharField(max_length=200)
    messages = fields.IntField(default=0)
    user_messages = fields.IntField(default=0)
    bot_messages = fields.IntField(default=0)
    fallback_messages = fields.IntField(default=0)
    conversations = fields.IntField(default=0, db_default=0)
    resolved_conversations = fields.IntField(default=0, db_default=0)
    escalated_conversations = fields.IntField(default=0, db_default=0)

    class Meta:
        abstract = True


class IntentSlot(_IntentCounts):
    """Messages with an intent per bot, slot and intent, by role, and bot messages with fallback."""

    slot = fields.IntField()

    class Meta:
        table = "intent_slots"
        unique_together = (("slot", "bot_id", "intent"),)


class IntentDay(_IntentCounts):
    """`intent_slots` summed per UTC day (`slot // 96`): a month is ~30 rows per bot and intent."""

    day = fields.IntField()

    class Meta:
        table = "intent_days"
        unique_together = (("day", "bot_id", "intent"),)


SPAN_CLASSES = 40
"""`span_class` values are `0 .. SPAN_CLASSES - 1` (2^38 slots is far beyond any timestamp)."""


def span_class(first_us: int, last_us: int) -> int:
    """How long a pair spans, coarsely: the bit length of its span in whole slots (class k spans
    fewer than 2^k slots, so its first message is less than 2^k slots before any instant it covers)."""
    return min(((last_us - first_us) // SLOT_US).bit_length(), SPAN_CLASSES - 1)


class IntentConv(Model):
    """One (conversation, bot, intent) pair per conversation with a message of that intent (stored
    with a bot): its first and last such message and `span_class` (app/analytics/counters/intents.py)."""

    id = fields.IntField(primary_key=True)
    conversation_id = fields.IntField()
    bot_id = fields.IntField()
    intent = fields.CharField(max_length=200)
    first_us = fields.BigIntField()
    last_us = fields.BigIntField()
    span_class = fields.SmallIntField()

    class Meta:
        table = "intent_convs"
        unique_together = (("conversation_id", "bot_id", "intent"),)
        indexes = (Index(fields=("span_class", "first_us")),)
