"""Every 400 case of API.md section 3 through REST (status and body), and the same through GraphQL."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import bearer

VIEWER = bearer(["analytics_viewer"])
A = "/api/v1/analytics"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/usage", {"start_date": "2025-02-01", "end_date": "2025-01-01"}, "end_date"),
        ("/usage", {"start_date": "2025-01-01T10:00:00Z", "end_date": "2025-01-01T10:00:00Z"}, "end_date"),
        ("/usage", {"start_date": "2025-13-01"}, "start_date"),
        ("/usage", {"end_date": "yesterday"}, "end_date"),
        ("/usage", {"period": "fortnight"}, "period"),
        ("/usage", {"period": "WEEK"}, "period"),
        ("/conversations/volume", {"group_by": "minute"}, "group_by"),
        ("/usage", {"group_by": "minute"}, "group_by"),
        ("/usage", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ("/usage", {"bot_id": "not-a-uuid"}, "bot_id"),
        ("/usage", {"user_id": "1234"}, "user_id"),
        ("/usage", {"days": "0"}, "days"),
        ("/usage", {"days": "3661"}, "days"),
        ("/usage", {"days": "seven"}, "days"),
        ("/usage", {"days": "-1"}, "days"),
        ("/usage", {"days": "7", "period": "week"}, "period"),
        ("/usage", {"period": "week", "days": "7"}, "period"),
        ("/usage", {"days": "7", "start_date": "2025-01-01"}, "start_date"),
        ("/usage", {"period": "month", "end_date": "2025-01-01"}, "end_date"),
        ("/conversations/volume", {"group_by": "hour", "days": "500"}, "group_by"),
        ("/usage/daily", {"start_date": "1990-01-01", "end_date": "2025-01-01"}, "end_date"),
        ("/engagement/retention", {"group_by": "hour"}, "group_by"),
        ("/realtime", {"window_minutes": "0"}, "window_minutes"),
        ("/realtime", {"window_minutes": "61"}, "window_minutes"),
        ("/realtime/active", {"window_minutes": "x"}, "window_minutes"),
        ("/realtime", {"timezone": "Nowhere/Land"}, "timezone"),
        ("/realtime", {"bot_id": "zzz"}, "bot_id"),
        ("/intents", {"limit": "0"}, "limit"),
        ("/intents", {"limit": "101"}, "limit"),
        ("/intents", {"limit": "ten"}, "limit"),
        ("/intents", {"limit": "-3"}, "limit"),
        ("/intents", {"limit": ""}, "limit"),
        ("/performance", {"group_by": "hour", "days": "500"}, "group_by"),
        ("/conversations/outcomes", {"timezone": "Nowhere/Land"}, "timezone"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    client: httpx.AsyncClient, path: str, params: dict[str, str], field: str
) -> None:
    r = await client.get(A + path, params=params, headers=VIEWER)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_parameter"
    assert body["details"] == [{"field": field}]
    assert isinstance(body["message"], str) and body["message"]


async def test_days_message_matches_the_contract(client: httpx.AsyncClient) -> None:
    r = await client.get(A + "/usage", params={"days": "0"}, headers=VIEWER)
    assert r.json()["message"] == "days must be an integer from 1 to 3660"


@pytest.mark.parametrize(
    ("filter_", "field"),
    [
        ('{startDate: "2025-02-01", endDate: "2025-01-01"}', "end_date"),
        ('{timezone: "Mars/Base"}', "timezone"),
        ("{days: 4000}", "days"),
        ('{botId: "nope"}', "bot_id"),
    ],
)
async def test_graphql_reports_the_same_field(client: httpx.AsyncClient, filter_: str, field: str) -> None:
    r = await client.post(
        "/graphql", json={"query": f"{{ usage(filter: {filter_}) {{ totalConversations }} }}"}, headers=VIEWER
    )
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert err["extensions"]["details"] == [{"field": field}]


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_graphql_intents_limit_out_of_range_is_bad_user_input(
    client: httpx.AsyncClient, limit: int
) -> None:
    r = await client.post(
        "/graphql", json={"query": f"{{ intents(limit: {limit}) {{ messagesWithIntent }} }}"}, headers=VIEWER
    )
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert err["extensions"]["details"] == [{"field": "limit"}]


async def test_limit_is_ignored_by_the_other_routes(client: httpx.AsyncClient) -> None:
    for path in ("/usage", "/performance", "/conversations/outcomes"):
        r = await client.get(A + path, params={"limit": "500"}, headers=VIEWER)
        assert r.status_code == 200, (path, r.text)


async def test_group_by_is_accepted_and_ignored_where_there_is_no_series(client: httpx.AsyncClient) -> None:
    import uuid

    from app.auth import Principal
    from app.ingest import ingest_events

    ev = {
        "type": "conversation_started",
        "timestamp": "2025-01-01T00:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
    }
    await ingest_events([ev], Principal("t", frozenset({"admin"})))
    for path in (
        "/usage",
        "/conversations",
        "/conversations/duration",
        "/engagement",
        "/intents",
        "/conversations/outcomes",
    ):
        params = {"start_date": "2024-12-01", "end_date": "2025-01-31"}
        r = await client.get(A + path, params={**params, "group_by": "hour"}, headers=VIEWER)
        assert r.status_code == 200, r.text
        assert r.json() == (await client.get(A + path, params=params, headers=VIEWER)).json(), path
    r = await client.get(A + "/usage", params={"group_by": "hour", "days": "3660"}, headers=VIEWER)
    assert r.status_code == 200
    assert r.json()["total_conversations"] == 1
