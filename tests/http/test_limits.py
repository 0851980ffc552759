"""Every limit of app/limits.py is enforced, with a test per row, and the README's table is that table.

Rows whose test lives here have it below; the others name the test that passes them elsewhere
(live-server tests: headers, subscriptions, slow consumers). The GraphQL document cost
(`ANALYTICS_MAX_QUERY_COST`) is worked out by hand here: buckets per field, each alias counted.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import graphql_schema.cost
from app.config import Settings, get_settings
from app.limits import LIMITS, MAX_QUERY_TOKENS, Limit, markdown_table
from graphql_schema.cost import FIXED_COST_FIELDS, RANGE_FIELDS, ROW_FIELDS
from graphql_schema.schema import schema
from tests.factories import bearer

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/analytics"
ADMIN = bearer(["admin"])


# --------------------------------------------------------------------------- the table


def test_the_readme_limits_table_is_the_table_of_app_limits() -> None:
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README's Limits table is stale: paste `python -m app.limits`"


@pytest.mark.parametrize("limit", LIMITS, ids=[x.key for x in LIMITS])
def test_every_limit_has_a_test(limit: Limit) -> None:
    path, function = limit.test.split("::")
    source = (ROOT / path).read_text()
    assert f"def {function}(" in source, f"{limit.key}: no test {limit.test}"


def test_every_root_field_has_a_cost_rule() -> None:
    """A new field gets a row in graphql_schema/cost.py (an unlisted one with a `filter` is costed
    as a day series, the most a series holds)."""
    gql = schema._schema
    roots = (gql.query_type, gql.mutation_type, gql.subscription_type)
    names = {name for root in roots if root is not None for name in root.fields}
    assert names == set(RANGE_FIELDS) | FIXED_COST_FIELDS | set(ROW_FIELDS)


def test_the_default_query_cost_lets_one_widest_series_and_a_dashboard_through() -> None:
    assert Settings(jwt_secret="x" * 40).max_query_cost == 20_000


# --------------------------------------------------------------------------- helpers


def _assert_400(r: httpx.Response, error: str, field: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == error, body
    assert {"field": field} in [{"field": d.get("field")} for d in body["details"]], body


async def _graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    r = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def _limit_cost(monkeypatch: pytest.MonkeyPatch, cost: int) -> None:
    limited = get_settings().model_copy(update={"max_query_cost": cost})
    monkeypatch.setattr(graphql_schema.cost, "get_settings", lambda: limited)


def _event(**extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "timestamp": "2025-06-01T10:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": "b0000000-0000-4000-8000-000000000001",
        "user_id": str(uuid.uuid4()),
        **extra,
    }


# --------------------------------------------------------------------------- ranges and buckets


async def test_days_over_the_limit_is_400(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/usage", params={"days": "3660"}, headers=ADMIN)).status_code == 200
    _assert_400(
        await client.get(f"{API}/usage", params={"days": "3661"}, headers=ADMIN), "invalid_parameter", "days"
    )


async def test_a_series_over_the_bucket_limit_is_400(client: httpx.AsyncClient) -> None:
    # 416 whole UTC days are 9,984 hours; 417 are 10,008.
    within = {"start_date": "2020-01-01", "end_date": "2021-02-19", "group_by": "hour", "timezone": "UTC"}
    over = {**within, "end_date": "2021-02-20"}
    assert (await client.get(f"{API}/conversations/volume", params=within, headers=ADMIN)).status_code == 200
    r = await client.get(f"{API}/conversations/volume", params=over, headers=ADMIN)
    _assert_400(r, "invalid_parameter", "group_by")
    # /usage/daily takes no group_by: its days are the buckets, and end_date is named.
    r = await client.get(
        f"{API}/usage/daily", params={"start_date": "1990-01-01", "end_date": "2017-05-20"}, headers=ADMIN
    )
    _assert_400(r, "invalid_parameter", "end_date")


# --------------------------------------------------------------------------- GraphQL document cost

# By hand: retention over the 12 months of 2020 is 12 cohorts, 12+11+...+1 = 78 cells; dailyUsage
# over January 2020 is 31 days, twice under two aliases; engagement over January counts its 31 days;
# usage is 1; `u: usage` written twice is one response key, run once: counted once.
COSTED = """
query($year: AnalyticsFilter, $january: AnalyticsFilter) {
  retention(filter: $year) { groupBy }
  a: dailyUsage(filter: $january) { range { start } }
  ...Twice
  engagement(filter: $january) { activeUsers }
  u: usage { totalConversations }
  u: usage { totalConversations }
}
fragment Twice on Query { b: dailyUsage(filter: $january) { range { start } } }
"""
COSTED_VARIABLES = {
    "year": {"startDate": "2020-01-01", "endDate": "2020-12-31", "groupBy": "MONTH", "timezone": "UTC"},
    "january": {"startDate": "2020-01-01", "endDate": "2020-01-31", "timezone": "UTC"},
}
COSTED_TOTAL = 78 + 31 + 31 + 31 + 1


async def test_a_document_costing_the_limit_runs_and_one_more_is_refused_before_it_runs(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit_cost(monkeypatch, COSTED_TOTAL)
    body = await _graphql(client, COSTED, COSTED_VARIABLES)
    assert "errors" not in body, body
    assert body["data"]["retention"]["groupBy"] == "MONTH"

    _limit_cost(monkeypatch, COSTED_TOTAL - 1)
    body = await _graphql(client, COSTED, COSTED_VARIABLES)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["rest_error"] == "invalid_parameter"
    # The costliest field is retention: its size is set by group_by.
    assert error["extensions"]["details"] == [{"field": "group_by"}]
    assert f"{COSTED_TOTAL - 1:,} allowed" in error["message"]


async def test_compare_costs_the_range_twice(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By hand: /performance by day over January 2020 is 31 buckets; with `compare` the previous
    31 days are answered too: 62. A route that does not compare (intents: its 31 days) costs the
    same with it."""
    january = {"startDate": "2020-01-01", "endDate": "2020-01-31", "timezone": "UTC", "groupBy": "DAY"}
    query = "query($f: AnalyticsFilter) { performance(filter: $f) { botMessages } }"
    _limit_cost(monkeypatch, 31)
    assert "errors" not in await _graphql(client, query, {"f": january})
    refused = await _graphql(client, query, {"f": {**january, "compare": "PREVIOUS_PERIOD"}})
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    _limit_cost(monkeypatch, 62)
    body = await _graphql(client, query, {"f": {**january, "compare": "PREVIOUS_PERIOD"}})
    assert "errors" not in body, body
    _limit_cost(monkeypatch, 31)
    intents = "query($f: AnalyticsFilter) { intents(filter: $f) { messagesWithIntent } }"
    assert "errors" not in await _graphql(client, intents, {"f": {**january, "compare": "PREVIOUS_YEAR"}})


async def test_the_insight_routes_cost_the_days_they_read(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By hand: intents and conversationOutcomes read every message or conversation of the range,
    whatever `group_by` (they ignore it): January 2020 costs its 31 days, also asked by the hour.
    performance by month over January costs the 31 days it reads, not its one bucket."""
    january = {"startDate": "2020-01-01", "endDate": "2020-01-31", "timezone": "UTC"}
    for field, extra in (
        ("intents", {"groupBy": "HOUR"}),
        ("conversationOutcomes", {}),
        ("performance", {"groupBy": "MONTH"}),
    ):
        query = f"query($f: AnalyticsFilter) {{ {field}(filter: $f) {{ range {{ start }} }} }}"
        _limit_cost(monkeypatch, 31)
        assert "errors" not in await _graphql(client, query, {"f": {**january, **extra}}), field
        _limit_cost(monkeypatch, 30)
        refused = await _graphql(client, query, {"f": {**january, **extra}})
        assert refused["data"] is None, field
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", field


async def test_hundreds_of_aliases_of_the_widest_range_are_refused_before_they_run(
    client: httpx.AsyncClient,
) -> None:
    """The alias attack of issue 10 item 1: 300 aliases of a 10,000-bucket series. The answer is
    one error, at once; /health answers beside it. The time is printed, not asserted."""
    fields = " ".join(f"a{i}: conversationVolume(filter: $f) {{ groupBy }}" for i in range(300))
    query = f"query($f: AnalyticsFilter) {{ {fields} }}"
    widest = {"startDate": "1990-01-01", "endDate": "2017-05-18", "groupBy": "DAY", "timezone": "UTC"}
    await _graphql(client, query, {"f": widest})  # warm-up: parse and validation caches
    started = time.perf_counter()
    body = await _graphql(client, query, {"f": widest})
    elapsed = time.perf_counter() - started
    print(f"300 aliases x 10,000 buckets refused in {elapsed * 1000:.1f} ms")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["details"] == [{"field": "group_by"}]
    assert (await client.get("/health")).status_code == 200


async def test_the_rest_shim_answers_a_route_over_the_cost_with_the_contract_body(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit_cost(monkeypatch, 100)
    ok = await client.get(f"{API}/conversations/volume", params={"days": "100"}, headers=ADMIN)
    assert ok.status_code == 200, ok.text
    r = await client.get(f"{API}/conversations/volume", params={"days": "101"}, headers=ADMIN)
    _assert_400(r, "invalid_parameter", "group_by")
    assert "ANALYTICS_MAX_QUERY_COST" in r.json()["message"]
    r = await client.get(f"{API}/usage/daily", params={"days": "101"}, headers=ADMIN)
    _assert_400(r, "invalid_parameter", "end_date")


async def test_a_document_over_the_token_limit_is_refused(client: httpx.AsyncClient) -> None:
    # `{ a0: __typename a1: __typename ... }`: 3 tokens an alias, plus the braces.
    fields = " ".join(f"a{i}: __typename" for i in range(MAX_QUERY_TOKENS // 3 + 1))
    body = await _graphql(client, f"{{ {fields} }}")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "tokens" in error["message"]


# --------------------------------------------------------------------------- ingestion and reports


async def test_a_batch_over_the_limit_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{API}/events", json={"events": [_event() for _ in range(1001)]}, headers=ADMIN)
    _assert_400(r, "invalid_body", "events")


async def test_a_cost_over_the_limit_is_400_and_the_largest_sums_stay_finite(
    client: httpx.AsyncClient,
) -> None:
    """Two messages of the largest cost add up to a finite number (two of 1e308 would be infinite,
    which no JSON answer can carry)."""
    largest = [_event(cost=1_000_000_000), _event(cost=1e9)]
    assert (await client.post(f"{API}/events", json={"events": largest}, headers=ADMIN)).status_code == 200
    r = await client.post(f"{API}/events", json={"events": [_event(cost=1e308)]}, headers=ADMIN)
    _assert_400(r, "invalid_body", "cost")
    r = await client.get(
        f"{API}/performance", params={"start_date": "2025-06-01", "end_date": "2025-06-01"}, headers=ADMIN
    )
    assert r.status_code == 200 and r.json()["cost"] == 2e9, r.text


@pytest.mark.parametrize(
    ("field", "longest"),
    [("intent", 200), ("channel", 64), ("comment", 2000), ("model", 100), ("reason", 100)],
)
async def test_event_strings_over_their_limit_are_400(
    client: httpx.AsyncClient, field: str, longest: int
) -> None:
    kind = {"channel": "conversation_started", "comment": "satisfaction", "reason": "conversation_ended"}.get(
        field, "message"
    )
    extra: dict[str, Any] = {"type": kind, "score": 5} if kind == "satisfaction" else {"type": kind}
    if kind == "conversation_ended":
        extra["resolution"] = "escalated"
    ok = await client.post(
        f"{API}/events", json={"events": [_event(**extra, **{field: "x" * longest})]}, headers=ADMIN
    )
    assert ok.status_code == 200, ok.text
    r = await client.post(
        f"{API}/events", json={"events": [_event(**extra, **{field: "x" * (longest + 1)})]}, headers=ADMIN
    )
    _assert_400(r, "invalid_body", field)


async def test_a_report_page_over_the_limit_is_400(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/reports", params={"limit": "100"}, headers=ADMIN)).status_code == 200
    _assert_400(
        await client.get(f"{API}/reports", params={"limit": "101"}, headers=ADMIN),
        "invalid_parameter",
        "limit",
    )


async def test_a_report_title_over_the_limit_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{API}/reports", json={"type": "usage", "title": "x" * 201}, headers=ADMIN)
    _assert_400(r, "invalid_body", "title")
    r = await client.get(f"{API}/reports/{'0' * 37}", headers=ADMIN)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_a_window_over_the_limit_is_400(client: httpx.AsyncClient) -> None:
    assert (
        await client.get(f"{API}/realtime", params={"window_minutes": "60"}, headers=ADMIN)
    ).status_code == 200
    r = await client.get(f"{API}/realtime", params={"window_minutes": "61"}, headers=ADMIN)
    _assert_400(r, "invalid_parameter", "window_minutes")
