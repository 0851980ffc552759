from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# `/intents` counts distinct conversations per intent from `intent_convs` and the first-seen counts
# of `intent_slots` (docs/decisions.md, "Distinct conversations per intent"), not from raw events:
# the partial covering index of 0003 on `events` is no longer read, and it cost ingestion.
_SLOT = 900000000
_SPAN = "CASE " + " ".join(f"WHEN x.d < {1 << k} THEN {k}" for k in range(39)) + " ELSE 39 END"
"""`app.models.span_class`: the bit length of a pair's span in whole 15-minute slots, capped at 39."""
_BACKFILL = [
    "INSERT INTO intent_convs (conversation_id, bot_id, intent, first_us, last_us, span_class) "
    f"SELECT x.cid, x.bot, x.intent, x.f, x.l, {_SPAN} FROM (SELECT e.conversation_id AS cid, "
    f"e.bot_id AS bot, e.intent AS intent, MIN(e.ts_us) AS f, MAX(e.ts_us) AS l, "
    f"(MAX(e.ts_us) - MIN(e.ts_us)) / {_SLOT} AS d FROM events e WHERE e.type = 'message' "
    "AND e.intent IS NOT NULL AND e.bot_id IS NOT NULL GROUP BY e.conversation_id, e.bot_id, e.intent) x",
    "UPDATE intent_slots SET conversations = s.n, resolved_conversations = s.r, escalated_conversations = s.x "
    f"FROM (SELECT p.first_us / {_SLOT} AS slot, p.bot_id AS bot_id, p.intent AS intent, COUNT(*) AS n, "
    "SUM(CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'resolved' THEN 1 ELSE 0 END) AS r, "
    "SUM(CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'escalated' THEN 1 ELSE 0 END) AS x "
    "FROM intent_convs p JOIN conversations c ON c.id = p.conversation_id "
    f"GROUP BY p.first_us / {_SLOT}, p.bot_id, p.intent) s WHERE intent_slots.slot = s.slot "
    "AND intent_slots.bot_id = s.bot_id AND intent_slots.intent = s.intent",
    "INSERT INTO intent_days (day, bot_id, intent, messages, user_messages, bot_messages, fallback_messages, "
    "conversations, resolved_conversations, escalated_conversations) SELECT slot / 96, bot_id, intent, "
    "SUM(messages), SUM(user_messages), SUM(bot_messages), SUM(fallback_messages), SUM(conversations), "
    "SUM(resolved_conversations), SUM(escalated_conversations) FROM intent_slots GROUP BY slot / 96, bot_id, intent",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0004_outcomes_speed')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IntentConv',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('conversation_id', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('intent', fields.CharField(max_length=200)),
                ('first_us', fields.BigIntField()),
                ('last_us', fields.BigIntField()),
                ('span_class', fields.SmallIntField()),
            ],
            options={'table': 'intent_convs', 'app': 'models', 'unique_together': (('conversation_id', 'bot_id', 'intent'),), 'indexes': [Index(fields=['span_class', 'first_us'])], 'pk_attr': 'id', 'table_description': 'One (conversation, bot, intent) pair per conversation with a message of that intent (as the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntentDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('intent', fields.CharField(max_length=200)),
                ('messages', fields.IntField(default=0)),
                ('user_messages', fields.IntField(default=0)),
                ('bot_messages', fields.IntField(default=0)),
                ('fallback_messages', fields.IntField(default=0)),
                ('conversations', fields.IntField(default=0, db_default=0)),
                ('resolved_conversations', fields.IntField(default=0, db_default=0)),
                ('escalated_conversations', fields.IntField(default=0, db_default=0)),
            ],
            options={'table': 'intent_days', 'app': 'models', 'unique_together': (('day', 'bot_id', 'intent'),), 'pk_attr': 'id', 'table_description': '`intent_slots` summed per UTC day (`slot // 96`): a month is ~30 rows per bot and intent.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='IntentSlot',
            name='conversations',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='IntentSlot',
            name='resolved_conversations',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='IntentSlot',
            name='escalated_conversations',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.RunSQL("DROP INDEX IF EXISTS idx_events_intent_ts"),
        *(ops.RunSQL(statement) for statement in _BACKFILL),
    ]
