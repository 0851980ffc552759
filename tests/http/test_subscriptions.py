"""The realtime subscription over graphql-transport-ws against a real server process.

The server (tests/live_server.py) uses a SQLite file, or with `ANALYTICS_TEST_DB=postgres` a fresh
PostgreSQL database of its own (an unreachable server fails these tests, as it fails the rest of the
suite).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.factories import token_for
from tests.live_server import live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(Path(tmp_path_factory.mktemp("ws"))) as running:
        yield f"ws://{running.address}/graphql"


async def _session(
    url: str, payload: dict[str, str] | None, headers: dict[str, str] | None = None
) -> tuple[int | None, dict[str, Any] | None]:
    async with websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], additional_headers=headers
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        try:
            ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None, None
        assert ack["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription { realtime(intervalSeconds: 1) { asOf windowMinutes activeSessions } }"
                    },
                }
            )
        )
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        second = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert second["type"] == "next", second
        return None, msg


async def test_missing_credentials_close_4401(server: str) -> None:
    code, _ = await _session(server, None)
    assert code == 4401


async def test_bad_token_closes_4401(server: str) -> None:
    code, _ = await _session(server, {"Authorization": "Bearer " + token_for(["admin"], iss="elsewhere")})
    assert code == 4401


async def test_missing_role_closes_4403(server: str) -> None:
    code, _ = await _session(server, {"Authorization": "Bearer " + token_for(["analytics_ingest"])})
    assert code == 4403


async def test_viewer_receives_realtime_pushes(server: str) -> None:
    code, msg = await _session(server, {"Authorization": "Bearer " + token_for(["analytics_viewer"])})
    assert code is None and msg is not None
    assert msg["type"] == "next"
    assert msg["payload"]["data"]["realtime"]["windowMinutes"] == 5
    assert msg["payload"]["data"]["realtime"]["activeSessions"] == 0


async def test_upgrade_header_credentials_are_accepted(server: str) -> None:
    headers = {"Authorization": "Bearer " + token_for(["analytics_viewer"])}
    code, msg = await _session(server, None, headers)
    assert code is None and msg is not None and msg["type"] == "next"


async def test_pushes_count_the_sessions_ingested_through_the_server(server: str) -> None:
    """Two conversations of one user, one minute old, posted to the same server: both pushes see them."""
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    t = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = []
    for _ in range(2):
        conv = str(uuid.uuid4())
        base = {"conversation_id": conv, "bot_id": bot, "user_id": user, "timestamp": t}
        events += [
            {"id": str(uuid.uuid4()), "type": "conversation_started", **base},
            {"id": str(uuid.uuid4()), "type": "message", "role": "user", **base},
        ]
    http = server.replace("ws://", "http://").removesuffix("/graphql")
    async with httpx.AsyncClient(base_url=http) as c:
        posted = await c.post(
            "/api/v1/analytics/events",
            json={"events": events},
            headers={"Authorization": "Bearer " + token_for(["analytics_ingest"])},
        )
    assert posted.status_code == 200, posted.text
    async with websockets.connect(server, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        auth = {"Authorization": "Bearer " + token_for(["analytics_viewer"])}
        await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        query = (
            "subscription($b: String) { realtime(intervalSeconds: 1, botId: $b)"
            " { windowMinutes activeSessions activeUsers conversationsStarted messagesPerMinute } }"
        )
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"b": bot}}})
        )
        for _ in range(2):
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert msg["type"] == "next", msg
            assert msg["payload"]["data"]["realtime"] == {
                "windowMinutes": 5,
                "activeSessions": 2,
                "activeUsers": 1,
                "conversationsStarted": 2,
                "messagesPerMinute": 2 / 5,
            }
