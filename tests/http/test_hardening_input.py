"""Issue 10's reproductions of items 6, 10, 11 and 12, replayed in-process: bad input is a 400/404 with
the contract's body (API.md section 2), never a 500; the range echo is RFC 3339; a JWT cannot live for
ever; a credential header sent twice and a zone that is not an IANA name are refused."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from app.auth import create_api_key
from tests.conftest import bearer, token_for

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
