from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('prefix', fields.CharField(max_length=16)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('roles', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('bot_ids', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_keys', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An API key: only the SHA-256 of the key is stored.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Bot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('uuid', fields.CharField(unique=True, max_length=36)),
            ],
            options={'table': 'bots', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BotUser',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bot_id', fields.IntField()),
                ('user_id', fields.IntField()),
                ('first_active_us', fields.BigIntField()),
            ],
            options={'table': 'bot_users', 'app': 'models', 'unique_together': (('bot_id', 'user_id'),), 'indexes': [Index(fields=['bot_id', 'first_active_us']), Index(fields=['user_id'])], 'pk_attr': 'id', 'table_description': 'First activity of a user with one bot (for `new_users` under a bot filter or scope).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('uuid', fields.CharField(unique=True, max_length=36)),
                ('bot_id', fields.IntField(null=True)),
                ('user_id', fields.IntField(null=True)),
                ('started_us', fields.BigIntField()),
                ('start_event_us', fields.BigIntField(null=True)),
                ('start_event_id', fields.CharField(null=True, max_length=36)),
                ('channel', fields.CharField(default='unknown', max_length=64)),
                ('last_activity_us', fields.BigIntField()),
                ('activity_event_us', fields.BigIntField(null=True)),
                ('end_us', fields.BigIntField(null=True)),
                ('end_event_id', fields.CharField(null=True, max_length=36)),
                ('resolution', fields.CharField(null=True, max_length=16)),
                ('messages', fields.IntField(default=0)),
                ('user_messages', fields.IntField(default=0)),
                ('bot_messages', fields.IntField(default=0)),
                ('fallback_messages', fields.IntField(default=0)),
                ('rating_score', fields.SmallIntField(null=True)),
                ('rating_us', fields.BigIntField(null=True)),
                ('rating_event_id', fields.CharField(null=True, max_length=36)),
            ],
            options={'table': 'conversations', 'app': 'models', 'indexes': [Index(fields=['started_us', 'bot_id']), Index(fields=['bot_id', 'started_us']), Index(fields=['user_id', 'started_us']), Index(fields=['rating_us', 'bot_id']), Index(fields=['last_activity_us', 'bot_id'])], 'pk_attr': 'id', 'table_description': 'One conversation and the state folded from its events (see API.md section 5).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EndUser',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('uuid', fields.CharField(unique=True, max_length=36)),
                ('first_active_us', fields.BigIntField(null=True)),
            ],
            options={'table': 'end_users', 'app': 'models', 'indexes': [Index(fields=['first_active_us'])], 'pk_attr': 'id', 'table_description': 'An end user of the bots: `first_active_us` is its first activity across all bots.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=36)),
                ('type', fields.CharField(max_length=24)),
                ('conversation_id', fields.IntField()),
                ('bot_id', fields.IntField(null=True)),
                ('user_id', fields.IntField(null=True)),
                ('ts_us', fields.BigIntField()),
                ('role', fields.CharField(null=True, max_length=4)),
                ('fallback', fields.BooleanField(null=True)),
                ('intent', fields.CharField(null=True, max_length=200)),
                ('latency_ms', fields.BigIntField(null=True)),
                ('tokens', fields.BigIntField(null=True)),
                ('channel', fields.CharField(null=True, max_length=64)),
                ('resolution', fields.CharField(null=True, max_length=16)),
                ('score', fields.SmallIntField(null=True)),
                ('comment', fields.TextField(null=True, unique=False)),
                ('received_us', fields.BigIntField()),
            ],
            options={'table': 'events', 'app': 'models', 'indexes': [Index(fields=['ts_us', 'bot_id']), Index(fields=['user_id', 'ts_us']), Index(fields=['conversation_id'])], 'pk_attr': 'id', 'table_description': "Every stored event: the primary key is the client's idempotency id."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MessageSlot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bot_id', fields.IntField()),
                ('slot', fields.IntField()),
                ('messages', fields.IntField(default=0)),
                ('user_messages', fields.IntField(default=0)),
                ('bot_messages', fields.IntField(default=0)),
                ('fallback_messages', fields.IntField(default=0)),
            ],
            options={'table': 'message_slots', 'app': 'models', 'unique_together': (('slot', 'bot_id'),), 'pk_attr': 'id', 'table_description': 'Messages per bot and 15-minute UTC slot (by message timestamp).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Report',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=36)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('type', fields.CharField(max_length=16)),
                ('format', fields.CharField(max_length=8)),
                ('title', fields.CharField(null=True, max_length=200)),
                ('parameters', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('bot_scope', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('size_bytes', fields.BigIntField(null=True)),
                ('error', fields.TextField(null=True, unique=False)),
                ('file_path', fields.CharField(null=True, max_length=500)),
                ('claimed_by', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'reports', 'app': 'models', 'indexes': [Index(fields=['status', 'created_at']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'A report job and, once completed, its file under the reports directory.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UserSlot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slot', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('user_id', fields.IntField()),
            ],
            options={'table': 'user_slots', 'app': 'models', 'unique_together': (('slot', 'bot_id', 'user_id'),), 'pk_attr': 'id', 'table_description': 'A user was active (started a conversation or sent a message) with a bot in a 15-minute slot.'},
            bases=['Model'],
        ),
    ]
