from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# The day rollups of app/models/days.py, filled from the 15-minute rollups already stored (a UTC day
# is 96 slots; `prev_day` -1 for a chain row without a previous slot). bench/bulk_load.py runs these
# after its load too.
_BACKFILL = [
    "INSERT INTO message_days (day, bot_id, messages, user_messages, bot_messages, fallback_messages) "
    "SELECT slot / 96, bot_id, SUM(messages), SUM(user_messages), SUM(bot_messages), SUM(fallback_messages) "
    "FROM message_slots GROUP BY slot / 96, bot_id",
    "INSERT INTO conv_days (day, bot_id, conversations, messages, ended, resolved, escalated, abandoned, "
    "ended_duration_us, open, open_duration_us) SELECT slot / 96, bot_id, SUM(conversations), SUM(messages), "
    "SUM(ended), SUM(resolved), SUM(escalated), SUM(abandoned), SUM(ended_duration_us), SUM(open), "
    "SUM(open_duration_us) FROM conv_slots GROUP BY slot / 96, bot_id",
    "INSERT INTO user_day_pairs (bot_id, day, prev_day, users) SELECT bot_id, slot / 96, "
    "COALESCE(prev_slot / 96, -1), COUNT(*) FROM user_slots GROUP BY bot_id, slot / 96, COALESCE(prev_slot / 96, -1)",
    "INSERT INTO user_day_pairs_all (day, prev_day, users) SELECT slot / 96, COALESCE(prev_slot / 96, -1), "
    "COUNT(*) FROM user_slots_all GROUP BY slot / 96, COALESCE(prev_slot / 96, -1)",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0006_latency_bands')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConvDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('conversations', fields.IntField(default=0)),
                ('messages', fields.BigIntField(default=0)),
                ('ended', fields.IntField(default=0)),
                ('resolved', fields.IntField(default=0)),
                ('escalated', fields.IntField(default=0)),
                ('abandoned', fields.IntField(default=0)),
                ('ended_duration_us', fields.BigIntField(default=0)),
                ('open', fields.IntField(default=0)),
                ('open_duration_us', fields.BigIntField(default=0)),
            ],
            options={'table': 'conv_days', 'app': 'models', 'unique_together': (('day', 'bot_id'),), 'pk_attr': 'id', 'table_description': '`conv_slots` summed per bot and UTC day of the start (the integer columns, not the spend).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MessageDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('messages', fields.IntField(default=0)),
                ('user_messages', fields.IntField(default=0)),
                ('bot_messages', fields.IntField(default=0)),
                ('fallback_messages', fields.IntField(default=0)),
            ],
            options={'table': 'message_days', 'app': 'models', 'unique_together': (('day', 'bot_id'),), 'pk_attr': 'id', 'table_description': '`message_slots` summed per bot and UTC day.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UserDayPair',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bot_id', fields.IntField()),
                ('day', fields.IntField()),
                ('prev_day', fields.IntField()),
                ('users', fields.IntField(default=0)),
            ],
            options={'table': 'user_day_pairs', 'app': 'models', 'unique_together': (('bot_id', 'day', 'prev_day'),), 'pk_attr': 'id', 'table_description': 'Rows of `user_slots` per bot, day of the row and day of its `prev_slot` (-1: none).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UserDayPairAll',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('prev_day', fields.IntField()),
                ('users', fields.IntField(default=0)),
            ],
            options={'table': 'user_day_pairs_all', 'app': 'models', 'unique_together': (('day', 'prev_day'),), 'pk_attr': 'id', 'table_description': 'Rows of `user_slots_all` per day of the row and day of its `prev_slot` (-1: none).'},
            bases=['Model'],
        ),
        *(ops.RunSQL(statement) for statement in _BACKFILL),
    ]
