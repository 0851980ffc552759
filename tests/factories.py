"""Helpers shared by the tests: credentials, principals, events, ingestion, tables and comparison.

Fixtures live in the conftest files; everything a test imports lives here (or, for the big pieces, in
`tests/dataset.py`, the randomized data set, and `tests/live_server.py`, a server process).
"""

from __future__ import annotations

import os
import random
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from graphql import GraphQLObjectType, get_named_type

from app.auth import Principal
from app.config import get_settings
from app.db import connection
from app.ingest import ingest_events

# --------------------------------------------------------------------------- credentials


def token_for(role_list: list[str], bot_ids: list[str] | None = None, **overrides: object) -> str:
    """A botserver-style JWT; `overrides` replace claims (None removes one)."""
    import jwt

    s = get_settings()
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": "test",
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "iat": now,
        # An hour: module-level tokens are made at collection, and a suite on a loaded machine
        # (both databases, shared cores) can run past ten minutes.
        "exp": now + timedelta(minutes=60),
        "roles": role_list,
    }
    if bot_ids is not None:
        claims["bot_ids"] = bot_ids
    secret = str(overrides.pop("_secret", s.jwt_secret))
    for k, v in overrides.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(role_list: list[str], bot_ids: list[str] | None = None, **overrides: object) -> dict[str, str]:
    return {"Authorization": "Bearer " + token_for(role_list, bot_ids, **overrides)}


# --------------------------------------------------------------------------- principals

ADMIN = Principal(subject="t", roles=frozenset({"admin"}))
"""An unscoped admin, for calling the core directly (ingestion, queries)."""


# --------------------------------------------------------------------------- ids and timestamps


def new_id(rng: random.Random | None = None) -> str:
    """A random UUID, reproducible when drawn from `rng`."""
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso(ts: datetime) -> str:
    """An aware datetime as ISO 8601 with a `Z`."""
    return ts.isoformat().replace("+00:00", "Z")


def stamp(dt: datetime, offset_minutes: int = 0) -> str:
    """An aware datetime as ISO 8601 at a UTC offset of `offset_minutes`."""
    return dt.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()


# --------------------------------------------------------------------------- events


def conversation(
    bot: str,
    user: str,
    start: datetime,
    n_messages: int,
    end: str | None = "resolved",
    score: int | None = None,
) -> list[dict[str, Any]]:
    """The events of one conversation: a start, `n_messages` messages 30 s apart (user first, every
    fourth a fallback), then optionally an end with resolution `end` and a rating `score`."""
    conv = str(uuid.uuid4())
    base = {"conversation_id": conv, "bot_id": bot, "user_id": user}
    evs: list[dict[str, Any]] = [
        {
            "id": str(uuid.uuid4()),
            "type": "conversation_started",
            "timestamp": iso(start),
            "channel": "whatsapp",
            **base,
        }
    ]
    for i in range(n_messages):
        evs.append(
            {
                "id": str(uuid.uuid4()),
                "type": "message",
                "role": "user" if i % 2 == 0 else "bot",
                "fallback": i % 4 == 3,
                "timestamp": iso(start + timedelta(seconds=30 * (i + 1))),
                **base,
            }
        )
    if end:
        evs.append(
            {
                "id": str(uuid.uuid4()),
                "type": "conversation_ended",
                "resolution": end,
                "timestamp": iso(start + timedelta(seconds=30 * (n_messages + 1))),
                "conversation_id": conv,
            }
        )
    if score:
        evs.append(
            {
                "id": str(uuid.uuid4()),
                "type": "satisfaction",
                "score": score,
                "timestamp": iso(start + timedelta(seconds=30 * (n_messages + 2))),
                **base,
            }
        )
    return evs


async def ingest(events: list[dict[str, Any]], now: datetime) -> None:
    """Store `events` as an admin, in batches of 1,000, with ingestion's clock at `now`."""
    for i in range(0, len(events), 1000):
        await ingest_events(events[i : i + 1000], ADMIN, now=now)


# --------------------------------------------------------------------------- tables

INGESTED_TABLES = (
    "events",
    "conversations",
    "message_slots",
    "user_slots",
    "user_slots_all",
    "conv_slots",
    "message_days",
    "conv_days",
    "user_day_pairs",
    "user_day_pairs_all",
    "model_slots",
    "latency_slots",
    "intent_slots",
    "intent_convs",
    "intent_days",
    "outcome_days",
    "model_days",
    "latency_days",
    "latency_day_bands",
    "bot_users",
    "end_users",
    "bots",
)
"""The tables ingestion writes."""


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Everything ingestion derives, without surrogate ids (they depend on arrival order)."""
    conn = connection()
    return {
        "conversations": await conn.execute_query_dict(
            "SELECT c.uuid, b.uuid AS bot, u.uuid AS usr, started_us, channel, last_activity_us, end_us, "
            "resolution, messages, user_messages, bot_messages, fallback_messages, rating_score, rating_us, "
            "tokens, reason, recontacted FROM conversations c JOIN bots b ON b.id = c.bot_id JOIN end_users u ON u.id = c.user_id "
            "ORDER BY c.uuid"
        ),
        "message_slots": await conn.execute_query_dict(
            "SELECT b.uuid, slot, messages, user_messages, bot_messages, fallback_messages FROM message_slots m "
            "JOIN bots b ON b.id = m.bot_id ORDER BY b.uuid, slot"
        ),
        "user_slots": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, u.uuid AS usr, slot, prev_slot FROM user_slots s JOIN bots b ON b.id = s.bot_id "
            "JOIN end_users u ON u.id = s.user_id ORDER BY b.uuid, u.uuid, slot"
        ),
        "user_slots_all": await conn.execute_query_dict(
            "SELECT u.uuid AS usr, slot, prev_slot FROM user_slots_all s "
            "JOIN end_users u ON u.id = s.user_id ORDER BY u.uuid, slot"
        ),
        "conv_slots": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, slot, conversations, messages, ended, resolved, escalated, abandoned, "
            "ended_duration_us, open, open_duration_us FROM conv_slots s JOIN bots b ON b.id = s.bot_id "
            "WHERE conversations <> 0 OR messages <> 0 ORDER BY b.uuid, slot"
        ),
        # Costs are float sums: their last bits depend on the order they were added in.
        "model_slots": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, slot, has_model, model, messages, bot_messages, tokens, latency_count, "
            "latency_sum FROM model_slots s JOIN bots b ON b.id = s.bot_id ORDER BY b.uuid, slot, has_model, model"
        ),
        "latency_slots": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, slot, has_model, model, latency_ms, messages FROM latency_slots s "
            "JOIN bots b ON b.id = s.bot_id ORDER BY b.uuid, slot, has_model, model, latency_ms"
        ),
        "model_days": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, day, has_model, model, messages, bot_messages, tokens, latency_count, "
            "latency_sum FROM model_days s JOIN bots b ON b.id = s.bot_id ORDER BY b.uuid, day, has_model, model"
        ),
        "latency_days": await conn.execute_query_dict(
            "SELECT day, COALESCE(b.uuid, '*') AS bot, latency_ms, has_model, model, messages FROM latency_days l "
            "LEFT JOIN bots b ON b.id = l.bot_id ORDER BY day, bot, latency_ms, has_model, model"
        ),
        "latency_day_bands": await conn.execute_query_dict(
            "SELECT day, COALESCE(b.uuid, '*') AS bot, has_model, model, band, messages FROM latency_day_bands l "
            "LEFT JOIN bots b ON b.id = l.bot_id ORDER BY day, bot, has_model, model, band"
        ),
        "intent_slots": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, slot, intent, messages, user_messages, bot_messages, fallback_messages, "
            "conversations, resolved_conversations, escalated_conversations "
            "FROM intent_slots s JOIN bots b ON b.id = s.bot_id ORDER BY b.uuid, slot, intent"
        ),
        "intent_days": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, day, intent, messages, user_messages, bot_messages, fallback_messages, "
            "conversations, resolved_conversations, escalated_conversations "
            "FROM intent_days s JOIN bots b ON b.id = s.bot_id ORDER BY b.uuid, day, intent"
        ),
        "intent_convs": await conn.execute_query_dict(
            "SELECT c.uuid AS conv, b.uuid AS bot, p.intent, p.first_us, p.last_us, p.span_class "
            "FROM intent_convs p JOIN conversations c ON c.id = p.conversation_id "
            "JOIN bots b ON b.id = p.bot_id ORDER BY c.uuid, b.uuid, p.intent"
        ),
        "outcome_days": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, day, channel, reason, conversations, resolved, escalated, abandoned, open, "
            "recontacted, ratings, score_sum, satisfied FROM outcome_days o JOIN bots b ON b.id = o.bot_id "
            "WHERE conversations <> 0 OR ratings <> 0 ORDER BY b.uuid, day, channel, reason"
        ),
        "users": await conn.execute_query_dict("SELECT uuid, first_active_us FROM end_users ORDER BY uuid"),
        "bot_users": await conn.execute_query_dict(
            "SELECT b.uuid AS bot, u.uuid AS usr, bu.first_active_us FROM bot_users bu "
            "JOIN bots b ON b.id = bu.bot_id JOIN end_users u ON u.id = bu.user_id ORDER BY b.uuid, u.uuid"
        ),
        "events": await conn.execute_query_dict("SELECT id, type, ts_us FROM events ORDER BY id"),
    }


async def clear_ingested() -> None:
    """Forget every event and everything derived from them (to ingest the same events again)."""
    for table in INGESTED_TABLES:
        await connection().execute_script(f"DELETE FROM {table}")


async def count(table: str) -> int:
    rows = await connection().execute_query_dict(f"SELECT COUNT(*) AS n FROM {table}")
    return int(rows[0]["n"])


# --------------------------------------------------------------------------- comparison


def assert_same(actual: Any, expected: Any, path: str = "$") -> None:
    """Equal JSON, with floats compared to 1e-9 relative; an int must stay an int, a float a float.

    Key order counts too (tests/http/analytics_calls.py has a variant that ignores it).
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        assert len(actual) == len(expected), f"{path}: {len(actual)} items != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert type(actual) is float, f"{path}: {actual!r} is not a float"
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), f"{path}: {actual} != {expected}"
    else:
        assert type(actual) is type(expected), f"{path}: {actual!r} ({type(actual)}) vs {expected!r}"
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# --------------------------------------------------------------------------- PostgreSQL databases


def postgres_admin_url() -> str:
    return os.environ.get("ANALYTICS_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


async def fresh_postgres_database() -> str:
    """Create an empty database on the test PostgreSQL server; return its URL."""
    import asyncpg

    admin = postgres_admin_url()
    name = f"ba_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    admin = postgres_admin_url()
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def graphql_selection(type_: Any) -> str:
    """Every leaf of a GraphQL output type, as a selection set (what a dashboard asking for all asks)."""
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType):
        return ""
    parts = []
    for name, f in named.fields.items():
        sub = graphql_selection(f.type)
        parts.append(name + (" { " + sub + " }" if sub else ""))
    return " ".join(parts)


def snake_keys(value: Any) -> Any:
    """A GraphQL answer with REST's keys: camelCase names turned into snake_case, recursively."""
    if isinstance(value, dict):
        return {_CAMEL.sub("_", k).lower(): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value
