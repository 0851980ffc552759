from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Events stored before this migration carry tokens, latencies and intents: the new rollups and the
# conversations' token sums are filled from them (15-minute slots: 900,000,000 µs).
_BACKFILL = [
    "INSERT INTO model_slots (slot, bot_id, has_model, model, messages, bot_messages, tokens, cost, "
    "latency_count, latency_sum) SELECT e.ts_us / 900000000, e.bot_id, 0, '', COUNT(*), "
    "SUM(CASE WHEN e.role = 'user' THEN 0 ELSE 1 END), SUM(COALESCE(e.tokens, 0)), 0, "
    "SUM(CASE WHEN e.role <> 'user' AND e.latency_ms IS NOT NULL THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN e.role <> 'user' AND e.latency_ms IS NOT NULL THEN e.latency_ms ELSE 0 END) "
    "FROM events e WHERE e.type = 'message' AND e.bot_id IS NOT NULL GROUP BY e.ts_us / 900000000, e.bot_id",
    "INSERT INTO latency_slots (slot, bot_id, has_model, model, latency_ms, messages) "
    "SELECT e.ts_us / 900000000, e.bot_id, 0, '', e.latency_ms, COUNT(*) FROM events e "
    "WHERE e.type = 'message' AND e.role <> 'user' AND e.latency_ms IS NOT NULL AND e.bot_id IS NOT NULL "
    "GROUP BY e.ts_us / 900000000, e.bot_id, e.latency_ms",
    "INSERT INTO intent_slots (slot, bot_id, intent, messages, user_messages, bot_messages, "
    "fallback_messages) SELECT e.ts_us / 900000000, e.bot_id, e.intent, COUNT(*), "
    "SUM(CASE WHEN e.role = 'user' THEN 1 ELSE 0 END), SUM(CASE WHEN e.role = 'user' THEN 0 ELSE 1 END), "
    "SUM(CASE WHEN e.role <> 'user' AND e.fallback THEN 1 ELSE 0 END) FROM events e "
    "WHERE e.type = 'message' AND e.intent IS NOT NULL AND e.bot_id IS NOT NULL "
    "GROUP BY e.ts_us / 900000000, e.bot_id, e.intent",
    "UPDATE conversations SET tokens = s.tokens FROM (SELECT e.conversation_id AS cid, "
    "SUM(e.tokens) AS tokens FROM events e WHERE e.type = 'message' AND e.tokens IS NOT NULL "
    "GROUP BY e.conversation_id) s WHERE conversations.id = s.cid",
    "UPDATE conv_slots SET tokens = s.tokens FROM (SELECT c.started_us / 900000000 AS slot, "
    "c.bot_id AS bot_id, SUM(c.tokens) AS tokens FROM conversations c WHERE c.bot_id IS NOT NULL "
    "GROUP BY c.started_us / 900000000, c.bot_id) s WHERE conv_slots.slot = s.slot "
    "AND conv_slots.bot_id = s.bot_id",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IntentSlot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slot', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('intent', fields.CharField(max_length=200)),
                ('messages', fields.IntField(default=0)),
                ('user_messages', fields.IntField(default=0)),
                ('bot_messages', fields.IntField(default=0)),
                ('fallback_messages', fields.IntField(default=0)),
            ],
            options={'table': 'intent_slots', 'app': 'models', 'unique_together': (('slot', 'bot_id', 'intent'),), 'pk_attr': 'id', 'table_description': 'Messages with an intent per bot, slot and intent, by role, and bot messages with fallback.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LatencySlot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slot', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('has_model', fields.SmallIntField()),
                ('model', fields.CharField(max_length=100)),
                ('latency_ms', fields.BigIntField()),
                ('messages', fields.IntField(default=0)),
            ],
            options={'table': 'latency_slots', 'app': 'models', 'unique_together': (('slot', 'bot_id', 'has_model', 'model', 'latency_ms'),), 'pk_attr': 'id', 'table_description': 'A histogram of bot-message latencies per bot, slot and model: exact percentiles over integers.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ModelSlot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slot', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('has_model', fields.SmallIntField()),
                ('model', fields.CharField(max_length=100)),
                ('messages', fields.IntField(default=0)),
                ('bot_messages', fields.IntField(default=0)),
                ('tokens', fields.BigIntField(default=0)),
                ('cost', fields.FloatField(default=0)),
                ('latency_count', fields.IntField(default=0)),
                ('latency_sum', fields.BigIntField(default=0)),
            ],
            options={'table': 'model_slots', 'app': 'models', 'unique_together': (('slot', 'bot_id', 'has_model', 'model'),), 'pk_attr': 'id', 'table_description': "Messages per bot, 15-minute slot and model (`has_model` 0 with model '' for none): counts,"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ConvSlot',
            name='cost',
            field=fields.FloatField(default=0),
        ),
        ops.AddField(
            model_name='ConvSlot',
            name='tokens',
            field=fields.BigIntField(default=0),
        ),
        ops.AddField(
            model_name='Conversation',
            name='cost',
            field=fields.FloatField(default=0),
        ),
        ops.AddField(
            model_name='Conversation',
            name='reason',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='Conversation',
            name='tokens',
            field=fields.BigIntField(default=0),
        ),
        ops.AddField(
            model_name='Event',
            name='cost',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Event',
            name='model',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='Event',
            name='reason',
            field=fields.CharField(null=True, max_length=100),
        ),
        *(ops.RunSQL(statement) for statement in _BACKFILL),
    ]
