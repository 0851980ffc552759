"""Event timestamps are RFC 3339 date-times with an offset and a year from 1970 (API.md sections 4
and 8); integers may be written `4.0`, as JSON Schema and GraphQL's Int take them (issue 10 item 9)."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import bearer, new_id

API = "/api/v1/analytics/events"
ADMIN = bearer(["admin"])


def _rating(timestamp: str, score: object = 4) -> dict[str, object]:
    return {
        "id": new_id(),
        "type": "satisfaction",
        "timestamp": timestamp,
        "conversation_id": new_id(),
        "bot_id": new_id(),
        "user_id": new_id(),
        "score": score,
    }


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-W48-5T10:00:00Z",  # ISO week date
        "20261127T100000Z",  # ISO basic format
        "2025-03-01T10:00:00,5Z",  # comma fraction
        "0001-01-01T00:00:00Z",  # year 1
        "1969-12-31T23:59:59Z",  # before 1970
        "2025-03-01T10:00Z",  # no seconds
        "2025-03-01T10:00:00+0100",  # offset without a colon
        "2025-03-01T10:00:00",  # no offset
        "2025-03-01 10:00:00Z",  # a space is not RFC 3339's separator here
    ],
)
async def test_a_timestamp_outside_rfc3339_is_a_400_naming_index_and_field(
    client: httpx.AsyncClient, timestamp: str
) -> None:
    good = _rating("2025-03-01T10:00:00Z")
    r = await client.post(API, json={"events": [good, _rating(timestamp)]}, headers=ADMIN)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_body"
    assert body["details"] == [{"index": 1, "field": "timestamp", "message": body["details"][0]["message"]}]


@pytest.mark.parametrize(
    "timestamp",
    [
        "1970-01-01T00:00:00Z",
        "2025-03-01t10:00:00z",
        "2025-03-01T10:00:00.123456789+05:30",  # more digits than microseconds: RFC 3339 allows them
        "2025-03-01T10:00:00.5-03:00",
    ],
)
async def test_rfc3339_timestamps_are_accepted(client: httpx.AsyncClient, timestamp: str) -> None:
    r = await client.post(API, json={"events": [_rating(timestamp)]}, headers=ADMIN)
    assert r.json() == {"accepted": 1, "duplicates": 0}, r.text


async def test_an_integer_written_as_a_float_with_no_fraction_is_that_integer(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(API, json={"events": [_rating("2025-03-01T10:00:00Z", 4.0)]}, headers=ADMIN)
    assert r.json() == {"accepted": 1, "duplicates": 0}, r.text
    for bad in (4.5, True, "4"):
        r = await client.post(API, json={"events": [_rating("2025-03-01T10:00:00Z", bad)]}, headers=ADMIN)
        assert r.status_code == 400 and r.json()["details"][0]["field"] == "score", (bad, r.text)
