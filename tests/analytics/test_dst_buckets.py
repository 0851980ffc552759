"""Week, month and day buckets across DST changes, written out by hand (API.md sections 3 and 8).

Europe/Berlin in 2026: summer time from Sunday 2026-03-29 02:00 (+01:00 -> +02:00) to Sunday
2026-10-25 03:00 (+02:00 -> +01:00), the last Sundays of March and October. America/Sao_Paulo:
summer time from Sunday 2018-11-04 00:00 (-03:00 -> -02:00; that local midnight never happens, the
day starts at 01:00 -02:00) to Sunday 2019-02-17 00:00 (-02:00 -> -03:00); none since 2019.

Each row is checked three ways: the app's range code, the test reference (which must agree with
the hand-written table too, since the other tests trust it), and the HTTP API with one conversation
at each bucket start and one a microsecond before it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.analytics.ranges import RangeParams, bucket_starts, resolve_range
from app.analytics.zones import format_datetime
from tests.analytics import reference as ref
from tests.factories import bearer

NOW = datetime(2027, 1, 15, 12, tzinfo=UTC)
ADMIN = bearer(["admin"])

# (timezone, group_by, start_date, end_date, range start, range end, bucket starts)
TABLE: dict[str, tuple[str, str, str, str, str, str, list[str]]] = {
    "berlin-weeks-spring": (
        "Europe/Berlin",
        "week",
        "2026-03-16",
        "2026-04-12",
        "2026-03-16T00:00:00+01:00",
        "2026-04-13T00:00:00+02:00",
        [
            "2026-03-16T00:00:00+01:00",
            "2026-03-23T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00",
            "2026-04-06T00:00:00+02:00",
        ],
    ),
    "berlin-weeks-spring-cut": (
        "Europe/Berlin",
        "week",
        "2026-03-25T12:00:00",
        "2026-04-01",
        "2026-03-25T12:00:00+01:00",
        "2026-04-02T00:00:00+02:00",
        ["2026-03-23T00:00:00+01:00", "2026-03-30T00:00:00+02:00"],
    ),
    "berlin-weeks-autumn": (
        "Europe/Berlin",
        "week",
        "2026-10-12",
        "2026-11-08",
        "2026-10-12T00:00:00+02:00",
        "2026-11-09T00:00:00+01:00",
        [
            "2026-10-12T00:00:00+02:00",
            "2026-10-19T00:00:00+02:00",
            "2026-10-26T00:00:00+01:00",
            "2026-11-02T00:00:00+01:00",
        ],
    ),
    "berlin-months": (
        "Europe/Berlin",
        "month",
        "2026-02-15",
        "2026-11-10",
        "2026-02-15T00:00:00+01:00",
        "2026-11-11T00:00:00+01:00",
        [
            "2026-02-01T00:00:00+01:00",
            "2026-03-01T00:00:00+01:00",
            "2026-04-01T00:00:00+02:00",
            "2026-05-01T00:00:00+02:00",
            "2026-06-01T00:00:00+02:00",
            "2026-07-01T00:00:00+02:00",
            "2026-08-01T00:00:00+02:00",
            "2026-09-01T00:00:00+02:00",
            "2026-10-01T00:00:00+02:00",
            "2026-11-01T00:00:00+01:00",
        ],
    ),
    "saopaulo-weeks-2018-spring": (
        "America/Sao_Paulo",
        "week",
        "2018-10-31",
        "2018-11-18",
        "2018-10-31T00:00:00-03:00",
        "2018-11-19T00:00:00-02:00",
        ["2018-10-29T00:00:00-03:00", "2018-11-05T00:00:00-02:00", "2018-11-12T00:00:00-02:00"],
    ),
    "saopaulo-days-skipped-midnight": (
        "America/Sao_Paulo",
        "day",
        "2018-11-03",
        "2018-11-05",
        "2018-11-03T00:00:00-03:00",
        "2018-11-06T00:00:00-02:00",
        ["2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"],
    ),
    "saopaulo-weeks-2019-autumn": (
        "America/Sao_Paulo",
        "week",
        "2019-02-11",
        "2019-02-24",
        "2019-02-11T00:00:00-02:00",
        "2019-02-25T00:00:00-03:00",
        ["2019-02-11T00:00:00-02:00", "2019-02-18T00:00:00-03:00"],
    ),
    "saopaulo-months-2018": (
        "America/Sao_Paulo",
        "month",
        "2018-10-15",
        "2019-03-10",
        "2018-10-15T00:00:00-03:00",
        "2019-03-11T00:00:00-03:00",
        [
            "2018-10-01T00:00:00-03:00",
            "2018-11-01T00:00:00-03:00",
            "2018-12-01T00:00:00-02:00",
            "2019-01-01T00:00:00-02:00",
            "2019-02-01T00:00:00-02:00",
            "2019-03-01T00:00:00-03:00",
        ],
    ),
    "saopaulo-months-2026-no-dst": (
        "America/Sao_Paulo",
        "month",
        "2026-10-20",
        "2026-11-05",
        "2026-10-20T00:00:00-03:00",
        "2026-11-06T00:00:00-03:00",
        ["2026-10-01T00:00:00-03:00", "2026-11-01T00:00:00-03:00"],
    ),
}


def _params(row: tuple[str, str, str, str, str, str, list[str]]) -> dict[str, Any]:
    tz, group_by, start, end = row[:4]
    return {"start_date": start, "end_date": end, "timezone": tz, "group_by": group_by}


@pytest.mark.parametrize("case", list(TABLE))
def test_the_app_cuts_the_buckets_of_the_table(case: str) -> None:
    row = TABLE[case]
    r = resolve_range(RangeParams(**_params(row)), NOW, series=True)
    assert r.echo() == {"start": row[4], "end": row[5], "timezone": row[0]}
    assert [format_datetime(s, r.tz, r.tz_name) for s in bucket_starts(r)] == row[6]


@pytest.mark.parametrize("case", list(TABLE))
def test_the_reference_cuts_the_buckets_of_the_table(case: str) -> None:
    row = TABLE[case]
    r = ref.resolve_range(NOW, **_params(row))
    assert r.echo() == {"start": row[4], "end": row[5], "timezone": row[0]}
    assert [r.label(s) for s, _, _ in r.buckets()] == row[6]


@pytest.mark.parametrize("case", list(TABLE))
async def test_volume_and_retention_over_http(client: httpx.AsyncClient, case: str) -> None:
    """A conversation at each bucket start, one a microsecond before each (but the first), each of its
    own new user: every bucket has 2 conversations and 2 new users, the last one 1 (and a first bucket
    that the range cuts one less)."""
    row = TABLE[case]
    bot = str(uuid.uuid4())
    events: list[dict[str, Any]] = []
    for i, label in enumerate(row[6]):
        at = datetime.fromisoformat(label)
        for t in [at, at - timedelta(microseconds=1)] if i else [at]:
            base = {"conversation_id": str(uuid.uuid4()), "bot_id": bot, "user_id": str(uuid.uuid4())}
            events.append(
                {"id": str(uuid.uuid4()), "type": "conversation_started", "timestamp": t.isoformat(), **base}
            )
    posted = await client.post("/api/v1/analytics/events", json={"events": events}, headers=ADMIN)
    assert posted.status_code == 200, posted.text
    params = {**_params(row), "bot_id": bot}
    vol = (await client.get("/api/v1/analytics/conversations/volume", params=params, headers=ADMIN)).json()
    assert vol["range"] == {"start": row[4], "end": row[5], "timezone": row[0]}
    n = len(row[6])
    expected = [2 if i < n - 1 else 1 for i in range(n)]
    # A first bucket that starts before the range (cut by it): its own start's conversation is outside.
    if datetime.fromisoformat(row[6][0]) < datetime.fromisoformat(row[4]):
        expected[0] -= 1
    assert [(x["bucket_start"], x["conversations"]) for x in vol["data"]] == list(
        zip(row[6], expected, strict=True)
    )
    ret = (await client.get("/api/v1/analytics/engagement/retention", params=params, headers=ADMIN)).json()
    assert [(c["cohort_start"], c["size"]) for c in ret["cohorts"]] == list(
        zip(row[6], expected, strict=True)
    )
