"""`compare` over HTTP (API.md section 9): its values and their 400s on every route, which answers
carry `comparison` and `change`, that no bucket limit applies to a comparison, and that reports
take no `compare`. The numbers are checked against the reference in
tests/analytics/test_queries_match_the_reference.py, tests/http/test_rest_and_graphql_agree.py and
tests/http/test_scope.py."""

from __future__ import annotations

import httpx
import pytest

from rest_shim.routes import ROUTES
from tests.factories import bearer

VIEWER = bearer(["analytics_viewer"])
ADMIN = bearer(["admin"])
A = "/api/v1/analytics"
READ_ROUTES = [r for r in ROUTES if r.method == "GET" and r.params in ("filter", "realtime")]
COMPARED = {
    "/usage",
    "/conversations",
    "/conversations/duration",
    "/engagement",
    "/engagement/satisfaction",
    "/performance",
}


@pytest.mark.parametrize("value", ["PREVIOUS_PERIOD", "Previous_period", "last_week", "previous_period "])
async def test_an_unknown_compare_is_a_400_naming_it_on_every_route(
    client: httpx.AsyncClient, value: str
) -> None:
    for route in READ_ROUTES:
        r = await client.get(route.full_path, params={"compare": value}, headers=VIEWER)
        assert r.status_code == 400, (route.path, r.text)
        body = r.json()
        assert body["error"] == "invalid_parameter" and body["details"] == [{"field": "compare"}], body
        assert "previous_period" in body["message"]


async def test_the_compared_routes_always_carry_comparison_and_change(client: httpx.AsyncClient) -> None:
    """Null without `compare` (also `compare=`, which is none); the other routes have neither key,
    and accept and ignore `compare`."""
    for route in READ_ROUTES:
        for params in ({}, {"compare": ""}, {"compare": "previous_period"}, {"compare": "previous_year"}):
            r = await client.get(route.full_path, params={"days": "7", **params}, headers=VIEWER)
            if route.params == "realtime":  # days is checked and ignored there
                assert r.status_code == 200, r.text
                assert "comparison" not in r.json()
                continue
            assert r.status_code == 200, (route.path, params, r.text)
            body = r.json()
            if route.path not in COMPARED:
                assert "comparison" not in body and "change" not in body, route.path
            elif params.get("compare"):
                assert set(body["change"]) == set(body["comparison"]) - {"range"}, route.path
                assert body["comparison"]["range"]["timezone"] == "UTC"
            else:
                assert body["comparison"] is None and body["change"] is None, (route.path, params)


async def test_the_comparison_of_an_empty_database(client: httpx.AsyncClient) -> None:
    """Counts 0, averages null, and every change null (the previous value is 0 or null)."""
    r = await client.get(
        f"{A}/engagement",
        params={"start_date": "2025-03-01", "end_date": "2025-03-07", "compare": "previous_period"},
        headers=VIEWER,
    )
    body = r.json()
    assert body["comparison"] == {
        "range": {"start": "2025-02-22T00:00:00Z", "end": "2025-03-01T00:00:00Z", "timezone": "UTC"},
        "active_users": 0,
        "new_users": 0,
        "returning_users": 0,
        "avg_daily_active_users": 0.0,
        "stickiness": None,
        "conversations_per_user": None,
        "messages_per_user": None,
    }
    assert set(body["change"].values()) == {None}


async def test_no_bucket_limit_applies_to_the_comparison(client: httpx.AsyncClient) -> None:
    """10,000 hour buckets (the most a series has) compared with the same span a year earlier,
    which holds 29 February 2024: 10,024 hours, answered."""
    params = {"start_date": "2025-02-28T00:00:00Z", "end_date": "2026-04-20T16:00:00Z", "group_by": "hour"}
    r = await client.get(
        f"{A}/engagement/satisfaction", params={**params, "compare": "previous_year"}, headers=VIEWER
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["data"]) == 10_000
    assert body["comparison"]["range"] == {
        "start": "2024-02-28T00:00:00Z",
        "end": "2025-04-20T16:00:00Z",
        "timezone": "UTC",
    }
    over = {**params, "end_date": "2026-04-20T17:00:00Z", "compare": "previous_year"}
    r = await client.get(f"{A}/engagement/satisfaction", params=over, headers=VIEWER)
    assert r.status_code == 400 and r.json()["details"] == [
        {"field": "group_by"}
    ]  # the current range's own limit


async def test_graphql_takes_the_enum_and_refuses_a_string(client: httpx.AsyncClient) -> None:
    doc = "query($f: AnalyticsFilter) { usage(filter: $f) { totalConversations comparison { range { start } totalConversations } change { totalConversations } } }"
    ok = await client.post(
        "/graphql",
        json={"query": doc, "variables": {"f": {"days": 7, "compare": "PREVIOUS_YEAR"}}},
        headers=VIEWER,
    )
    data = ok.json()["data"]["usage"]
    assert data["comparison"]["totalConversations"] == 0 and data["change"] == {"totalConversations": None}
    bad = await client.post(
        "/graphql",
        json={"query": doc, "variables": {"f": {"days": 7, "compare": "previous_year"}}},
        headers=VIEWER,
    )
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_reports_take_no_compare(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{A}/reports", json={"type": "usage", "days": 7, "compare": "previous_period"}, headers=ADMIN
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_body" and r.json()["details"] == [{"field": "compare"}]
