"""Counters: the numbers of API.md section 5 per bucket, aggregated in SQL on SQLite and PostgreSQL,
one module per table family. Each takes a connection, the buckets' µs bounds and a resolved `Filter`.

Where the numbers come from:
- messages (`messages.py`): `message_slots` for the whole 15-minute slots of a bucket, raw `events`
  for partial edges (under a user filter: raw `events` through the `(user_id, ts_us)` index, as
  slots have no user);
- active and new users (`users.py`): `user_slots` plus raw edges, `COUNT(DISTINCT user_id)` per
  bucket; new users from `end_users.first_active_us` for every bot, else the earliest
  `bot_users.first_active_us` over the covered bots; retention's returning users
  (`retention.py`) from the `prev_slot` chains of `user_slots`;
- conversations, durations, statuses, channels, ratings (`conversations.py`): the folded `conversations`
  rows (or the `conv_slots` rollup), with the status computed in SQL from `now` and the session
  timeout, both passed in.

Conversations whose bot is still unknown (only a `conversation_ended` event arrived) belong to no
bot, so they count nowhere, also for an unscoped caller: "every bot" is the union of the bots.
"""
