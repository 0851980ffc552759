"""Each report type in each format carries the API's numbers for its parameters."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import orjson
import pytest
from pypdf import PdfReader

from app.reports.catalog import REPORT_TYPES, ROUTES_BY_TYPE
from app.reports.csv_export import CSV_COLUMNS
from tests.reports.reporting import ADMIN, RANGE, create, wait_done

pytestmark = pytest.mark.usefixtures("data")

# Hand-worked figures (see reporting.py) as PDF and HTML print them, by the section that shows them.
USAGE = ["Conversations", "2.25", "277.50 s"]
CONVERSATIONS = ["50.0%", "25.0%", "277.50 s", "225.00 s", "510.00 s", "600.00 s", "60.00 s", "whatsapp"]
ENGAGEMENT = ["0.57", "19.0%", "1.33", "1.67"]
SATISFACTION = ["3.67", "66.7%"]
RETENTION = ["100.0%", "2025-01-06"]
INSIGHTS = [
    "refund",
    "billing",
    "550.00 ms",
    "500.00 ms",
    "940.00 ms",
    "1000.00 ms",
    "1.7500",
    "0.4375",
    "0.8750",
]
INSIGHTS += ["user_request", "Durable resolution rate"]
EXPECTED_TEXT = {
    "usage": USAGE,
    "conversations": CONVERSATIONS,
    "engagement": ENGAGEMENT + SATISFACTION + RETENTION,
    "satisfaction": SATISFACTION,
    "retention": RETENTION,
    "insights": INSIGHTS,
    "full": USAGE + CONVERSATIONS + ENGAGEMENT + SATISFACTION + RETENTION + INSIGHTS,
}


async def _make_all(client: httpx.AsyncClient, fmt: str, **extra: Any) -> dict[str, dict[str, Any]]:
    created = {
        t: await create(client, {"type": t, "format": fmt, "group_by": "day", **RANGE, **extra})
        for t in REPORT_TYPES
    }
    done = {t: await wait_done(client, r["id"]) for t, r in created.items()}
    for t, report in done.items():
        assert report["status"] == "completed", (t, report["error"])
    return done


async def _download(client: httpx.AsyncClient, report: dict[str, Any]) -> httpx.Response:
    r = await client.get(report["download_url"], headers=ADMIN)
    assert r.status_code == 200, r.text
    assert len(r.content) == report["size_bytes"]
    assert r.headers["content-disposition"].startswith('attachment; filename="')
    return r


async def test_pdf_reports_print_the_hand_worked_figures(client: httpx.AsyncClient) -> None:
    for t, report in (await _make_all(client, "pdf", title="Weekly bots review")).items():
        r = await _download(client, report)
        assert r.headers["content-type"] == "application/pdf"
        assert f'filename="{t}-report-2025-01-06-to-2025-01-12.pdf"' in r.headers["content-disposition"]
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
        assert "Weekly bots review" in text
        assert "2025-01-06 00:00 to 2025-01-13 00:00" in text
        assert "UTC" in text and "all bots" in text
        for figure in EXPECTED_TEXT[t]:
            assert figure in text, (t, figure)
        if t in ("usage", "full"):
            # Integers without thousands separators; the 7 days of the range are all listed.
            assert all(f"2025-01-{d:02d}" in text for d in range(6, 13))


async def test_html_report_is_escaped_and_has_charts(client: httpx.AsyncClient) -> None:
    report = await create(client, {"type": "full", "format": "html", "title": "<b>Q1</b> & more", **RANGE})
    report = await wait_done(client, report["id"])
    r = await _download(client, report)
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "&lt;b&gt;Q1&lt;/b&gt; &amp; more" in html and "<b>Q1</b>" not in html
    assert html.count('src="data:image/png;base64,') == 5  # daily usage, volume, outcomes, ratings, latency
    for figure in EXPECTED_TEXT["full"]:
        assert figure in html, figure


async def test_csv_reports_have_documented_rows(client: httpx.AsyncClient) -> None:
    for t, report in (await _make_all(client, "csv")).items():
        r = await _download(client, report)
        assert r.headers["content-type"].startswith("text/csv")
        reader = csv.reader(io.StringIO(r.text))
        header = next(reader)
        assert tuple(header) == CSV_COLUMNS
        rows = {(s, b, d, m): v for s, b, d, m, v in reader}
        assert rows[("report", "", "", "type")] == t
        assert rows[("report", "", "", "range_end")] == "2025-01-13T00:00:00Z"
        sections = {k[0] for k in rows} - {"report"}
        assert sections == {m.name for m in ROUTES_BY_TYPE[t]}
        if "usage" in sections:
            assert rows[("usage", "", "", "total_conversations")] == "4"
            assert rows[("usage", "", "", "avg_messages_per_conversation")] == "2.25"
            assert [rows[("usage/daily", f"2025-01-{d:02d}", "", "active_users")] for d in range(6, 13)] == [
                "1",
                "1",
                "1",
                "1",
                "0",
                "0",
                "0",
            ]
        if "conversations" in sections:
            assert rows[("conversations", "", "", "resolution_rate")] == "0.5"
            assert rows[("conversations", "", "channel=web", "conversations")] == "3"
            assert rows[("conversations/duration", "", "seconds=300-900", "count")] == "2"
            assert rows[("conversations/duration", "", "seconds=3600-", "count")] == "0"
            assert rows[("conversations/resolution", "2025-01-07T00:00:00Z", "", "escalated")] == "1"
            assert rows[("conversations/volume", "2025-01-06T00:00:00Z", "", "messages")] == "4"
        if "engagement/satisfaction" in sections:
            assert rows[("engagement/satisfaction", "", "score=5", "count")] == "1"
            assert rows[("engagement/satisfaction", "", "", "responses")] == "3"
            assert rows[("engagement/satisfaction", "2025-01-08T00:00:00Z", "", "average_score")] == "4.0"
        if "engagement/retention" in sections:
            # group_by=day: one cohort per day; u1 (new on Monday) came back on Thursday (period 3).
            assert rows[("engagement/retention", "2025-01-06T00:00:00Z", "", "size")] == "1"
            assert rows[("engagement/retention", "2025-01-06T00:00:00Z", "period=3", "users")] == "1"
            assert rows[("engagement/retention", "2025-01-06T00:00:00Z", "period=2", "rate")] == "0.0"
            assert rows[("engagement/retention", "2025-01-10T00:00:00Z", "period=0", "rate")] == ""


@pytest.mark.parametrize(
    "extra",
    [
        {"group_by": "day", **RANGE},
        {
            "group_by": "hour",
            "start_date": "2025-01-06",
            "end_date": "2025-01-09",
            "timezone": "Europe/Berlin",
        },
        {
            "start_date": "2025-01-06",
            "end_date": "2025-01-08",
            "bot_id": "aaaaaaaa-0000-4000-8000-000000000001",
        },
    ],
    ids=["day-utc", "hour-berlin", "dates-bot"],
)
async def test_json_report_equals_the_rest_answers(client: httpx.AsyncClient, extra: dict[str, Any]) -> None:
    """The report's data equals the REST answers, on a range that holds the hand-built data: in all
    conversations 1 to 4 (Berlin's range starts at 2025-01-05T23:00Z), for bot A conversations 1 and 2."""
    report = await create(client, {"type": "full", "format": "json", **extra})
    report = await wait_done(client, report["id"])
    body = orjson.loads((await _download(client, report)).content)
    assert body["report"] == report
    assert set(body["data"]) == {m.name for m in ROUTES_BY_TYPE["full"]}
    query = {k: str(v) for k, v in extra.items()}
    for route, answer in body["data"].items():
        params = dict(query)
        if route == "engagement/retention" and params.get("group_by") == "hour":
            params["group_by"] = "week"  # API.md 8: a report's retention section uses week for hour
        r = await client.get(f"/api/v1/analytics/{route}", params=params, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert answer == r.json(), route
    usage = body["data"]["usage"]
    expected = (2, 6, 2) if "bot_id" in extra else (4, 9, 3)  # conversations, messages, active users
    assert (usage["total_conversations"], usage["total_messages"], usage["active_users"]) == expected
    if extra.get("group_by") == "hour":
        assert body["data"]["engagement/retention"]["group_by"] == "week"
        assert body["data"]["conversations/volume"]["group_by"] == "hour"


async def test_report_figures_follow_the_bot_filter(client: httpx.AsyncClient) -> None:
    report = await create(
        client, {"type": "usage", "format": "json", "bot_id": "bbbbbbbb-0000-4000-8000-000000000002", **RANGE}
    )
    report = await wait_done(client, report["id"])
    body = orjson.loads((await _download(client, report)).content)
    usage = body["data"]["usage"]
    assert (usage["total_conversations"], usage["total_messages"], usage["active_users"]) == (2, 3, 2)
    assert report["parameters"]["bot_id"] == "bbbbbbbb-0000-4000-8000-000000000002"
    assert report["parameters"]["range"] == {
        "start": "2025-01-06T00:00:00Z",
        "end": "2025-01-13T00:00:00Z",
        "timezone": "UTC",
    }
