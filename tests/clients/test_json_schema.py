"""Every route's real answer, validated against /openapi.json by a strict JSON Schema 2020-12 validator
(format checking on: date, date-time, uuid, uri-reference), $refs resolved in the spec itself."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.clients.conftest import Live

A = "/api/v1/analytics"
ANALYTICS_GETS = [
    "/usage",
    "/usage/daily",
    "/usage/monthly",
    "/conversations",
    "/conversations/volume",
    "/conversations/duration",
    "/conversations/resolution",
    "/engagement",
    "/engagement/retention",
    "/engagement/satisfaction",
    "/realtime",
    "/realtime/active",
]


def errors_of(spec: dict[str, Any], path: str, method: str, response: httpx.Response) -> list[str]:
    """The validation errors of the answer against the schema the spec gives for its status."""
    documented = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, f"{method} {path}: {response.status_code} undocumented"
    content = documented[str(response.status_code)].get("content")
    if content is None:
        assert response.content == b""
        return []
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{method} {path}: {media} undocumented"
    schema = content[media]["schema"]
    if schema.get("format") == "binary":
        assert response.content
        return []
    root = {**schema, "components": spec["components"]}
    Draft202012Validator.check_schema(root)
    validator = Draft202012Validator(root, format_checker=FormatChecker())
    return [
        f"{method} {path} {list(e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(response.json())
    ]


def test_the_format_checker_checks_the_formats_used() -> None:
    """Without the format packages a FormatChecker passes anything: this must fail on bad text."""
    checker = FormatChecker()
    for fmt in ("date", "date-time", "uuid", "uri-reference"):
        assert fmt in checker.checkers, fmt
    assert not checker.conforms("2025-13-01", "date")
    assert not checker.conforms("2025-01-01T00:00:00", "date-time")  # no offset
    assert not checker.conforms("abc", "uuid")


@pytest.mark.parametrize(
    "query",
    [{"days": "7"}, {}, {"period": "month", "group_by": "week", "timezone": "Europe/Berlin"}],
    ids=["days", "default", "period"],
)
def test_analytics_answers_follow_the_spec(live: Live, spec: dict[str, Any], query: dict[str, str]) -> None:
    problems: list[str] = []
    for path in ANALYTICS_GETS:
        params = {k: v for k, v in query.items() if not path.startswith("/realtime") or k == "timezone"}
        if path.endswith("retention") and params.get("group_by") == "hour":
            params.pop("group_by")
        r = httpx.get(live.base_url + A + path, params=params, headers=live.headers(live.viewer))
        assert r.status_code == 200, (path, r.text)
        problems += errors_of(spec, A + path, "get", r)
    assert problems == []


def test_empty_ranges_follow_the_spec(live: Live, spec: dict[str, Any]) -> None:
    """A bot without data: the averages and rates are null, and the spec must say they can be."""
    params = {"days": "3", "bot_id": str(uuid.uuid4())}
    problems: list[str] = []
    for path in ANALYTICS_GETS:
        r = httpx.get(live.base_url + A + path, params=params, headers=live.headers())
        assert r.status_code == 200, (path, r.text)
        problems += errors_of(spec, A + path, "get", r)
    usage = httpx.get(live.base_url + A + "/usage", params=params, headers=live.headers()).json()
    assert usage["avg_messages_per_conversation"] is None
    assert problems == []


def test_report_answers_follow_the_spec(live: Live, spec: dict[str, Any]) -> None:
    problems: list[str] = []
    reports = A + "/reports"
    ids = {}
    for fmt in ("json", "csv", "pdf", "html"):
        r = httpx.post(
            live.base_url + reports,
            json={"type": "usage", "format": fmt, "days": 7, "group_by": "day"},
            headers=live.headers(),
        )
        assert r.status_code == 202, r.text
        problems += errors_of(spec, reports, "post", r)
        ids[fmt] = r.json()["id"]
    one = A + "/reports/{report_id}"
    download = one + "/download"
    deadline = time.monotonic() + 60
    for fmt, report_id in ids.items():
        while True:
            r = httpx.get(live.base_url + one.format(report_id=report_id), headers=live.headers())
            problems += errors_of(spec, one, "get", r)
            if r.json()["status"] == "completed" or time.monotonic() > deadline:
                break
            early = httpx.get(live.base_url + download.format(report_id=report_id), headers=live.headers())
            if early.status_code == 409:
                problems += errors_of(spec, download, "get", early)
            time.sleep(0.2)
        assert r.json()["status"] == "completed", r.text
        r = httpx.get(live.base_url + download.format(report_id=report_id), headers=live.headers())
        assert r.status_code == 200
        assert (
            r.headers["content-type"].split(";")[0]
            == list(spec["paths"][download]["get"]["responses"]["200"]["content"])[
                ["pdf", "csv", "html", "json"].index(fmt)
            ]
        )
        problems += errors_of(spec, download, "get", r)
    listing = httpx.get(
        live.base_url + reports, params={"limit": "20", "type": "usage"}, headers=live.headers()
    )
    problems += errors_of(spec, reports, "get", listing)
    assert listing.json()["total"] >= 4
    r = httpx.delete(live.base_url + one.format(report_id=ids["html"]), headers=live.headers())
    assert r.status_code == 204
    problems += errors_of(spec, one, "delete", r)
    assert problems == []


def test_error_answers_follow_the_spec(live: Live, spec: dict[str, Any]) -> None:
    base = live.base_url
    cases: list[tuple[str, str, httpx.Response]] = [
        (A + "/usage", "get", httpx.get(base + A + "/usage", params={"days": "0"}, headers=live.headers())),
        (A + "/usage", "get", httpx.get(base + A + "/usage")),
        (A + "/reports", "get", httpx.get(base + A + "/reports", headers=live.headers(live.viewer))),
        (
            A + "/reports/{report_id}",
            "get",
            httpx.get(base + A + f"/reports/{uuid.uuid4()}", headers=live.headers()),
        ),
        (
            A + "/reports",
            "post",
            httpx.post(base + A + "/reports", json={"type": "nope"}, headers=live.headers()),
        ),
        (
            A + "/events",
            "post",
            httpx.post(
                base + A + "/events",
                content=b'{"events": [' + b'{"type": "message"},' * 70000 + b"{}]}",
                headers={**live.headers(), "content-type": "application/json"},
            ),
        ),
        (
            A + "/events",
            "post",
            httpx.post(base + A + "/events", json={"events": []}, headers=live.headers()),
        ),
    ]
    statuses = [r.status_code for _p, _m, r in cases]
    assert statuses == [400, 401, 403, 404, 400, 413, 400]
    problems = [e for path, method, r in cases for e in errors_of(spec, path, method, r)]
    assert problems == []


def test_health_and_ingest_answers_follow_the_spec(live: Live, spec: dict[str, Any]) -> None:
    r = httpx.get(live.base_url + "/health")
    problems = errors_of(spec, "/health", "get", r)
    event = {
        "type": "conversation_started",
        "timestamp": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "conversation_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
    }
    r = httpx.post(live.base_url + A + "/events", json={"events": [event]}, headers=live.headers())
    assert r.json() == {"accepted": 1, "duplicates": 0}
    problems += errors_of(spec, A + "/events", "post", r)
    assert problems == []


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_the_spec_is_openapi_3_1_for_generators(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    assert not [n for n in _walk(spec) if "nullable" in n]  # a 3.0 keyword that 3.1 tools ignore
    schemas = spec["components"]["schemas"]
    assert {"Error", "Range", "Report", "UsageStats", "ReportInput", "Event", "Period"} <= set(schemas)
    usage = schemas["UsageStats"]["properties"]
    assert usage["avg_messages_per_conversation"]["type"] == ["number", "null"]
    assert usage["range"]["$ref"] == "#/components/schemas/Range"  # with the GraphQL description beside it
    assert schemas["Range"]["properties"]["start"]["format"] == "date-time"
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    download = spec["paths"][A + "/reports/{report_id}/download"]["get"]["responses"]
    assert list(download["200"]["content"]) == [
        "application/pdf",
        "text/csv",
        "text/html",
        "application/json",
    ]
    assert download["200"]["content"]["application/pdf"]["schema"]["format"] == "binary"
    assert set(download) >= {"200", "400", "401", "403", "404", "409", "500"}
    events = schemas["EventBatch"]["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (1, 1000)
    assert schemas["Event"]["discriminator"]["propertyName"] == "type"
    retention = spec["paths"][A + "/engagement/retention"]["get"]["parameters"]
    group_by = next(p["schema"] for p in retention if p["name"] == "group_by")
    assert "hour" not in schemas[group_by["$ref"].rsplit("/", 1)[1]]["enum"]
    # Examples work on any day's data: no fixed dates anywhere.
    dated = [
        n for n in _walk(spec) if re.search(r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b", str(n.get("example", "")))
    ]
    assert dated == []
