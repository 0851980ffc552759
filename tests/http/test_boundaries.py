"""Boundaries a user notices: a session idle exactly the timeout is still active, one microsecond more
is abandoned (API.md 5 and 8); a body of exactly 1 MiB is accepted and one byte more is a 413 (API.md 8),
with and without a Content-Length, on `/events` and `/graphql`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.auth import Principal
from app.ingest import ingest_events
from tests.factories import bearer
from tests.http.analytics_calls import freeze_clock

ADMIN = bearer(["admin"])
MIB = 1024 * 1024
NOW = datetime(2025, 6, 10, 12, 0, 0, 500_000, tzinfo=UTC)
BOT = "b0000000-0000-4000-8000-000000000001"


async def test_a_session_idle_exactly_the_timeout_is_active_one_microsecond_more_is_not(
    client: httpx.AsyncClient, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_clock(monkeypatch, NOW)
    events = []
    users = []
    for idle in (timedelta(minutes=30), timedelta(minutes=30, microseconds=1)):
        users.append(str(uuid.uuid4()))
        base = {"conversation_id": str(uuid.uuid4()), "bot_id": BOT, "user_id": users[-1]}
        events.append(
            {
                "type": "conversation_started",
                "timestamp": (NOW - idle - timedelta(minutes=5)).isoformat(),
                **base,
            }
        )
        events.append({"type": "message", "role": "user", "timestamp": (NOW - idle).isoformat(), **base})
    await ingest_events(events, Principal("t", frozenset({"admin"})), now=NOW)
    params = {"window_minutes": "60"}
    rt = (await client.get("/api/v1/analytics/realtime", params=params, headers=ADMIN)).json()
    assert rt["as_of"] == "2025-06-10T12:00:00.500000Z"  # the frozen clock
    assert (rt["active_sessions"], rt["active_users"], rt["conversations_started"]) == (1, 1, 2)
    active = (await client.get("/api/v1/analytics/realtime/active", params=params, headers=ADMIN)).json()
    assert active["by_bot"] == [{"bot_id": BOT, "active_sessions": 1}]
    for range_params in (
        {"days": "1"},
        {"start_date": "2025-06-10T10:00:00Z", "end_date": "2025-06-10T12:00:00Z"},
    ):
        conv = (
            await client.get("/api/v1/analytics/conversations", params=range_params, headers=ADMIN)
        ).json()
        assert (conv["active"], conv["abandoned"], conv["total_conversations"]) == (1, 1, 2), range_params
        # The abandoned one ended at its last activity: 5 minutes after its start.
        assert conv["avg_duration_seconds"] == 300.0
    # Per user (the raw-conversation path, not the rollup): the exact one active, the other abandoned.
    for user, (active_n, abandoned_n) in zip(users, ((1, 0), (0, 1)), strict=True):
        conv = (
            await client.get(
                "/api/v1/analytics/conversations", params={"days": "1", "user_id": user}, headers=ADMIN
            )
        ).json()
        assert (conv["active"], conv["abandoned"]) == (active_n, abandoned_n), user
    gql = await client.post(
        "/graphql",
        json={
            "query": "{ realtime(windowMinutes: 60) { activeSessions } activeSessions(windowMinutes: 60) "
            "{ activeSessions } conversationMetrics(filter: {days: 1}) { active abandoned } }"
        },
        headers=ADMIN,
    )
    assert gql.json()["data"] == {
        "realtime": {"activeSessions": 1},
        "activeSessions": {"activeSessions": 1},
        "conversationMetrics": {"active": 1, "abandoned": 1},
    }


def _padded(payload: dict[str, object], size: int) -> bytes:
    """`payload` as JSON, padded with whitespace inside the object to exactly `size` bytes."""
    text = json.dumps(payload).encode()
    assert text.endswith(b"}") and len(text) < size
    return text[:-1] + b" " * (size - len(text)) + b"}"


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 65536):
        yield body[i : i + 65536]


def _event() -> dict[str, object]:
    return {
        "type": "conversation_started",
        "timestamp": "2025-01-01T00:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": BOT,
        "user_id": str(uuid.uuid4()),
    }


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/api/v1/analytics/events", "/graphql"])
async def test_a_body_of_exactly_one_mebibyte_is_accepted_one_byte_more_is_413(
    client: httpx.AsyncClient, path: str, content_length: bool
) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    if path == "/graphql":
        payload: dict[str, object] = {"query": "{ usage { totalConversations } }"}
    else:
        payload = {"events": [_event()]}
    for size, status in ((MIB, 200), (MIB + 1, 413)):
        body = _padded(payload, size)
        assert len(body) == size
        content: bytes | AsyncIterator[bytes] = body if content_length else _chunks(body)
        r = await client.post(path, content=content, headers=headers)
        assert r.status_code == status, (size, r.text[:300])
        if status == 413:
            assert r.json()["error"] == "payload_too_large"
        elif path == "/graphql":
            assert r.json() == {"data": {"usage": {"totalConversations": 0}}}
        else:
            assert r.json() == {"accepted": 1, "duplicates": 0}
        if isinstance(payload.get("events"), list):
            payload = {"events": [_event()]}  # a new id: the next one is not a duplicate
