"""`/health` answers from memory: the database is checked in the background (server/health.py),
so a slow database never makes /health wait, and an unreachable one makes it a 500."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

import server.health
from app.config import get_settings
from server.app import create_app
from server.health import DatabaseProbe


@pytest_asyncio.fixture(loop_scope="session")
async def served(db: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(get_settings(), manage_database=False)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c


def _probe(app: FastAPI) -> DatabaseProbe:
    probe: DatabaseProbe = app.state.database_probe
    return probe


async def test_health_does_not_wait_for_a_check_in_flight(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = served
    probe = _probe(app)
    probe._waiting_since = time.monotonic()  # a check stuck behind a long query, just now
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    probe._waiting_since = time.monotonic() - probe.stale - 1  # stuck for longer than STALE
    r = await client.get("/health")
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error" and "database" in r.json()["message"]
    probe._waiting_since = None


async def test_a_failed_check_makes_health_500_until_one_succeeds(
    served: tuple[FastAPI, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = served
    probe = _probe(app)

    class Down:
        async def execute_query(self, query: str) -> None:
            raise ConnectionError("database down")

    with monkeypatch.context() as m:
        m.setattr(server.health, "connection", lambda: Down())
        assert await probe.check() is False
        r = await client.get("/health")
        assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert await probe.check() is True
    assert (await client.get("/health")).status_code == 200
