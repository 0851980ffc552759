"""The reports API: statuses, errors, listing, deletion, roles and bot scope, REST and GraphQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.reports.jobs import ReportRunner
from tests.factories import bearer
from tests.reports.reporting import ADMIN, BOT_A, BOT_B, RANGE, REPORTS, create, files, wait_done

REPORT_KEYS = {
    "id",
    "status",
    "type",
    "format",
    "title",
    "parameters",
    "created_at",
    "completed_at",
    "size_bytes",
    "error",
    "download_url",
}


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runners claim nothing: reports stay pending."""

    async def nothing(self: ReportRunner) -> None:
        return None

    monkeypatch.setattr(ReportRunner, "_claim", nothing)


async def test_create_answers_202_and_download_is_409_until_completed(
    client: httpx.AsyncClient, paused: None
) -> None:
    r = await client.post(REPORTS, json={"type": "usage", "days": 7}, headers=ADMIN)
    assert r.status_code == 202, r.text
    report = r.json()
    assert set(report) == REPORT_KEYS
    assert (report["status"], report["type"], report["format"]) == ("pending", "usage", "pdf")
    assert report["title"] == "Usage report"
    assert report["download_url"] == f"{REPORTS}/{report['id']}/download"
    assert report["parameters"]["days"] == 7 and report["parameters"]["timezone"] == "UTC"
    assert set(report["parameters"]["range"]) == {"start", "end", "timezone"}
    assert report["completed_at"] is None and report["size_bytes"] is None
    r = await client.get(report["download_url"], headers=ADMIN)
    assert r.status_code == 409
    assert r.json()["error"] == "report_not_ready"


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", f"{REPORTS}/nope"),
        ("GET", f"{REPORTS}/00000000-0000-4000-8000-000000000000/download"),
        ("DELETE", f"{REPORTS}/00000000-0000-4000-8000-000000000000"),
    ):
        r = await client.request(method, path, headers=ADMIN)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "weekly"}, "type"),
        ({"type": "usage", "format": "docx"}, "format"),
        ({"format": "pdf"}, "type"),
        ({"type": "usage", "start_date": "2025-02-01", "end_date": "2025-01-01"}, "end_date"),
        ({"type": "usage", "start_date": "2025-13-01"}, "start_date"),
        ({"type": "usage", "days": 7, "period": "week"}, "period"),
        ({"type": "usage", "days": "7"}, "days"),
        ({"type": "usage", "days": 0}, "days"),
        ({"type": "usage", "timezone": "Mars/Olympus"}, "timezone"),
        ({"type": "usage", "group_by": "year"}, "group_by"),
        ({"type": "usage", "bot_id": "not-a-uuid"}, "bot_id"),
        ({"type": "usage", "colour": "red"}, "colour"),
        ({"type": "conversations", "group_by": "hour", "days": 3660}, "group_by"),
        ({"type": "usage", "title": "x" * 201}, "title"),
        # null is not in the OpenAPI schema of any key (Schemathesis's negative case): leave it out.
        ({"type": "conversations", "bot_id": None}, "bot_id"),
        ({"type": None}, "type"),
        ([], "body"),
    ],
)
async def test_bad_bodies_are_400_invalid_body(client: httpx.AsyncClient, body: Any, field: str) -> None:
    r = await client.post(REPORTS, json=body, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_body"
    assert {"field": field} in r.json()["details"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        REPORTS, content=b"{type: usage", headers={**ADMIN, "content-type": "application/json"}
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_body")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("status=done", "status"),
        ("type=x", "type"),
    ],
)
async def test_bad_list_parameters_are_400(client: httpx.AsyncClient, query: str, field: str) -> None:
    r = await client.get(f"{REPORTS}?{query}", headers=ADMIN)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_parameter"
    assert r.json()["details"] == [{"field": field}]


async def test_list_is_newest_first_with_filters_and_pages(client: httpx.AsyncClient, paused: None) -> None:
    ids = [
        (await create(client, {"type": t, "format": "csv", "days": 1}))["id"]
        for t in ("usage", "full", "usage")
    ]
    r = await client.get(REPORTS, headers=ADMIN)
    body = r.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 20, 0)
    assert [x["id"] for x in body["data"]] == ids[::-1]
    r = await client.get(f"{REPORTS}?type=usage&limit=1&offset=1", headers=ADMIN)
    assert [x["id"] for x in r.json()["data"]] == [ids[0]] and r.json()["total"] == 2
    r = await client.get(f"{REPORTS}?status=completed", headers=ADMIN)
    assert r.json()["total"] == 0 and r.json()["data"] == []


async def test_delete_removes_row_and_file(client: httpx.AsyncClient, reports_dir: Path) -> None:
    report = await wait_done(
        client, (await create(client, {"type": "usage", "format": "csv", **RANGE}))["id"]
    )
    assert report["status"] == "completed"
    assert len(files(reports_dir)) == 1
    r = await client.delete(f"{REPORTS}/{report['id']}", headers=ADMIN)
    assert r.status_code == 204 and r.content == b""
    assert files(reports_dir) == []
    assert (await client.get(f"{REPORTS}/{report['id']}", headers=ADMIN)).status_code == 404


async def test_reports_need_analytics_admin_or_admin(client: httpx.AsyncClient) -> None:
    viewer = bearer(["analytics_viewer"])
    r = await client.post(REPORTS, json={"type": "usage"}, headers=viewer)
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_permissions")
    assert (await client.get(REPORTS, headers=viewer)).status_code == 403
    assert (await client.get(REPORTS)).status_code == 401
    r = await client.post(REPORTS, json={"type": "usage"}, headers=bearer(["analytics_admin"]))
    assert r.status_code == 202


async def test_scoped_callers_see_only_reports_within_their_bots(
    client: httpx.AsyncClient, paused: None
) -> None:
    only_a, only_b = bearer(["analytics_admin"], [BOT_A]), bearer(["analytics_admin"], [BOT_B])
    both = bearer(["analytics_admin"], [BOT_A, BOT_B])
    of_a = await create(client, {"type": "usage"}, only_a)  # covers the creator's scope: bot A
    of_all = await create(client, {"type": "usage"}, ADMIN)  # covers every bot
    of_b = await create(client, {"type": "usage", "bot_id": BOT_B}, both)  # covers bot B
    for report_id in (of_a["id"], of_all["id"]):
        for method, suffix in (("GET", ""), ("GET", "/download"), ("DELETE", "")):
            r = await client.request(method, f"{REPORTS}/{report_id}{suffix}", headers=only_b)
            assert r.status_code == 404, (report_id, method, suffix)
    assert [x["id"] for x in (await client.get(REPORTS, headers=only_b)).json()["data"]] == [of_b["id"]]
    assert (await client.get(REPORTS, headers=only_a)).json()["total"] == 1
    assert (await client.get(REPORTS, headers=both)).json()["total"] == 2
    assert (await client.get(REPORTS, headers=ADMIN)).json()["total"] == 3
    assert (await client.get(f"{REPORTS}/{of_b['id']}", headers=only_b)).status_code == 200
    r = await client.post(REPORTS, json={"type": "usage", "bot_id": BOT_B}, headers=only_a)
    assert r.status_code == 403


async def test_graphql_reports(client: httpx.AsyncClient) -> None:
    async def gql(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=ADMIN)
        assert r.status_code == 200
        body: dict[str, Any] = r.json()
        return body

    created = await gql(
        "mutation($i: ReportInput!) { createReport(input: $i) { id status type format downloadUrl "
        "parameters { groupBy range { start end timezone } } } }",
        {
            "i": {
                "type": "SATISFACTION",
                "format": "JSON",
                "groupBy": "WEEK",
                **{"startDate": "2025-01-06", "endDate": "2025-01-12"},
            }
        },
    )
    assert created.get("errors") is None, created
    report = created["data"]["createReport"]
    assert (report["type"], report["format"], report["parameters"]["groupBy"]) == (
        "SATISFACTION",
        "JSON",
        "WEEK",
    )
    assert report["downloadUrl"] == f"{REPORTS}/{report['id']}/download"
    await wait_done(client, report["id"])
    got = await gql(
        "query($id: String!) { report(id: $id) { status sizeBytes completedAt } }", {"id": report["id"]}
    )
    assert got["data"]["report"]["status"] == "COMPLETED" and got["data"]["report"]["sizeBytes"] > 0
    listed = await gql(
        "{ reports(status: COMPLETED, type: SATISFACTION) { total limit offset data { id } } }"
    )
    assert listed["data"]["reports"] == {"total": 1, "limit": 20, "offset": 0, "data": [{"id": report["id"]}]}
    too_many = await gql("{ reports(limit: 101) { total } }")
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    deleted = await gql("mutation($id: String!) { deleteReport(id: $id) }", {"id": report["id"]})
    assert deleted["data"] == {"deleteReport": True}
    missing = await gql("query($id: String!) { report(id: $id) { id } }", {"id": report["id"]})
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
