from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# `/conversations/outcomes` from a rollup (docs/decisions.md, "Outcomes from a daily rollup"): each
# conversation's recontact flag, then `outcome_days` filled from the conversations stored before
# (a UTC day is 86,400,000,000 µs; the bulk loader of the benchmark runs these statements too).
_DAY = 86_400_000_000
_BACKFILL = [
    "UPDATE conversations SET recontacted = 1 WHERE end_us IS NOT NULL AND user_id IS NOT NULL "
    "AND bot_id IS NOT NULL AND EXISTS (SELECT 1 FROM conversations d WHERE d.user_id = conversations.user_id "
    "AND d.bot_id = conversations.bot_id AND d.id <> conversations.id AND d.started_us > conversations.end_us "
    f"AND d.started_us <= conversations.end_us + {_DAY})",
    "INSERT INTO outcome_days (day, bot_id, channel, reason, conversations, resolved, escalated, abandoned, open, "
    "recontacted, ratings, score_sum, satisfied) SELECT x.day, x.bot_id, x.channel, x.reason, SUM(x.n), "
    "SUM(x.resolved), SUM(x.escalated), SUM(x.abandoned), SUM(x.open), SUM(x.recontacted), SUM(x.ratings), "
    "SUM(x.score_sum), SUM(x.satisfied) FROM ("
    f"SELECT c.started_us / {_DAY} AS day, c.bot_id AS bot_id, c.channel AS channel, "
    "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'escalated' THEN COALESCE(c.reason, '') ELSE '' END "
    "AS reason, 1 AS n, "
    "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'resolved' THEN 1 ELSE 0 END AS resolved, "
    "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'escalated' THEN 1 ELSE 0 END AS escalated, "
    "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'abandoned' THEN 1 ELSE 0 END AS abandoned, "
    "CASE WHEN c.end_us IS NULL THEN 1 ELSE 0 END AS open, "
    "CASE WHEN c.end_us IS NOT NULL AND c.resolution = 'resolved' THEN c.recontacted ELSE 0 END AS recontacted, "
    "0 AS ratings, 0 AS score_sum, 0 AS satisfied FROM conversations c WHERE c.bot_id IS NOT NULL "
    f"UNION ALL SELECT c.rating_us / {_DAY}, c.bot_id, c.channel, '', 0, 0, 0, 0, 0, 0, 1, c.rating_score, "
    "CASE WHEN c.rating_score >= 4 THEN 1 ELSE 0 END FROM conversations c "
    "WHERE c.bot_id IS NOT NULL AND c.rating_us IS NOT NULL AND c.rating_score IS NOT NULL"
    ") x GROUP BY x.day, x.bot_id, x.channel, x.reason",
]
# The resolved conversations by end: those that ended less than 24 h before `now` are not checked yet
# (API.md section 9), and the route subtracts them from the rollup's counts through this index.
_INDEXES = [
    "CREATE INDEX idx_conversations_resolved_end ON conversations (end_us, started_us, bot_id, user_id, "
    "recontacted) WHERE resolution = 'resolved'",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0003_insights_speed')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Conversation',
            name='recontacted',
            field=fields.SmallIntField(default=0, db_default=0),
        ),
        ops.CreateModel(
            name='OutcomeDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.IntField()),
                ('bot_id', fields.IntField()),
                ('channel', fields.CharField(max_length=64)),
                ('reason', fields.CharField(max_length=100)),
                ('conversations', fields.IntField(default=0)),
                ('resolved', fields.IntField(default=0)),
                ('escalated', fields.IntField(default=0)),
                ('abandoned', fields.IntField(default=0)),
                ('open', fields.IntField(default=0)),
                ('recontacted', fields.IntField(default=0)),
                ('ratings', fields.IntField(default=0)),
                ('score_sum', fields.IntField(default=0)),
                ('satisfied', fields.IntField(default=0)),
            ],
            options={'table': 'outcome_days', 'app': 'models', 'unique_together': (('day', 'bot_id', 'channel', 'reason'),), 'pk_attr': 'id', 'table_description': 'Per UTC day of `started_us`, bot, channel and escalation `reason` (\'\' unless escalated with a'},
            bases=['Model'],
        ),
        *(ops.RunSQL(statement) for statement in _INDEXES),
        *(ops.RunSQL(statement) for statement in _BACKFILL),
    ]
