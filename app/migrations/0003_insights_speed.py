from tortoise import migrations
from tortoise.migrations import operations as ops

# A covering index for `/intents` (docs/decisions.md, "Insights speed"): the messages that carry an
# intent, by intent and time, with what the route reads of them (its distinct conversations per
# intent come from this index alone).
_INDEXES = [
    "CREATE INDEX idx_events_intent_ts ON events (intent, ts_us, conversation_id, bot_id, user_id, type) "
    "WHERE type = 'message' AND intent IS NOT NULL",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0002_insights')]

    initial = False

    operations = [*(ops.RunSQL(statement) for statement in _INDEXES)]
