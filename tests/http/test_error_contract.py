"""The error contract on every route: status, body, no 422, no stack traces (API.md section 2)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import NoReturn

import httpx
import pytest

from tests.factories import bearer

EVENTS = "/api/v1/analytics/events"
INGEST = bearer(["analytics_ingest"])


def _event() -> dict[str, str]:
    return {
        "type": "conversation_started",
        "timestamp": "2025-01-01T00:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
    }


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"events": [' + b" " * (1024 * 1024) + b"]}"
    r = await client.post(EVENTS, content=body, headers={**INGEST, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


async def test_chunked_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"events": ['
        for _ in range(20):
            yield b" " * 65536
        yield b"]}"

    r = await client.post(EVENTS, content=chunks(), headers={**INGEST, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


async def test_1001_events_in_a_small_body_is_400(client: httpx.AsyncClient) -> None:
    ev = _event()
    r = await client.post(EVENTS, json={"events": [ev] * 1001}, headers=INGEST)
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"


async def test_bad_json_and_bad_shapes_are_400_not_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        EVENTS, content=b"{not json", headers={**INGEST, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"
    r = await client.post(EVENTS, json=[_event()], headers=INGEST)
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"
    r = await client.post(EVENTS, json={"events": "x"}, headers=INGEST)
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"


async def test_bad_event_names_its_index_over_http(client: httpx.AsyncClient) -> None:
    good, bad = _event(), {**_event(), "timestamp": "2999-01-01T00:00:00Z"}
    r = await client.post(EVENTS, json={"events": [good, bad]}, headers=INGEST)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "invalid_body"
    assert body["details"] == [
        {"index": 1, "field": "timestamp", "message": "timestamp is more than 24 hours in the future"}
    ]


async def test_ingest_answers_accepted_and_duplicates(client: httpx.AsyncClient) -> None:
    evs = [_event() | {"id": str(uuid.uuid4())} for _ in range(3)]
    r = await client.post(EVENTS, json={"events": evs}, headers=INGEST)
    assert r.status_code == 200 and r.json() == {"accepted": 3, "duplicates": 0}
    r = await client.post(EVENTS, json={"events": [*evs[:2], _event()]}, headers=INGEST)
    assert r.json() == {"accepted": 1, "duplicates": 2}


async def test_graphql_track_events_matches_rest(client: httpx.AsyncClient) -> None:
    ev = _event()
    doc = """mutation($events: [EventInput!]!) { trackEvents(events: $events) { accepted duplicates } }"""
    gql_ev = {
        "type": "CONVERSATION_STARTED",
        "timestamp": ev["timestamp"],
        "conversationId": ev["conversation_id"],
        "botId": ev["bot_id"],
        "userId": ev["user_id"],
        "id": str(uuid.uuid4()),
    }
    r = await client.post(
        "/graphql", json={"query": doc, "variables": {"events": [gql_ev, gql_ev]}}, headers=INGEST
    )
    assert r.json()["data"]["trackEvents"] == {"accepted": 1, "duplicates": 1}
    bad = {**gql_ev, "id": str(uuid.uuid4()), "timestamp": "nope"}
    r = await client.post("/graphql", json={"query": doc, "variables": {"events": [bad]}}, headers=INGEST)
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert err["extensions"]["details"][0] == {
        "index": 0,
        "field": "timestamp",
        "message": "timestamp must be an RFC 3339 datetime with an offset",
    }


async def test_unknown_route_is_404_with_contract_body(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/analytics/nope", headers=bearer(["admin"]))
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_internal_errors_hide_the_stack(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from app.analytics import catalog

    async def boom(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(catalog, "USAGE", dataclasses.replace(catalog.USAGE, answer=boom))
    r = await client.get("/api/v1/analytics/usage", headers=bearer(["admin"]))
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal_error"
    assert "SELECT" not in r.text and "Traceback" not in r.text
    assert r.headers["x-request-id"] in body["message"]
    g = await client.post(
        "/graphql", json={"query": "{ usage { totalConversations } }"}, headers=bearer(["admin"])
    )
    err = g.json()["errors"][0]
    assert err["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and "SELECT" not in g.text


async def test_health_needs_no_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_openapi_documents_every_route_with_parameters(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    usage = spec["paths"]["/api/v1/analytics/usage"]["get"]
    assert {p["name"] for p in usage["parameters"]} >= {
        "start_date",
        "end_date",
        "days",
        "period",
        "bot_id",
        "timezone",
    }
    schema = usage["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/UsageStats"}
    assert "total_conversations" in spec["components"]["schemas"]["UsageStats"]["properties"]
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert (await client.get("/docs")).status_code == 200
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_graphiql_works_without_internet(client: httpx.AsyncClient) -> None:
    import re

    page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
    assert "unpkg.com" not in page
    assets = re.findall(r'(?:src|href)="(/graphiql-assets/[^"]+)"', page)
    assert len(assets) == 7
    docs = (await client.get("/docs")).text
    assert "cdn.jsdelivr" not in docs
    assets += re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', docs)
    assert len(assets) == 10
    for path in assets:
        r = await client.get(path)
        assert r.status_code == 200 and len(r.content) > 500, path


async def test_oversized_documents_are_refused(client: httpx.AsyncClient) -> None:
    fields = " ".join(f"a{i}: totalConversations" for i in range(2600))
    r = await client.post(
        "/graphql", json={"query": f"{{ usage {{ {fields} }} }}"}, headers=bearer(["admin"])
    )
    err = r.json()["errors"][0]
    assert "token" in err["message"].lower()
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
