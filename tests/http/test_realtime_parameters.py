"""API.md 8 on the realtime routes: an invalid common parameter is a 400 naming it (also where a valid
one is ignored); valid ones leave the answer as it is without them. Through REST and GraphQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import bearer

VIEWER = bearer(["analytics_viewer"])
INGEST = bearer(["analytics_ingest"])
A = "/api/v1/analytics"
BOT_A = str(uuid.uuid4())
BOT_B = str(uuid.uuid4())


def _stamp(ago: timedelta) -> str:
    return (datetime.now(UTC) - ago).isoformat().replace("+00:00", "Z")


async def _two_active_sessions(client: httpx.AsyncClient) -> None:
    """One conversation active now on each bot (last activity 30 s ago, well inside any window)."""
    events: list[dict[str, Any]] = []
    for bot in (BOT_A, BOT_B):
        conv, user = str(uuid.uuid4()), str(uuid.uuid4())
        owner = {"conversation_id": conv, "bot_id": bot, "user_id": user}
        events.append({"type": "conversation_started", "timestamp": _stamp(timedelta(minutes=1)), **owner})
        events.append(
            {"type": "message", "role": "user", "timestamp": _stamp(timedelta(seconds=30)), **owner}
        )
    r = await client.post(A + "/events", json={"events": events}, headers=INGEST)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 4


def _without_clock(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("as_of", "asOf")}


@pytest.mark.parametrize("path", ["/realtime", "/realtime/active"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "minute"}, "group_by"),
        ({"period": "fortnight"}, "period"),
        ({"days": "0"}, "days"),
        ({"days": "seven"}, "days"),
        ({"start_date": "2025-13-01"}, "start_date"),
        ({"end_date": "yesterday"}, "end_date"),
        ({"start_date": "2025-02-01", "end_date": "2025-01-01"}, "end_date"),
        ({"days": "7", "period": "week"}, "period"),
        ({"user_id": "1234"}, "user_id"),
    ],
)
async def test_an_invalid_common_parameter_is_400_on_realtime_routes(
    client: httpx.AsyncClient, path: str, params: dict[str, str], field: str
) -> None:
    r = await client.get(A + path, params=params, headers=VIEWER)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_parameter"
    assert body["details"] == [{"field": field}]
    assert body["message"]


@pytest.mark.parametrize("path", ["/realtime", "/realtime/active"])
async def test_valid_common_parameters_are_ignored_on_realtime_routes(
    client: httpx.AsyncClient, path: str
) -> None:
    await _two_active_sessions(client)
    plain = await client.get(A + path, headers=VIEWER)
    assert plain.status_code == 200, plain.text
    assert plain.json()["active_sessions"] == 2
    # A user with no sessions and a long-past range: were they applied, the answer would be 0.
    ignored = {
        "group_by": "hour",
        "start_date": "2020-01-01",
        "end_date": "2020-01-02",
        "user_id": str(uuid.uuid4()),
    }
    r = await client.get(A + path, params=ignored, headers=VIEWER)
    assert r.status_code == 200, r.text
    assert _without_clock(r.json()) == _without_clock(plain.json())
    r = await client.get(A + path, params={"period": "year", "group_by": "month"}, headers=VIEWER)
    assert _without_clock(r.json()) == _without_clock(plain.json())


async def _graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/graphql", json={"query": query, "variables": variables}, headers=VIEWER)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


_REALTIME = (
    "query($f: AnalyticsFilter, $bot: String) { realtime(filter: $f, botId: $bot) { activeSessions } }"
)
_ACTIVE = (
    "query($f: AnalyticsFilter, $bot: String) "
    "{ activeSessions(filter: $f, botId: $bot) { asOf activeSessions byBot { botId activeSessions } } }"
)


@pytest.mark.parametrize("query", [_REALTIME, _ACTIVE])
@pytest.mark.parametrize(
    ("filter_", "field"),
    [
        ({"days": 4000}, "days"),
        ({"startDate": "2025-02-01", "endDate": "2025-01-01"}, "end_date"),
        ({"userId": "nope"}, "user_id"),
        ({"botId": "nope"}, "bot_id"),
        ({"timezone": "Mars/Base"}, "timezone"),
    ],
)
async def test_graphql_realtime_checks_its_filter(
    client: httpx.AsyncClient, query: str, filter_: dict[str, Any], field: str
) -> None:
    body = await _graphql(client, query, {"f": filter_})
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert err["extensions"]["details"] == [{"field": field}]


async def test_graphql_realtime_ignores_a_valid_filter_but_its_bot_and_zone(
    client: httpx.AsyncClient,
) -> None:
    await _two_active_sessions(client)
    plain = (await _graphql(client, _ACTIVE, {}))["data"]["activeSessions"]
    assert plain["activeSessions"] == 2
    ignored = {"groupBy": "HOUR", "days": 7, "userId": str(uuid.uuid4())}
    same = (await _graphql(client, _ACTIVE, {"f": ignored}))["data"]["activeSessions"]
    assert _without_clock(same) == _without_clock(plain)
    assert (await _graphql(client, _REALTIME, {"f": ignored}))["data"]["realtime"]["activeSessions"] == 2

    # The filter's botId and timezone stand in for the arguments when those are absent ...
    only_a = (await _graphql(client, _ACTIVE, {"f": {"botId": BOT_A, "timezone": "Asia/Kolkata"}}))["data"]
    assert only_a["activeSessions"]["byBot"] == [{"botId": BOT_A, "activeSessions": 1}]
    assert only_a["activeSessions"]["asOf"].endswith("+05:30")
    # ... and the argument wins when both are given.
    only_b = (await _graphql(client, _ACTIVE, {"f": {"botId": BOT_A}, "bot": BOT_B}))["data"]
    assert only_b["activeSessions"]["byBot"] == [{"botId": BOT_B, "activeSessions": 1}]
