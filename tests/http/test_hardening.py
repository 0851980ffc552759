"""Issue 10's reproductions, replayed: bounded ranges and retention, bot scope on end events, and
ingestion errors that name no other bot or user (API.md sections 2, 4 and 8; docs/decisions.md)."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import httpx
import pytest

from app.reports.jobs import ReportRunner
from tests.factories import bearer

API = "/api/v1/analytics"
EVENTS = f"{API}/events"
ADMIN = bearer(["admin"])
VIEWER = bearer(["analytics_viewer"])
INGEST = bearer(["analytics_ingest"])
MB = 1024 * 1024
TRACK = "mutation($events: [EventInput!]!) { trackEvents(events: $events) { accepted duplicates } }"


def _rss() -> int:
    """This process's resident set size in bytes (the server runs in-process, over ASGI)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _replay(send: Callable[[], Awaitable[httpx.Response]], times: int = 100) -> tuple[float, int]:
    """Send a request `times` times (after a warm-up): the median seconds and the RSS growth in bytes."""
    for _ in range(5):
        await send()
    before = _rss()
    seconds = []
    for _ in range(times):
        t0 = time.perf_counter()
        await send()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), _rss() - before


def _assert_400(r: httpx.Response, error: str, field: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == error
    assert body["details"] == [{"field": field}], body


# --------------------------------------------------------------------------- item 1: years 1970-9999


async def test_a_start_date_in_the_year_1_is_a_fast_400_that_holds_no_memory(
    client: httpx.AsyncClient,
) -> None:
    params = {"start_date": "0001-01-01", "timezone": "America/New_York"}
    r = await client.get(f"{API}/engagement", params=params, headers=VIEWER)
    _assert_400(r, "invalid_parameter", "start_date")
    assert "1970" in r.json()["message"] and "9999" in r.json()["message"]

    median, growth = await _replay(lambda: client.get(f"{API}/engagement", params=params, headers=VIEWER))
    assert median < 0.1, f"median {median * 1000:.1f} ms"
    assert growth < 50 * MB, f"RSS grew by {growth / MB:.1f} MB"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "1969-12-31"}, "start_date"),
        ({"start_date": "1969-12-31T23:00:00Z", "end_date": "2025-01-01"}, "start_date"),
        ({"start_date": "2025-01-01", "end_date": "0999-01-01"}, "end_date"),
        ({"end_date": "1969-12-31"}, "end_date"),
        # Its end, the start of the year 10000, cannot be written in RFC 3339 (docs/decisions.md).
        ({"start_date": "2025-01-01", "end_date": "9999-12-31"}, "end_date"),
        # The end in UTC is in 9999, but in the zone (UTC+14) it is the year 10000.
        (
            {
                "start_date": "2025-01-01",
                "end_date": "9999-12-31T23:00:00Z",
                "timezone": "Pacific/Kiritimati",
            },
            "end_date",
        ),
    ],
)
async def test_years_outside_1970_to_9999_are_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    for route in ("usage", "engagement", "usage/daily", "conversations/volume"):
        r = await client.get(f"{API}/{route}", params=params, headers=VIEWER)
        _assert_400(r, "invalid_parameter", field)
    r = await client.post(REPORTS, json={"type": "engagement", "format": "json", **params}, headers=ADMIN)
    _assert_400(r, "invalid_body", field)


async def test_graphql_refuses_the_year_1(client: httpx.AsyncClient) -> None:
    doc = '{ engagement(filter: {startDate: "0001-01-01", timezone: "America/New_York"}) { activeUsers } }'
    body = (await client.post("/graphql", json={"query": doc}, headers=VIEWER)).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["details"] == [{"field": "start_date"}]


WIDEST = {"start_date": "1970-01-01", "end_date": "9999-12-30", "timezone": "America/New_York"}
WIDEST_DAYS = (date(9999, 12, 30) - date(1970, 1, 1)).days + 1


async def test_engagement_over_the_widest_range_answers_fast_on_no_data(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/engagement", params=WIDEST, headers=VIEWER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range"] == {
        "start": "1970-01-01T00:00:00-05:00",
        "end": "9999-12-31T00:00:00-05:00",
        "timezone": "America/New_York",
    }
    assert body["active_users"] == 0 and body["avg_daily_active_users"] == 0
    assert body["stickiness"] is None

    median, growth = await _replay(lambda: client.get(f"{API}/engagement", params=WIDEST, headers=VIEWER))
    assert median < 0.1, f"median {median * 1000:.1f} ms"
    assert growth < 50 * MB, f"RSS grew by {growth / MB:.1f} MB"


def _started(conv: str, bot: str, user: str, ts: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "conversation_started",
        "timestamp": ts,
        "conversation_id": conv,
        "bot_id": bot,
        "user_id": user,
    }


def _message(conv: str, bot: str, user: str, ts: str, role: str = "user") -> dict[str, Any]:
    return {**_started(conv, bot, user, ts), "type": "message", "role": role}


async def test_daily_actives_over_the_widest_range_are_a_mean_over_every_day_it_touches(
    client: httpx.AsyncClient,
) -> None:
    bot, u1, u2 = (str(uuid.uuid4()) for _ in range(3))
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        _started(c1, bot, u1, "2025-01-10T15:00:00Z"),  # 10 January in New York
        _message(c1, bot, u1, "2025-01-11T15:00:00Z"),  # 11 January
        _started(c2, bot, u2, "2025-01-12T03:00:00Z"),  # still 11 January in New York (22:00)
        _message(c2, bot, u2, "2025-01-12T03:01:00Z", role="bot"),  # bot messages make nobody active
    ]
    r = await client.post(EVENTS, json={"events": events}, headers=INGEST)
    assert r.status_code == 200, r.text

    body = (await client.get(f"{API}/engagement", params=WIDEST, headers=VIEWER)).json()
    # Daily actives: 10 Jan {u1}, 11 Jan {u1, u2}; every other day of the range has none.
    assert body["active_users"] == 2 and body["new_users"] == 2
    assert body["avg_daily_active_users"] == pytest.approx(3 / WIDEST_DAYS)
    assert body["stickiness"] == pytest.approx(3 / WIDEST_DAYS / 2)

    median, growth = await _replay(
        lambda: client.get(f"{API}/engagement", params=WIDEST, headers=VIEWER), times=30
    )
    assert median < 0.1, f"median {median * 1000:.1f} ms"
    assert growth < 50 * MB, f"RSS grew by {growth / MB:.1f} MB"


# --------------------------------------------------------------------------- item 2: retention cells

REPORTS = f"{API}/reports"


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Report runners claim nothing: an accepted report stays pending (no rendering in the test)."""

    async def nothing(self: ReportRunner) -> None:
        return None

    monkeypatch.setattr(ReportRunner, "_claim", nothing)


async def test_retention_over_100_cohorts_is_a_fast_400_naming_group_by(client: httpx.AsyncClient) -> None:
    params = {"days": "1000", "group_by": "day"}
    r = await client.get(f"{API}/engagement/retention", params=params, headers=VIEWER)
    _assert_400(r, "invalid_parameter", "group_by")
    assert "100" in r.json()["message"]

    median, growth = await _replay(
        lambda: client.get(f"{API}/engagement/retention", params=params, headers=VIEWER)
    )
    assert median < 0.1, f"median {median * 1000:.1f} ms"
    assert growth < 50 * MB, f"RSS grew by {growth / MB:.1f} MB"


async def test_retention_answers_100_cohorts_and_refuses_101(client: httpx.AsyncClient) -> None:
    r = await client.get(
        f"{API}/engagement/retention", params={"days": "100", "group_by": "day"}, headers=VIEWER
    )
    assert r.status_code == 200, r.text
    cohorts = r.json()["cohorts"]
    assert len(cohorts) == 100 and sum(len(c["retention"]) for c in cohorts) == 100 * 101 // 2
    r = await client.get(
        f"{API}/engagement/retention", params={"days": "101", "group_by": "day"}, headers=VIEWER
    )
    _assert_400(r, "invalid_parameter", "group_by")
    # The default bucket (week) counts too: 3,660 days are 523 or 524 weeks.
    r = await client.get(f"{API}/engagement/retention", params={"days": "3660"}, headers=VIEWER)
    _assert_400(r, "invalid_parameter", "group_by")
    # The other series keep the 10,000-bucket limit.
    r = await client.get(
        f"{API}/conversations/volume", params={"days": "1000", "group_by": "day"}, headers=VIEWER
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"type": "retention", "days": 3660, "group_by": "day"}, 400),
        ({"type": "retention", "days": 1000}, 400),  # 143 weeks
        ({"type": "full", "days": 365, "group_by": "day"}, 400),
        ({"type": "engagement", "days": 365, "group_by": "day"}, 400),
        # With group_by=hour a report's retention uses week (API.md 8): 53 or 54 weeks.
        ({"type": "full", "days": 365, "group_by": "hour"}, 202),
        ({"type": "retention", "days": 365, "group_by": "week"}, 202),
        ({"type": "usage", "days": 365, "group_by": "day"}, 202),  # no retention section
    ],
)
async def test_a_report_whose_retention_exceeds_100_cohorts_is_refused(
    client: httpx.AsyncClient, paused: None, body: dict[str, Any], status: int
) -> None:
    r = await client.post(REPORTS, json={"format": "json", **body}, headers=ADMIN)
    assert r.status_code == status, r.text
    if status == 400:
        _assert_400(r, "invalid_body", "group_by")


# --------------------------------------------------------------------------- items 3 and 7: bot scope


BOT_A, BOT_B = str(uuid.uuid4()), str(uuid.uuid4())
USER_A, USER_B = str(uuid.uuid4()), str(uuid.uuid4())
INGEST_A = bearer(["analytics_ingest"], [BOT_A])


async def _numbers(client: httpx.AsyncClient, bot: str) -> dict[str, Any]:
    """What a viewer sees of one bot: conversation outcomes, realtime sessions, engagement."""
    out: dict[str, Any] = {}
    for route, params in (
        ("conversations", {"bot_id": bot, "days": "7"}),
        ("realtime", {"bot_id": bot, "window_minutes": "60"}),
        ("realtime/active", {"bot_id": bot, "window_minutes": "60"}),
        ("engagement", {"bot_id": bot, "days": "7"}),
    ):
        r = await client.get(f"{API}/{route}", params=params, headers=VIEWER)
        assert r.status_code == 200, r.text
        out[route] = {k: v for k, v in r.json().items() if k != "as_of"}
    return out


def _recent(minutes_ago: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


async def _two_bots(client: httpx.AsyncClient) -> tuple[str, str]:
    """One active conversation of bot A and one of bot B, stored by an unscoped credential."""
    conv_a, conv_b = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        _started(conv_a, BOT_A, USER_A, _recent(5)),
        _message(conv_a, BOT_A, USER_A, _recent(4)),
        _started(conv_b, BOT_B, USER_B, _recent(5)),
        _message(conv_b, BOT_B, USER_B, _recent(4)),
    ]
    r = await client.post(EVENTS, json={"events": events}, headers=INGEST)
    assert r.status_code == 200 and r.json() == {"accepted": 4, "duplicates": 0}, r.text
    return conv_a, conv_b


def _end(conv: str, resolution: str = "escalated") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "conversation_ended",
        "timestamp": _recent(1),
        "conversation_id": conv,
        "resolution": resolution,
    }


async def test_a_scoped_credential_cannot_end_another_bots_conversation(client: httpx.AsyncClient) -> None:
    conv_a, conv_b = await _two_bots(client)
    before_a, before_b = await _numbers(client, BOT_A), await _numbers(client, BOT_B)
    assert before_b["conversations"]["active"] == 1 and before_b["realtime"]["active_sessions"] == 1

    # Its own conversation's end rides along: the whole batch is refused.
    batch = [_end(conv_a, "resolved"), _end(conv_b)]
    r = await client.post(EVENTS, json={"events": batch}, headers=INGEST_A)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "insufficient_permissions"
    assert BOT_B not in r.text and USER_B not in r.text
    assert await _numbers(client, BOT_B) == before_b
    assert await _numbers(client, BOT_A) == before_a

    # The same through GraphQL.
    gql = [
        {
            "id": e["id"],
            "type": "CONVERSATION_ENDED",
            "timestamp": e["timestamp"],
            "conversationId": e["conversation_id"],
            "resolution": e["resolution"].upper(),
        }
        for e in batch
    ]
    r = await client.post("/graphql", json={"query": TRACK, "variables": {"events": gql}}, headers=INGEST_A)
    body = r.json()
    assert body["data"] is None, body
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _numbers(client, BOT_B) == before_b
    assert await _numbers(client, BOT_A) == before_a

    # Alone, its own end is accepted.
    r = await client.post(EVENTS, json={"events": batch[:1]}, headers=INGEST_A)
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0}, r.text
    assert (await _numbers(client, BOT_A))["conversations"]["resolved"] == 1
    assert await _numbers(client, BOT_B) == before_b


async def test_a_scoped_credential_naming_its_bot_on_another_bots_conversation_is_403(
    client: httpx.AsyncClient,
) -> None:
    _, conv_b = await _two_bots(client)
    before_b = await _numbers(client, BOT_B)
    r = await client.post(
        EVENTS, json={"events": [_message(conv_b, BOT_A, USER_B, _recent(2))]}, headers=INGEST_A
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "insufficient_permissions"
    assert BOT_B not in r.text and USER_B not in r.text
    assert await _numbers(client, BOT_B) == before_b


async def test_an_end_for_a_conversation_not_yet_known_is_kept_for_the_bot_that_names_it(
    client: httpx.AsyncClient,
) -> None:
    """Events arrive out of order (API.md 4), so an end may come first: it is accepted from any ingest
    credential and the conversation belongs to the bot whose event names it later
    (docs/decisions.md)."""
    conv = str(uuid.uuid4())
    r = await client.post(EVENTS, json={"events": [_end(conv, "resolved")]}, headers=INGEST_A)
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0}, r.text
    r = await client.post(
        EVENTS, json={"events": [_started(conv, BOT_A, USER_A, _recent(10))]}, headers=INGEST_A
    )
    assert r.status_code == 200, r.text
    assert (await _numbers(client, BOT_A))["conversations"]["resolved"] == 1


async def test_ownership_errors_name_no_other_bot_or_user(client: httpx.AsyncClient) -> None:
    _, conv_b = await _two_bots(client)
    other_bot, other_user = str(uuid.uuid4()), str(uuid.uuid4())
    batch = [
        _message(conv_b, other_bot, USER_B, _recent(2)),  # names another bot
        _message(conv_b, BOT_B, other_user, _recent(2)),  # names another user
    ]
    r = await client.post(EVENTS, json={"events": batch}, headers=INGEST)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_body"
    assert body["details"] == [
        {"index": 0, "field": "bot_id", "message": "conversation belongs to another bot"},
        {"index": 1, "field": "user_id", "message": "conversation belongs to another user"},
    ]
    assert BOT_B not in r.text and USER_B not in r.text

    gql = [
        {
            "id": e["id"],
            "type": "MESSAGE",
            "role": "USER",
            "timestamp": e["timestamp"],
            "conversationId": e["conversation_id"],
            "botId": e["bot_id"],
            "userId": e["user_id"],
        }
        for e in batch
    ]
    r = await client.post("/graphql", json={"query": TRACK, "variables": {"events": gql}}, headers=INGEST)
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert BOT_B not in r.text and USER_B not in r.text
