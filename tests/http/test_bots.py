"""`bots`: the bots a dashboard offers in its selector. A scoped credential sees only its own bots
(also one without data yet); an unscoped one every bot that has sent events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from app.auth import create_api_key
from tests.factories import bearer, conversation, ingest

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
QUERY = {"query": "{ bots }"}


async def test_a_scoped_credential_sees_only_its_bots(client: httpx.AsyncClient) -> None:
    a, b, c, quiet = (str(uuid.uuid4()) for _ in range(4))
    user = str(uuid.uuid4())
    await ingest(
        [ev for bot in (a, b, c) for ev in conversation(bot, user, NOW - timedelta(hours=1), 2)], NOW
    )
    every = await client.post("/graphql", json=QUERY, headers=bearer(["analytics_viewer"]))
    assert every.json() == {"data": {"bots": sorted([a, b, c])}}
    scoped = await client.post("/graphql", json=QUERY, headers=bearer(["analytics_viewer"], [b, quiet]))
    assert scoped.json() == {"data": {"bots": sorted([b, quiet])}}
    key, _row = await create_api_key("one bot", ["analytics_viewer"], [c])
    by_key = await client.post("/graphql", json=QUERY, headers={"X-API-Key": key})
    assert by_key.json() == {"data": {"bots": [c]}}


async def test_bots_needs_a_read_role(client: httpx.AsyncClient) -> None:
    r = await client.post("/graphql", json=QUERY, headers=bearer(["analytics_ingest"]))
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await client.post("/graphql", json=QUERY)
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
