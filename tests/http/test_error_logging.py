"""An internal error is logged exactly once, under the request id its 500 names."""

from __future__ import annotations

import logging
import uuid
from typing import NoReturn

import httpx
import pytest

from tests.factories import bearer


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
def failing_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from app.analytics import catalog

    async def boom(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(catalog, "USAGE", dataclasses.replace(catalog.USAGE, answer=boom))


@pytest.mark.usefixtures("failing_usage")
async def test_a_failing_rest_route_logs_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    r = await client.get("/api/v1/analytics/usage", headers=bearer(["admin"]))
    assert r.status_code == 500
    request_id = r.headers["x-request-id"]
    [record] = _errors_logged(caplog)
    assert request_id in record.getMessage() and record.exc_info is not None
    assert "SELECT secret" in str(record.exc_info[1])


@pytest.mark.usefixtures("failing_usage")
async def test_a_failing_graphql_field_logs_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    r = await client.post(
        "/graphql", json={"query": "{ usage { totalConversations } }"}, headers=bearer(["admin"])
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = r.headers["x-request-id"]
    assert request_id in r.json()["errors"][0]["message"]
    [record] = _errors_logged(caplog)
    assert request_id in record.getMessage() and record.exc_info is not None


async def test_a_failure_outside_graphql_logs_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rest_shim.app

    async def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rest_shim.app, "ingest_events", boom)
    caplog.set_level(logging.INFO)
    event = {
        "type": "conversation_started",
        "timestamp": "2025-01-01T00:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
    }
    r = await client.post(
        "/api/v1/analytics/events", json={"events": [event]}, headers=bearer(["analytics_ingest"])
    )
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    request_id = r.headers["x-request-id"]
    [record] = _errors_logged(caplog)
    assert request_id in record.getMessage() and record.exc_info is not None
