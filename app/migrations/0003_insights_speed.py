from tortoise import migrations
from tortoise.migrations import operations as ops

# Covering indexes for the section 9 routes (docs/decisions.md, "Insights speed"):
# - the latency histogram read per slot range with its counts, without a visit to each table row;
# - the messages that carry an intent, by intent and time, with what `/intents` reads of them
#   (its distinct conversations per intent come from this index alone).
_INDEXES = [
    "CREATE INDEX idx_latency_slots_cover ON latency_slots "
    "(slot, bot_id, has_model, model, latency_ms, messages)",
    "CREATE INDEX idx_events_intent_ts ON events (intent, ts_us, conversation_id, bot_id, user_id, type) "
    "WHERE type = 'message' AND intent IS NOT NULL",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0002_insights')]

    initial = False

    operations = [*(ops.RunSQL(statement) for statement in _INDEXES)]
