# ruff: noqa: E501  (a table of prose: one description a line reads better than wrapped strings)
"""Texts several GraphQL description tables share (graphql_schema/descriptions.py and
report_descriptions.py)."""

from __future__ import annotations

RANGE = "The resolved range `[start, end)` and time zone (API.md section 3)."
FILTER = (
    "Range and filters (API.md section 3). With no range field the range is the last 30 days; "
    "mixing `days`, `period` and `startDate`/`endDate` is BAD_USER_INPUT."
)
BUCKET_START = "Start of the bucket: an RFC 3339 datetime with the offset of `timezone`."
NULL_AVG = "`null` when there is nothing to average."
RATE = (
    "A fraction from 0 to 1 over resolved + escalated + abandoned conversations; `null` when there are none."
)
CONVERSATIONS_IN_RANGE = "Conversations whose `started_at` is in the range."
MESSAGES_IN_RANGE = "Messages (user and bot) whose timestamp is in the range."
ACTIVE_USERS = (
    "Users with a `conversation_started` event or an own (`role: user`) message in the range; "
    "bot messages alone do not make a user active."
)
NEW_USERS = (
    "Active users whose first such event ever (within the bot filter and the caller's scope) is in the range."
)
WINDOW_MINUTES = "The window in minutes, 1 to 60 (default 5); the window is `(now - window, now]`."
BOT_ID = "Only this bot (UUID)."
TIMEZONE = "IANA time zone name (default `UTC`) in which days, weeks, months and hours are cut."
AS_OF = "When the answer was computed (`now`), RFC 3339 with the offset of `timezone`."
ACTIVE_SESSIONS = "Conversations with status `active` whose `last_activity_at` is in the window."

CONVERSATION_TOTALS: dict[str, str] = {
    "range": RANGE,
    "totalConversations": CONVERSATIONS_IN_RANGE,
    "active": "Conversations started in the range and still active: no end event, last activity within the session timeout.",
    "resolved": "Conversations started in the range whose `conversation_ended` event says `resolved`.",
    "escalated": "Conversations started in the range whose `conversation_ended` event says `escalated`.",
    "abandoned": (
        "Conversations started in the range that ended `abandoned`, or with no end event and no "
        "activity for longer than the session timeout (default 30 minutes)."
    ),
    "resolutionRate": "resolved / (resolved + escalated + abandoned). " + RATE,
    "escalationRate": "escalated / (resolved + escalated + abandoned). " + RATE,
    "abandonmentRate": "abandoned / (resolved + escalated + abandoned). " + RATE,
    "avgDurationSeconds": "Mean duration in seconds (end minus `started_at`) of the closed conversations started in the range; "
    + NULL_AVG,
    "avgMessagesPerConversation": "Messages of the conversations started in the range / those conversations; "
    + NULL_AVG,
    "fallbackRate": "Bot messages with `fallback` / bot messages in the range, 0 to 1; `null` with no bot messages.",
    "byChannel": "Conversations started in the range, per channel.",
}

FILTER_FIELDS: dict[str, str] = {
    "startDate": "Start of the range (inclusive): a date `YYYY-MM-DD` or an RFC 3339 datetime (read in `timezone` without an offset).",
    "endDate": "End of the range: a date includes that whole day; a datetime is exclusive.",
    "days": "The last N calendar days, today included; 1 to 3660.",
    "period": "The current calendar day, ISO week, month or year, up to the end of today.",
    "groupBy": "Bucket size of time series (default `DAY`; retention: `WEEK`).",
    "botId": BOT_ID,
    "timezone": TIMEZONE,
}
