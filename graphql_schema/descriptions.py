# ruff: noqa: E501  (a table of prose: one description a line reads better than wrapped strings)
"""Descriptions of every type, field, argument and enum value, in the words of API.md (sections 3
to 7): what is counted, in which range, what `null` means.

Kept here, by GraphQL name, and applied to the built schema (`describe(schema)` in schema.py), so
the answer types stay the core's frozen dataclasses and the per-area modules stay as they are; a
description written next to a definition (a docstring, `description=`) wins over this table.
`describe` fails on a name the schema does not have, and tests/test_schema_descriptions.py fails on
anything left without a description, so the table cannot drift from the schema unnoticed.
"""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
)
from graphql import GraphQLSchema as CoreSchema

from graphql_schema.comparison_descriptions import describe_comparisons
from graphql_schema.description_texts import (
    ACTIVE_SESSIONS,
    ACTIVE_USERS,
    AS_OF,
    BOT_ID,
    BUCKET_START,
    CONVERSATION_TOTALS,
    CONVERSATIONS_IN_RANGE,
    FILTER,
    FILTER_FIELDS,
    MESSAGES_IN_RANGE,
    NEW_USERS,
    NULL_AVG,
    RANGE,
    WINDOW_MINUTES,
)
from graphql_schema.insight_descriptions import INSIGHT_DESCRIPTIONS
from graphql_schema.report_descriptions import REPORT_DESCRIPTIONS

__all__ = ["DESCRIPTIONS", "describe"]

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Query": {
        "": "Analytics reads (API.md section 6) and reports (section 7).",
        "usage": "Totals of conversations, messages and users in the range.",
        "usage(filter)": FILTER,
        "dailyUsage": "Per calendar day of the range (in `timezone`), zero-filled.",
        "dailyUsage(filter)": FILTER,
        "monthlyUsage": "Per calendar month; with no range, the current month and the 11 before it.",
        "monthlyUsage(filter)": FILTER,
        "conversationMetrics": "Conversation statuses, rates, durations and channels for conversations started in the range.",
        "conversationMetrics(filter)": FILTER,
        "conversationVolume": "Conversations and messages per bucket of the range, zero-filled.",
        "conversationVolume(filter)": FILTER,
        "conversationDuration": "Durations of the closed conversations started in the range.",
        "conversationDuration(filter)": FILTER,
        "conversationResolution": "The totals and rates of `conversationMetrics`, plus outcomes per bucket.",
        "conversationResolution(filter)": FILTER,
        "engagement": "Active, new and returning users and how often they come back.",
        "engagement(filter)": FILTER,
        "retention": "Cohorts of new users per bucket and how many were active in each later bucket (`HOUR` is BAD_USER_INPUT).",
        "retention(filter)": FILTER + " `groupBy` defaults to `WEEK`.",
        "satisfaction": "Satisfaction scores whose (latest per conversation) timestamp is in the range.",
        "satisfaction(filter)": FILTER,
        "realtime": "Activity in the last `windowMinutes` minutes.",
        "realtime(windowMinutes)": WINDOW_MINUTES,
        "realtime(botId)": BOT_ID,
        "realtime(timezone)": "IANA time zone name (default `UTC`) of the `asOf` offset.",
        "activeSessions": "Active sessions in the window, per bot.",
        "activeSessions(windowMinutes)": WINDOW_MINUTES,
        "activeSessions(botId)": BOT_ID,
        "activeSessions(timezone)": "IANA time zone name (default `UTC`) of the `asOf` offset.",
        "report(id)": "The report's id (UUID); an unknown id is NOT_FOUND.",
        "reports(limit)": "At most this many reports, 1 to 100 (default 20).",
        "reports(offset)": "Skip this many reports (default 0).",
        "reports(status)": "Only reports with this status.",
        "reports(type)": "Only reports of this type.",
    },
    "Mutation": {
        "": "Event ingestion (API.md section 4) and reports (section 7).",
        "trackEvents(events)": "1 to 1,000 events; the batch is atomic: one invalid event stores nothing.",
        "createReport(input)": "What to report on, in which format, over which range.",
        "deleteReport(id)": "The report's id (UUID); an unknown id is NOT_FOUND.",
    },
    "Subscription": {
        "": "Realtime pushes over WebSocket (graphql-transport-ws at /graphql).",
        "realtime": "Pushes the realtime answer every `intervalSeconds`.",
        "realtime(intervalSeconds)": "Seconds between pushes, 1 to 3600 (default 5).",
        "realtime(windowMinutes)": WINDOW_MINUTES,
        "realtime(botId)": BOT_ID,
        "realtime(timezone)": "IANA time zone name (default `UTC`) of the `asOf` offset.",
    },
    "AnalyticsFilter": {
        "": "",
        **FILTER_FIELDS,
        "userId": "Only this end user (UUID).",
        "compare": (
            "Compare with the previous period or the same period a year earlier: the fields whose "
            "answer has `comparison` and `change` fill them; the other fields accept and ignore it "
            "(API.md section 9)."
        ),
    },
    "Compare": {
        "": "The range an answer is compared with (API.md section 9).",
        "PREVIOUS_PERIOD": (
            "As many local calendar days just before the start when both bounds are local midnights, "
            "else the range's length just before it; equal elapsed time when the range ends after now."
        ),
        "PREVIOUS_YEAR": (
            "The same wall-clock bounds one year earlier (29 February becomes 28 February); equal "
            "elapsed time when the range ends after now."
        ),
    },
    "RangeEcho": {
        "": RANGE,
        "start": "Start of the range (inclusive), RFC 3339 with the offset of `timezone`.",
        "end": "End of the range (exclusive), RFC 3339 with the offset of `timezone`.",
        "timezone": "The IANA time zone the range was cut in.",
    },
    "Period": {
        "": "A calendar period up to the end of today, in `timezone`.",
        "TODAY": "The current calendar day.",
        "WEEK": "The current ISO week, from Monday.",
        "MONTH": "The current calendar month.",
        "YEAR": "The current calendar year.",
    },
    "GroupBy": {
        "": "Bucket size of a time series; buckets are cut in `timezone`.",
        "HOUR": "One bucket per hour.",
        "DAY": "One bucket per calendar day.",
        "WEEK": "One bucket per ISO week, from Monday.",
        "MONTH": "One bucket per calendar month.",
    },
    "UsageStats": {
        "": "Usage totals over the range (API.md section 6, `usage`).",
        "range": RANGE,
        "totalConversations": CONVERSATIONS_IN_RANGE,
        "totalMessages": MESSAGES_IN_RANGE,
        "userMessages": "Messages with `role: user` whose timestamp is in the range.",
        "botMessages": "Messages with `role: bot` whose timestamp is in the range.",
        "activeUsers": ACTIVE_USERS,
        "newUsers": NEW_USERS,
        "avgMessagesPerConversation": "Messages of the conversations started in the range / those conversations; "
        + NULL_AVG,
        "avgConversationDurationSeconds": "Mean duration in seconds of the closed conversations started in the range; "
        + NULL_AVG,
    },
    "DailyUsage": {
        "": "Usage per calendar day of the range.",
        "range": RANGE,
        "data": "Every day of the range in order, zero-filled.",
    },
    "DailyUsagePoint": {
        "": "One day's usage; a day cut by the range counts only what falls inside it.",
        "date": "The day, `YYYY-MM-DD` in `timezone`.",
        "conversations": "Conversations started that day.",
        "messages": "Messages that day.",
        "activeUsers": "Users active that day (own messages or conversation starts).",
        "newUsers": "Users whose first activity ever was that day.",
    },
    "MonthlyUsage": {
        "": "Usage per calendar month of the range.",
        "range": RANGE,
        "data": "Every month of the range in order, zero-filled.",
    },
    "MonthlyUsagePoint": {
        "": "One month's usage; a month cut by the range counts only what falls inside it.",
        "month": "The month, `YYYY-MM` in `timezone`.",
        "conversations": "Conversations started that month.",
        "messages": "Messages that month.",
        "activeUsers": "Users active that month (own messages or conversation starts).",
        "newUsers": "Users whose first activity ever was that month.",
    },
    "ConversationMetrics": {
        "": "Conversation outcomes over the range (API.md section 6, `conversationMetrics`).",
        **CONVERSATION_TOTALS,
    },
    "ChannelCount": {
        "": "Conversations of one channel.",
        "channel": "The channel of the conversation's `conversation_started` event (default `web`).",
        "conversations": "Conversations of this channel started in the range.",
    },
    "ConversationVolume": {
        "": "Conversations and messages per bucket of the range.",
        "range": RANGE,
        "groupBy": "The bucket size used.",
        "data": "Every bucket of the range in order, zero-filled.",
    },
    "VolumePoint": {
        "": "One bucket's volume; a bucket cut by the range counts only what falls inside it.",
        "bucketStart": BUCKET_START,
        "conversations": "Conversations started in the bucket.",
        "messages": "Messages in the bucket.",
    },
    "ConversationDuration": {
        "": "Durations (end minus `started_at`, seconds) of the closed conversations started in the range.",
        "range": RANGE,
        "count": "Closed conversations started in the range.",
        "avgSeconds": "Mean duration; " + NULL_AVG,
        "medianSeconds": "Median duration (linear interpolation, as PostgreSQL `percentile_cont`); `null` with no closed conversation.",
        "p90Seconds": "90th percentile (linear interpolation, as PostgreSQL `percentile_cont`); `null` with no closed conversation.",
        "minSeconds": "Shortest duration; `null` with no closed conversation.",
        "maxSeconds": "Longest duration; `null` with no closed conversation.",
        "distribution": "Counts over the bins with edges 0, 60, 300, 900, 1800, 3600 and an open-ended last bin.",
    },
    "DurationBin": {
        "": "Closed conversations with a duration in `[minSeconds, maxSeconds)`.",
        "minSeconds": "Lower edge (inclusive), seconds.",
        "maxSeconds": "Upper edge (exclusive), seconds; `null` for the open-ended last bin.",
        "count": "Closed conversations in this bin.",
    },
    "ConversationResolution": {
        "": "The totals and rates of `conversationMetrics`, plus outcomes per bucket.",
        **CONVERSATION_TOTALS,
        "data": "Every bucket of the range in order, zero-filled.",
    },
    "ResolutionPoint": {
        "": "Outcomes of the conversations started in one bucket.",
        "bucketStart": BUCKET_START,
        "resolved": "Conversations started in the bucket that ended `resolved`.",
        "escalated": "Conversations started in the bucket that ended `escalated`.",
        "abandoned": "Conversations started in the bucket that ended or timed out `abandoned`.",
        "resolutionRate": "resolved / (resolved + escalated + abandoned) in the bucket, 0 to 1; `null` when none closed.",
    },
    "Engagement": {
        "": "How many users come and come back over the range.",
        "range": RANGE,
        "activeUsers": ACTIVE_USERS,
        "newUsers": NEW_USERS,
        "returningUsers": "Active users that are not new.",
        "avgDailyActiveUsers": "Mean over the range's days (a cut day counts as a day) of each day's active users; 0 with no users.",
        "stickiness": "avgDailyActiveUsers / activeUsers, 0 to 1; `null` with no active users.",
        "conversationsPerUser": "Conversations started in the range / active users; `null` with no active users.",
        "messagesPerUser": "User messages in the range / active users; `null` with no active users.",
    },
    "Retention": {
        "": "Cohorts of users new in each bucket of the range, and their activity in later buckets.",
        "range": RANGE,
        "groupBy": "The bucket size used (default `WEEK`; `HOUR` is refused).",
        "cohorts": "Every bucket of the range as a cohort, in order, also with `size` 0.",
    },
    "Cohort": {
        "": "The users new in one bucket.",
        "cohortStart": BUCKET_START,
        "size": "Users new in this bucket.",
        "retention": "One entry per bucket from the cohort's own to the last of the range.",
    },
    "RetentionPeriod": {
        "": "How many of a cohort were active in one bucket.",
        "period": "Buckets after the cohort's own (0 is the cohort's bucket).",
        "users": "Cohort users active in this bucket.",
        "rate": "users / cohort size, 0 to 1 (1.0 at period 0); `null` when the cohort is empty.",
    },
    "Satisfaction": {
        "": "Satisfaction scores: each conversation's latest score, counted where its timestamp falls in the range.",
        "range": RANGE,
        "responses": "Scores counted in the range.",
        "averageScore": "Mean score, 1 to 5; `null` with no responses.",
        "csat": "Share of scores 4 or 5, 0 to 1; `null` with no responses.",
        "distribution": "All five scores, 1 to 5, with their counts.",
        "data": "Every bucket of the range in order, zero-filled.",
    },
    "ScoreCount": {
        "": "How many counted scores have one value.",
        "score": "The score, 1 to 5.",
        "count": "Scores with this value in the range.",
    },
    "SatisfactionPoint": {
        "": "Scores counted in one bucket.",
        "bucketStart": BUCKET_START,
        "responses": "Scores counted in the bucket.",
        "averageScore": "Mean score in the bucket, 1 to 5; `null` with no responses.",
    },
    "Realtime": {
        "": "Activity in the window `(now - windowMinutes, now]`; events stamped after `now` are not in it.",
        "asOf": AS_OF,
        "windowMinutes": "The window in minutes, 1 to 60.",
        "activeSessions": ACTIVE_SESSIONS,
        "activeUsers": "Users with a conversation start or an own message in the window.",
        "messagesPerMinute": "Messages in the window / its minutes.",
        "conversationsStarted": "Conversations whose `started_at` is in the window.",
    },
    "ActiveSessions": {
        "": "Active sessions in the window, in total and per bot.",
        "asOf": AS_OF,
        "windowMinutes": "The window in minutes, 1 to 60.",
        "activeSessions": ACTIVE_SESSIONS,
        "byBot": "Active sessions per bot that has any.",
    },
    "BotSessions": {
        "": "Active sessions of one bot.",
        "botId": "The bot (UUID).",
        "activeSessions": "Its conversations with status `active` whose `last_activity_at` is in the window.",
    },
}


for _type_name, _entries in (*INSIGHT_DESCRIPTIONS.items(), *REPORT_DESCRIPTIONS.items()):
    DESCRIPTIONS.setdefault(_type_name, {}).update(_entries)


def describe(schema: CoreSchema) -> None:
    """Set the table's descriptions on the schema where its definitions give none. A key `""` is the
    type itself, `field` a field or input field or enum value, `field(arg)` an argument."""
    for type_name, entries in DESCRIPTIONS.items():
        graphql_type = schema.type_map[type_name]  # KeyError: a name the schema does not have
        for key, text in entries.items():
            if not text:
                continue
            if key == "":
                target: object = graphql_type
            elif isinstance(graphql_type, GraphQLEnumType):
                target = graphql_type.values[key]
            elif "(" in key:
                field, arg = key.rstrip(")").split("(")
                assert isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType)
                target = graphql_type.fields[field].args[arg]
            else:
                assert isinstance(
                    graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
                )
                target = graphql_type.fields[key]
            if not getattr(target, "description", None):
                target.description = text  # type: ignore[attr-defined]
    describe_comparisons(schema)
