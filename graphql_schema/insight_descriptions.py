# ruff: noqa: E501  (a table of prose: one description a line reads better than wrapped strings)
"""Descriptions of the section 9 types and fields (intents, performance, conversation outcomes, the
new event fields), in the words of API.md; merged into `descriptions.DESCRIPTIONS`."""

from __future__ import annotations

__all__ = ["INSIGHT_DESCRIPTIONS"]

_RANGE = "The resolved range `[start, end)` and time zone (API.md section 3)."
_FILTER = (
    "Range and filters (API.md section 3). With no range field the range is the last 30 days; "
    "mixing `days`, `period` and `startDate`/`endDate` is BAD_USER_INPUT."
)
_LATENCY = "the `latencyMs` of the bot messages in the range"
_PCT = (
    "(linear interpolation, as PostgreSQL `percentile_cont`); `null` when no bot message carries a latency."
)
_TOKENS = "A sum of integers (a `Float` here, as a year's sum can pass 2^31; an integer in REST)."

INSIGHT_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Query": {
        "intents": "Messages of the range by `intent`: their fallbacks and the outcomes of the conversations they were seen in (API.md section 9).",
        "intents(filter)": _FILTER,
        "intents(limit)": "How many intents `data` lists, 1 to 100 (default 20); anything else is BAD_USER_INPUT.",
        "performance": "Latency of the bot messages, tokens and cost of every message, per conversation, per model and over time (API.md section 9).",
        "performance(filter)": _FILTER,
        "conversationOutcomes": "Outcomes of the conversations started in the range: durable resolutions, escalation reasons, outcomes and ratings per channel (API.md section 9).",
        "conversationOutcomes(filter)": _FILTER,
    },
    "Intents": {
        "": "The messages of the range that carry an `intent`, per intent (API.md section 9, `intents`).",
        "range": _RANGE,
        "messagesWithIntent": "Messages (any role) in the range that carry an `intent`.",
        "messagesWithoutIntent": "Messages (any role) in the range without an `intent`.",
        "data": "One entry per intent, most `messages` first, ties by intent (code point order); at most `limit`.",
    },
    "IntentStats": {
        "": "One intent over the range.",
        "intent": "The intent as sent (an empty intent is a value like any other).",
        "messages": "Messages of this intent in the range, any role.",
        "userMessages": "Its user messages.",
        "botMessages": "Its bot messages.",
        "fallbackMessages": "Its bot messages with `fallback`.",
        "fallbackRate": "fallbackMessages / botMessages, 0 to 1; `null` with no bot messages.",
        "conversations": "Distinct conversations with a message of this intent in the range.",
        "resolutionRate": "Resolved / closed (resolved, escalated or abandoned, status at now) among those conversations; `null` when none is closed.",
        "escalationRate": "Escalated / closed among those conversations; `null` when none is closed.",
    },
    "Performance": {
        "": "Speed and spend over the range (API.md section 9, `performance`).",
        "range": _RANGE,
        "botMessages": "Bot messages in the range.",
        "latencyCount": "Bot messages in the range that carry a `latencyMs`.",
        "avgLatencyMs": f"Mean of {_LATENCY}; `null` when there are none.",
        "p50LatencyMs": f"Median of {_LATENCY} {_PCT}",
        "p95LatencyMs": f"95th percentile of {_LATENCY} {_PCT}",
        "p99LatencyMs": f"99th percentile of {_LATENCY} {_PCT}",
        "maxLatencyMs": f"Largest of {_LATENCY}; `null` when there are none.",
        "tokens": "Sum of `tokens` over the messages in the range, any role (0 when none). " + _TOKENS,
        "cost": "Sum of `cost` over the messages in the range, any role (0 when none).",
        "conversations": "Conversations started in the range.",
        "tokensPerConversation": "Tokens of all the messages of the conversations started in the range (wherever they fall) / those conversations; `null` when none.",
        "costPerConversation": "Cost of all the messages of the conversations started in the range (wherever they fall) / those conversations; `null` when none.",
        "resolvedConversations": "Conversations started in the range whose status at now is `resolved`.",
        "costPerResolvedConversation": "The same cost / resolvedConversations; `null` when none is resolved.",
        "byModel": "The messages in the range that name a `model`, per model, most `messages` first, ties by model.",
        "groupBy": "The bucket size of `data`.",
        "data": "Every bucket of the range in order, zero-filled (latency `null` in a bucket without any).",
    },
    "ModelPerformance": {
        "": "The messages of one model in the range.",
        "model": "The model as sent (an empty model is a value like any other).",
        "messages": "Messages naming this model, any role.",
        "tokens": "Their tokens. " + _TOKENS,
        "cost": "Their cost.",
        "latencyCount": "Its bot messages that carry a latency.",
        "avgLatencyMs": "Mean latency of its bot messages; `null` when none carries one.",
        "p95LatencyMs": f"95th percentile latency of its bot messages {_PCT}",
    },
    "PerformancePoint": {
        "": "One bucket of message timestamps; a bucket cut by the range counts only what falls inside it.",
        "bucketStart": "Start of the bucket: an RFC 3339 datetime with the offset of `timezone`.",
        "botMessages": "Bot messages in the bucket.",
        "p50LatencyMs": f"Median latency of the bucket's bot messages {_PCT}",
        "p95LatencyMs": f"95th percentile latency of the bucket's bot messages {_PCT}",
        "tokens": "Tokens of the bucket's messages, any role. " + _TOKENS,
        "cost": "Cost of the bucket's messages, any role.",
    },
    "ConversationOutcomes": {
        "": "Outcomes of the conversations started in the range (API.md section 9, `conversationOutcomes`).",
        "range": _RANGE,
        "closed": "resolved + escalated + abandoned (status at now).",
        "resolved": "Conversations started in the range whose status is `resolved`.",
        "escalated": "Conversations started in the range whose status is `escalated`.",
        "abandoned": "Conversations started in the range whose status is `abandoned` (also by timeout).",
        "checkedResolutions": "Resolved ones that ended at least 24 hours before now.",
        "recontacts": "Checked ones after whose end the same user started another conversation with the same bot within 24 hours (`(end, end + 24 h]`).",
        "durableResolutionRate": "(checkedResolutions - recontacts) / checkedResolutions; `null` when none is checked.",
        "escalationReasons": "The escalated ones by `reason`, most first, ties by reason.",
        "byChannel": "Per channel with conversations or ratings: most conversations first, then most ratings, ties by channel.",
    },
    "EscalationReason": {
        "": "Escalated conversations with one reason.",
        "reason": "The `reason` of the end event; `unspecified` when it has none (or an empty one).",
        "conversations": "Escalated conversations started in the range with this reason.",
    },
    "EventInput": {
        "model": "`MESSAGE`: the model or engine behind the message, at most 100 characters (optional).",
        "cost": "`MESSAGE`: what the message cost, a finite number from 0 to 1e9 in the deployment's currency (optional).",
        "reason": "`CONVERSATION_ENDED`: why, e.g. `user_request`, `low_confidence`, at most 100 characters (optional).",
    },
    "ChannelOutcomes": {
        "": "One channel: the conversations started in the range and the ratings in it.",
        "channel": "The conversation's channel (section 8's rule; `unknown` before a start event).",
        "conversations": "Conversations of this channel started in the range.",
        "resolved": "Of those, resolved.",
        "escalated": "Of those, escalated.",
        "abandoned": "Of those, abandoned.",
        "resolutionRate": "resolved / (resolved + escalated + abandoned); `null` when none is closed.",
        "ratings": "Kept scores whose timestamp is in the range, of conversations of this channel (started in the range or not).",
        "averageScore": "Mean of those scores, 1 to 5; `null` without ratings.",
        "csat": "Share of those scores that are 4 or 5; `null` without ratings.",
    },
}
