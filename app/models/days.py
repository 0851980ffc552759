"""Day rollups (UTC days of 96 slots) beside the 15-minute ones: a range of whole days reads one row
per bot and day instead of 96 (docs/decisions.md, "`/usage` from day rollups").

`message_days` and `conv_days` are the sums of `message_slots` and `conv_slots` over a day.
`user_day_pairs` (per bot) and `user_day_pairs_all` (across bots) count the rows of the `prev_slot`
chains (`user_slots`, `user_slots_all`) by the day of the row and the day of its previous slot
(`prev_day` -1: none): the distinct users of whole days `[A, B)` are the rows with `A <= day < B`
and `prev_day < A`, a sum over a few rows per day instead of a count over every activity.
"""

from tortoise import fields
from tortoise.models import Model

from app.models.bands import DAY_SLOTS

__all__ = ["DAY_SLOTS", "ConvDay", "MessageCounts", "MessageDay", "UserDayPair", "UserDayPairAll"]


class MessageCounts(Model):
    """The columns `message_slots` and `message_days` share (a bot and its message counts)."""

    id = fields.IntField(primary_key=True)
    bot_id = fields.IntField()
    messages = fields.IntField(default=0)
    user_messages = fields.IntField(default=0)
    bot_messages = fields.IntField(default=0)
    fallback_messages = fields.IntField(default=0)

    class Meta:
        abstract = True


class MessageDay(MessageCounts):
    """`message_slots` summed per bot and UTC day."""

    day = fields.IntField()

    class Meta:
        table = "message_days"
        unique_together = (("day", "bot_id"),)


class ConvDay(Model):
    """`conv_slots` summed per bot and UTC day of the start (the integer columns, not the spend)."""

    id = fields.IntField(primary_key=True)
    day = fields.IntField()
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

    class Meta:
        table = "conv_days"
        unique_together = (("day", "bot_id"),)


class UserDayPair(Model):
    """Rows of `user_slots` per bot, day of the row and day of its `prev_slot` (-1: none)."""

    id = fields.IntField(primary_key=True)
    bot_id = fields.IntField()
    day = fields.IntField()
    prev_day = fields.IntField()
    users = fields.IntField(default=0)

    class Meta:
        table = "user_day_pairs"
        unique_together = (("bot_id", "day", "prev_day"),)


class UserDayPairAll(Model):
    """Rows of `user_slots_all` per day of the row and day of its `prev_slot` (-1: none)."""

    id = fields.IntField(primary_key=True)
    day = fields.IntField()
    prev_day = fields.IntField()
    users = fields.IntField(default=0)

    class Meta:
        table = "user_day_pairs_all"
        unique_together = (("day", "prev_day"),)
