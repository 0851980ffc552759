"""GET /metrics: admin only; requests per route template, rejections by reason, ingested events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import bearer

API = "/api/v1/analytics"
ADMIN = bearer(["admin"])


async def _samples(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_need_the_admin_role(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 401 and r.json()["error"] == "missing_token"
    for role in ("analytics_viewer", "analytics_admin", "analytics_ingest"):
        r = await client.get("/metrics", headers=bearer([role]))
        assert r.status_code == 403 and r.json()["error"] == "insufficient_permissions", role
    r = await client.get("/metrics", headers=ADMIN)
    assert r.status_code == 200
    assert "analytics_http_requests_total" in r.text


async def test_metrics_count_requests_by_route_rejections_and_ingested_events(
    client: httpx.AsyncClient,
) -> None:
    before = await _samples(client)
    report_id = str(uuid.uuid4())
    assert (await client.get(f"{API}/usage", headers=bearer(["analytics_viewer"]))).status_code == 200
    assert (await client.get(f"{API}/reports/{report_id}", headers=ADMIN)).status_code == 404
    assert (await client.get(f"{API}/usage")).status_code == 401
    assert (await client.get(f"{API}/usage", headers=bearer(["analytics_ingest"]))).status_code == 403
    assert (await client.get(f"{API}/usage", params={"days": "0"}, headers=ADMIN)).status_code == 400
    # GraphQL answers 200 with the error's code: counted as the status the REST shim would give.
    r = await client.post("/graphql", json={"query": "{ usage { totalMessages } }"})
    assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    r = await client.post("/graphql", json={"query": "{ usage { totalMessages } }"}, headers=ADMIN)
    assert r.status_code == 200 and "errors" not in r.json()
    conv, bot, user = (str(uuid.uuid4()) for _ in range(3))
    events: list[dict[str, Any]] = [
        {
            "type": "conversation_started",
            "timestamp": "2026-01-05T10:00:00Z",
            "conversation_id": conv,
            "bot_id": bot,
            "user_id": user,
        },
        {
            "type": "message",
            "role": "user",
            "timestamp": "2026-01-05T10:01:00Z",
            "conversation_id": conv,
            "bot_id": bot,
            "user_id": user,
        },
        {
            "type": "message",
            "role": "bot",
            "timestamp": "2026-01-05T10:02:00Z",
            "conversation_id": conv,
            "bot_id": bot,
            "user_id": user,
        },
    ]
    for event in events:
        event["id"] = str(uuid.uuid4())
    r = await client.post(f"{API}/events", json={"events": events}, headers=bearer(["analytics_ingest"]))
    assert r.status_code == 200 and r.json()["accepted"] == 3
    # The same batch again: duplicates, nothing new stored.
    r = await client.post(f"{API}/events", json={"events": events}, headers=bearer(["analytics_ingest"]))
    assert r.json() == {"accepted": 0, "duplicates": 3}
    after = await _samples(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    usage = f"{API}/usage"
    assert grew("analytics_http_requests_total", method="GET", route=usage, status="200") == 1
    assert grew("analytics_http_requests_total", method="GET", route=usage, status="401") == 1
    # One label per route template, not per report id.
    assert (
        grew(
            "analytics_http_requests_total", method="GET", route=f"{API}/reports/{{report_id}}", status="404"
        )
        == 1
    )
    assert not any(report_id in name or report_id in str(labels) for name, labels in after)
    assert grew("analytics_http_request_duration_seconds_count", method="GET", route=usage) == 4
    assert grew("analytics_rejected_requests_total", reason="401") == 2
    assert grew("analytics_http_requests_total", method="POST", route="/graphql", status="200") == 2
    for reason in ("400", "403"):
        assert grew("analytics_rejected_requests_total", reason=reason) == 1, reason
    assert grew("analytics_ingested_events_total") == 3
    assert grew("analytics_http_requests_total", method="POST", route=f"{API}/events", status="200") == 2
