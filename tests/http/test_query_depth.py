"""GraphQL documents deeper than ANALYTICS_MAX_QUERY_DEPTH are refused before they run."""

from __future__ import annotations

import httpx
import pytest

import graphql_schema.schema
from app.config import Settings, get_settings
from tests.factories import bearer

# Depth counts from 0 at the top-level field: usage 0, range 1, start 2.
DEPTH_2 = "{ usage { range { start } } }"


def _limit_depth(monkeypatch: pytest.MonkeyPatch, depth: int) -> None:
    limited = get_settings().model_copy(update={"max_query_depth": depth})

    def settings() -> Settings:
        return limited

    monkeypatch.setattr(graphql_schema.schema, "get_settings", settings)


async def _errors(client: httpx.AsyncClient, document: str) -> list[dict[str, object]]:
    r = await client.post("/graphql", json={"query": document}, headers=bearer(["admin"]))
    errors: list[dict[str, object]] = r.json().get("errors") or []
    return errors


async def test_a_document_deeper_than_the_setting_is_refused(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit_depth(monkeypatch, 1)
    [error] = await _errors(client, DEPTH_2)
    assert "exceeds maximum operation depth of 1" in str(error["message"])


async def test_a_document_within_the_setting_runs(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit_depth(monkeypatch, 2)
    assert await _errors(client, DEPTH_2) == []


def test_the_default_depth_is_twelve() -> None:
    assert Settings(jwt_secret="x" * 40).max_query_depth == 12
