"""Issue 10's reproductions of items 6, 10, 11 and 12, replayed in-process: bad input is a 400/404 with
the contract's body (API.md section 2), never a 500; the range echo is RFC 3339; a JWT cannot live for
ever; a credential header sent twice and a zone that is not an IANA name are refused."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, NoReturn

import httpx
import pytest

from app.auth import create_api_key
from tests.factories import bearer, token_for

API = "/api/v1/analytics"
VIEWER = bearer(["analytics_viewer"])
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _assert_error(r: httpx.Response, status: int, error: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == error, body
    if field is not None:
        assert body["details"] == [{"field": field}], body
    return body


# --------------------------------------------------------------------------- item 10: RFC 3339 echo


async def test_a_zone_whose_offset_has_seconds_still_echoes_rfc_3339(client: httpx.AsyncClient) -> None:
    """Liberia kept -00:44:30 until 1972: the local midnight of 1970-01-01 is 00:44:30 UTC. RFC 3339
    offsets are whole minutes, so the echo writes that instant with the offset cut to -00:44."""
    params = {"start_date": "1970-01-01", "end_date": "1970-01-03", "timezone": "Africa/Monrovia"}
    for route in ("usage", "engagement", "conversations/volume"):
        r = await client.get(f"{API}/{route}", params=params, headers=VIEWER)
        assert r.status_code == 200, r.text
        rng = r.json()["range"]
        assert rng == {
            # 00:44:30Z written at -00:44 is 00:00:30 local (worked out by hand).
            "start": "1970-01-01T00:00:30-00:44",
            "end": "1970-01-04T00:00:30-00:44",  # end_date is inclusive,
            "timezone": "Africa/Monrovia",
        }
    r = await client.get(f"{API}/usage/daily", params=params, headers=VIEWER)
    assert [d["date"] for d in r.json()["data"]] == ["1970-01-01", "1970-01-02", "1970-01-03"]
    body = (await client.get(f"{API}/conversations/volume", params=params, headers=VIEWER)).json()
    stamps = [d["bucket_start"] for d in body["data"]]
    assert stamps and all(RFC3339.fullmatch(s) for s in stamps), stamps


# --------------------------------------------------------------------------- item 11: JWT lifetime


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 600)},  # a string, even a plausible one
        {"exp": 1e30},
        {"exp": 2**70},
        {"exp": int(time.time()) + 25 * 3600, "iat": None},  # 25 h ahead, no iat
        {"exp": int(time.time()) + 25 * 3600, "iat": int(time.time())},  # lives 25 h
        {"iat": "yesterday"},
        {"iat": int(time.time()) - 2 * 86400},  # minted two days ago, expires in ten minutes: lived 2 days
    ],
    ids=["string", "1e30", "2**70", "25h-no-iat", "25h", "string-iat", "2-day-old-iat"],
)
async def test_a_jwt_beyond_the_maximum_lifetime_is_401(
    client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    r = await client.get(f"{API}/usage", headers=bearer(["analytics_viewer"], **claims))
    _assert_error(r, 401, "invalid_token")
    doc = {"query": "{ usage { totalMessages } }"}
    body = (await client.post("/graphql", json=doc, headers=bearer(["analytics_viewer"], **claims))).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body


async def test_a_jwt_within_the_maximum_lifetime_is_accepted(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    for claims in (
        {"exp": now + 23 * 3600, "iat": now},
        {"exp": now + 600, "iat": None},
        {"exp": now + 600.5},
    ):
        r = await client.get(f"{API}/usage", headers=bearer(["analytics_viewer"], **claims))
        assert r.status_code == 200, (claims, r.text)


async def test_the_maximum_lifetime_is_a_setting(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    monkeypatch.setattr(get_settings(), "jwt_max_lifetime_minutes", 5)
    now = int(time.time())
    r = await client.get(f"{API}/usage", headers=bearer(["analytics_viewer"], exp=now + 600, iat=now))
    body = _assert_error(r, 401, "invalid_token")
    assert "5 minutes" in body["message"]
    r = await client.get(f"{API}/usage", headers=bearer(["analytics_viewer"], exp=now + 240, iat=now))
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- item 12: one credential


def _twice(name: str, first: str, second: str) -> list[tuple[str, str]]:
    return [(name, first), (name, second)]


async def _api_key() -> str:
    plain, _ = await create_api_key("dash", ["analytics_viewer"], None)
    return plain


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
async def test_a_credential_header_sent_twice_is_401(client: httpx.AsyncClient, header: str) -> None:
    if header == "Authorization":
        good = "Bearer " + token_for(["analytics_viewer"])
        headers = _twice(header, good, "Bearer " + token_for(["admin"]))
    else:
        good = await _api_key()
        headers = _twice(header, good, good)  # even the same valid value twice
    # Each value alone is accepted: the 401 comes from the repetition.
    assert (await client.get(f"{API}/usage", headers={header: good})).status_code == 200
    r = await client.get(f"{API}/usage", headers=headers)
    body = _assert_error(r, 401, "invalid_token")
    assert header in body["message"]
    doc = {"query": "{ usage { totalMessages } }"}
    body = (await client.post("/graphql", json=doc, headers=headers)).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body


# --------------------------------------------------------------------------- item 12: IANA zones only


@pytest.mark.parametrize(
    "zone",
    ["localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Paris", "/etc/localtime", "x" * 300],
)
async def test_a_timezone_that_is_not_an_iana_name_is_400(client: httpx.AsyncClient, zone: str) -> None:
    for route in ("usage", "realtime", "engagement/retention"):
        r = await client.get(f"{API}/{route}", params={"timezone": zone}, headers=VIEWER)
        body = _assert_error(r, 400, "invalid_parameter", "timezone")
        assert len(body["message"]) < 200
    doc = {
        "query": "query($z: String) { usage(filter: {timezone: $z}) { totalMessages } }",
        "variables": {"z": zone},
    }
    body = (await client.post("/graphql", json=doc, headers=VIEWER)).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert body["errors"][0]["extensions"]["details"] == [{"field": "timezone"}]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
async def test_iana_names_are_accepted(client: httpx.AsyncClient, zone: str) -> None:
    r = await client.get(f"{API}/usage", params={"timezone": zone}, headers=VIEWER)
    assert r.status_code == 200, r.text
    assert r.json()["range"]["timezone"] == zone


# --------------------------------------------------------------------------- item 6: no 500 from input

TRACK = "mutation($events: [EventInput!]!) { trackEvents(events: $events) { accepted } }"
INT_VAR = "query($d: Int) { usage(filter: {days: $d}) { totalMessages } }"


def _raw_graphql(body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": {**VIEWER, "content-type": "application/json"}}


def _assert_graphql_request_error(r: httpx.Response) -> None:
    """/graphql answers in the GraphQL response shape (GraphQL-over-HTTP), not API.md section 2's."""
    assert r.status_code == 400, r.text
    body: dict[str, Any] = r.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "rest_error": "invalid_body"}, body


async def test_a_graphql_body_that_is_not_utf8_or_too_deep_is_400(client: httpx.AsyncClient) -> None:
    not_utf8 = b'{"query": "{ usage { totalMessages } }\xff"}'
    deep = b'{"query": "' + INT_VAR.encode() + b'", "variables": {"d": ' + b"[" * 1000 + b"]" * 1000 + b"}}"
    for body in (not_utf8, deep, b"\xff\xfe", b"{not json"):
        r = await client.post("/graphql", **_raw_graphql(body))
        _assert_graphql_request_error(r)
    # The same depth in a GET's variables.
    params = {"query": INT_VAR, "variables": '{"d": ' + "[" * 1000 + "]" * 1000 + "}"}
    r = await client.get("/graphql", params=params, headers=VIEWER)
    _assert_graphql_request_error(r)


async def test_an_events_body_nested_1000_deep_is_400(client: httpx.AsyncClient) -> None:
    body = b'{"events": [' + b"[" * 1000 + b"]" * 1000 + b"]}"
    r = await client.post(
        f"{API}/events",
        content=body,
        headers={**bearer(["analytics_ingest"]), "content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_body"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (INT_VAR, "NaN"),
        (INT_VAR, "Infinity"),
        (INT_VAR, "-Infinity"),
        (INT_VAR, "1e400"),
        (INT_VAR, '"seven"'),
        (INT_VAR, "7.5"),
        (INT_VAR, str(2**40)),
        ("query($d: Int!) { usage(filter: {days: $d}) { totalMessages } }", None),
        ("query($g: GroupBy) { usage(filter: {groupBy: $g}) { totalMessages } }", '"NOPE"'),
        ("query($g: GroupBy) { usage(filter: {groupBy: $g}) { totalMessages } }", '"day"'),
        ("query($f: AnalyticsFilter) { usage(filter: $f) { totalMessages } }", '{"nope": 1}'),
    ],
)
async def test_bad_variables_are_bad_user_input(
    client: httpx.AsyncClient, query: str, variables: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    name = query.split("$")[1].split(":")[0]
    extra = "" if variables is None else f', "variables": {{"{name}": {variables}}}'
    payload = f'{{"query": "{query}"{extra}}}'
    r = await client.post("/graphql", **_raw_graphql(payload.encode()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert f"${name}" in body["errors"][0]["message"]
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]  # not an incident


async def test_a_wrong_output_value_is_still_internal(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coercion rule covers variables only: a resolver's failure stays an INTERNAL_SERVER_ERROR."""
    import dataclasses

    from app.analytics import catalog

    async def broken(*args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("boom")

    monkeypatch.setattr(catalog, "USAGE", dataclasses.replace(catalog.USAGE, answer=broken))
    body = (
        await client.post("/graphql", json={"query": "{ usage { totalMessages } }"}, headers=VIEWER)
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR", body


LONG_ID = "a" * 100_000
REST_LONG_ID = "b" * 60_000  # an httpx URL holds at most 64 KiB


@pytest.mark.parametrize("report_id", ["abc", "a" * 37, "0" * 36 + "0", REST_LONG_ID])
async def test_a_report_id_over_36_characters_is_404_like_any_unknown_id(
    client: httpx.AsyncClient, report_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    admin = bearer(["admin"])
    for method, path in (
        ("GET", f"{API}/reports/{report_id}"),
        ("DELETE", f"{API}/reports/{report_id}"),
        ("GET", f"{API}/reports/{report_id}/download"),
    ):
        r = await client.request(method, path, headers=admin)
        body = _assert_error(r, 404, "not_found")
        assert len(body["message"]) < 100
    assert not [rec for rec in caplog.records if report_id in rec.getMessage()]


@pytest.mark.parametrize("report_id", ["abc", "a" * 37, LONG_ID, "a\x00b"])
async def test_graphql_report_and_delete_report_with_a_bad_id_are_not_found(
    client: httpx.AsyncClient, report_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    admin = bearer(["admin"])
    for doc in (
        "query($i: String!) { report(id: $i) { id } }",
        "mutation($i: String!) { deleteReport(id: $i) }",
    ):
        r = await client.post("/graphql", json={"query": doc, "variables": {"i": report_id}}, headers=admin)
        body = r.json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
        assert len(body["errors"][0]["message"]) < 100
    text = caplog.text
    assert LONG_ID not in text


def _event_with(field: str, value: str) -> dict[str, Any]:
    ids = {k: str(uuid.uuid4()) for k in ("conversation_id", "bot_id", "user_id")}
    ev: dict[str, Any] = {"type": "conversation_started", "timestamp": "2026-01-01T00:00:00Z", **ids}
    if field == "intent":
        ev.update(type="message", role="user")
    if field == "comment":
        ev.update(type="satisfaction", score=4)
    ev[field] = value
    return ev


@pytest.mark.parametrize("field", ["intent", "channel", "comment"])
async def test_nul_in_an_event_string_is_400_naming_the_field(client: httpx.AsyncClient, field: str) -> None:
    ingest = bearer(["analytics_ingest"])
    r = await client.post(f"{API}/events", json={"events": [_event_with(field, "a\x00b")]}, headers=ingest)
    body = _assert_error(r, 400, "invalid_body")
    assert [(d["index"], d["field"]) for d in body["details"]] == [(0, field)]
    doc = {"query": TRACK, "variables": {"events": [_graphql_event(_event_with(field, "a\x00b"))]}}
    body = (await client.post("/graphql", json=doc, headers=ingest)).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    # Nothing was stored, on either path; the same value without NUL is stored.
    usage = (await client.get(f"{API}/usage", params={"start_date": "2025-12-31"}, headers=VIEWER)).json()
    assert usage["total_conversations"] == 0, usage
    r = await client.post(f"{API}/events", json={"events": [_event_with(field, "ab")]}, headers=ingest)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def _graphql_event(ev: dict[str, Any]) -> dict[str, Any]:
    out = {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): v for k, v in ev.items()}
    out["type"] = ev["type"].upper()
    if "role" in ev:
        out["role"] = ev["role"].upper()
    return out


async def test_nul_in_a_report_title_is_400_naming_title(client: httpx.AsyncClient) -> None:
    admin = bearer(["admin"])
    r = await client.post(
        f"{API}/reports", json={"type": "usage", "format": "json", "title": "a\x00b"}, headers=admin
    )
    _assert_error(r, 400, "invalid_body", "title")
    doc = {
        "query": "mutation($t: String) { createReport(input: {type: USAGE, format: JSON, title: $t}) { id } }",
        "variables": {"t": "a\x00b"},
    }
    body = (await client.post("/graphql", json=doc, headers=admin)).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert body["errors"][0]["extensions"]["details"] == [{"field": "title"}]
    assert (await client.get(f"{API}/reports", headers=admin)).json()["total"] == 0
