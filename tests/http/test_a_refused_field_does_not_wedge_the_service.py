"""A document with a permitted field and a refused non-null sibling: graphql-core cancels the
permitted one mid-flight. Every later query must still be answered (a cancellation that left a
connection's lock held made every later read on it wait forever)."""

from __future__ import annotations

import asyncio

import httpx

from tests.factories import bearer

VIEWER = bearer(["analytics_viewer"])


async def test_a_refused_sibling_field_leaves_the_service_answering(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        r = await client.post(
            "/graphql", json={"query": "{ usage { totalConversations } reports { total } }"}, headers=VIEWER
        )
        body = r.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        for path in ("/api/v1/analytics/usage", "/api/v1/analytics/engagement"):
            answer = await asyncio.wait_for(client.get(path, headers=VIEWER), 10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["active_users"] == 0
