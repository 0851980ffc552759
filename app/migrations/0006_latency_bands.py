from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

from app.models.bands import band_sql

# The per-UTC-day levels of the section 9 rollups (docs/decisions.md, "Latency bands"), filled from
# the slot rollups already stored (a day is 96 slots). bench/bulk_load.py runs the same statements.
BACKFILL = [
    "INSERT INTO model_days (day, bot_id, has_model, model, messages, bot_messages, tokens, cost, "
    "latency_count, latency_sum) SELECT slot / 96, bot_id, has_model, model, SUM(messages), "
    "SUM(bot_messages), SUM(tokens), SUM(cost), SUM(latency_count), SUM(latency_sum) FROM model_slots "
    "GROUP BY slot / 96, bot_id, has_model, model",
    "INSERT INTO latency_days (day, bot_id, latency_ms, has_model, model, messages) SELECT slot / 96, bot_id, "
    "latency_ms, has_model, model, SUM(messages) FROM latency_slots "
    "GROUP BY bot_id, slot / 96, latency_ms, has_model, model",
    # bot 0: every bot together
    "INSERT INTO latency_days (day, bot_id, latency_ms, has_model, model, messages) SELECT day, 0, latency_ms, "
    "has_model, model, SUM(messages) FROM latency_days GROUP BY day, latency_ms, has_model, model",
    "INSERT INTO latency_day_bands (day, bot_id, has_model, model, band, messages) SELECT day, bot_id, "
    f"has_model, model, {band_sql('latency_ms')}, SUM(messages) FROM latency_days GROUP BY bot_id, day, "
    f"has_model, model, {band_sql('latency_ms')}",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0005_intents_speed')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ModelDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
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
            options={'table': 'model_days', 'app': 'models', 'unique_together': (('day', 'bot_id', 'has_model', 'model'),), 'pk_attr': 'id', 'table_description': '`model_slots` summed per UTC day (`slot // 96`): what whole days of a range read.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LatencyDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('latency_ms', fields.BigIntField()),
                ('has_model', fields.SmallIntField()),
                ('model', fields.CharField(max_length=100)),
                ('messages', fields.IntField(default=0)),
            ],
            options={'table': 'latency_days', 'app': 'models', 'unique_together': (('bot_id', 'day', 'latency_ms', 'has_model', 'model'),), 'pk_attr': 'id', 'table_description': '`latency_slots` per UTC day and bot (`bot_id` 0: every bot together), keyed by value after them.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LatencyDayBand',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('has_model', fields.SmallIntField()),
                ('model', fields.CharField(max_length=100)),
                ('band', fields.SmallIntField()),
                ('messages', fields.IntField(default=0)),
            ],
            options={'table': 'latency_day_bands', 'app': 'models', 'unique_together': (('bot_id', 'day', 'has_model', 'model', 'band'),), 'pk_attr': 'id', 'table_description': 'Bot-message latencies per UTC day, bot (0: every bot) and model, counted per coarse band.'},
            bases=['Model'],
        ),
        *(ops.RunSQL(statement) for statement in BACKFILL),
    ]
