"""The comparison range of `compare` (API.md section 9), worked out by hand: each row is a range,
a compare, the instant it is asked at, and the comparison range's echo. Both the service
(`app.analytics.comparison.comparison_range`) and the reference (`tests/analytics/reference.py`)
must give it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.analytics.answers import range_echo
from app.analytics.comparison import comparison_range
from app.analytics.ranges import RangeParams, resolve_range
from app.vocabulary import Compare
from tests.analytics import reference as ref

NY = "America/New_York"
LATER = datetime(2030, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 3, 12, 15, 7, 30, 250_000, tzinfo=UTC)  # 11:07:30.25 in New York (EDT)

ROWS: list[tuple[str, dict[str, Any], str, datetime, str, str]] = [
    # previous_period, both bounds local midnights: the same number of local calendar days before.
    (
        "seven UTC days",
        {"start_date": "2025-03-01", "end_date": "2025-03-07"},
        "previous_period",
        LATER,
        "2025-02-22T00:00:00Z",
        "2025-03-01T00:00:00Z",
    ),
    (
        "seven New York days holding the 23-hour day: seven days, not 7 x 24 - 1 hours",
        {"start_date": "2025-03-09", "end_date": "2025-03-15", "timezone": NY},
        "previous_period",
        LATER,
        "2025-03-02T00:00:00-05:00",
        "2025-03-09T00:00:00-05:00",
    ),
    (
        "the 25-hour day against the day before",
        {"start_date": "2025-11-02", "end_date": "2025-11-02", "timezone": NY},
        "previous_period",
        LATER,
        "2025-11-01T00:00:00-04:00",
        "2025-11-02T00:00:00-04:00",
    ),
    (
        "a day whose midnight is skipped starts at 01:00, its first instant: still a local midnight",
        {"start_date": "2018-11-04", "end_date": "2018-11-10", "timezone": "America/Sao_Paulo"},
        "previous_period",
        LATER,
        "2018-10-28T00:00:00-03:00",
        "2018-11-04T01:00:00-02:00",
    ),
    (
        "period=month (1 to 12 March, up to the end of today): the 12 days before, cut to the 11 days "
        "10:07:30.25 elapsed since 1 March 00:00 EST",
        {"period": "month", "timezone": NY},
        "previous_period",
        NOW,
        "2025-02-17T00:00:00-05:00",
        "2025-02-28T10:07:30.250000-05:00",
    ),
    (
        "period=today: yesterday up to the same local time",
        {"period": "today", "timezone": "Asia/Kolkata"},
        "previous_period",
        NOW,
        "2025-03-11T00:00:00+05:30",
        "2025-03-11T20:37:30.250000+05:30",
    ),
    # previous_period otherwise: the same absolute length just before the start.
    (
        "naive datetimes across the DST change: 23 hours long, so the 23 hours before",
        {"start_date": "2025-03-08T12:00:00", "end_date": "2025-03-09T12:00:00", "timezone": NY},
        "previous_period",
        LATER,
        "2025-03-07T13:00:00-05:00",
        "2025-03-08T12:00:00-05:00",
    ),
    (
        "a date start with a datetime end: 30 hours",
        {"start_date": "2025-03-01", "end_date": "2025-03-02T06:00:00Z"},
        "previous_period",
        LATER,
        "2025-02-27T18:00:00Z",
        "2025-03-01T00:00:00Z",
    ),
    (
        "a range starting after now compares with an empty range at the comparison's start",
        {"start_date": "2025-04-01", "end_date": "2025-04-07"},
        "previous_period",
        NOW,
        "2025-03-25T00:00:00Z",
        "2025-03-25T00:00:00Z",
    ),
    (
        "the widest range: a comparison reaching before the year 1 starts at 0001-01-02, and lasts "
        "the 60 years elapsed from 1970 to now",
        {"start_date": "1970-01-01", "end_date": "9999-12-30"},
        "previous_period",
        LATER,
        "0001-01-02T00:00:00Z",
        "0061-01-02T00:00:00Z",
    ),
    # previous_year: the wall-clock bounds one year earlier.
    (
        "from 29 February: 28 February",
        {"start_date": "2024-02-29", "end_date": "2024-03-01"},
        "previous_year",
        LATER,
        "2023-02-28T00:00:00Z",
        "2023-03-02T00:00:00Z",
    ),
    (
        "28 February alone of a leap year: its end, 29 February 00:00, becomes 28 February: empty",
        {"start_date": "2024-02-28", "end_date": "2024-02-28"},
        "previous_year",
        LATER,
        "2023-02-28T00:00:00Z",
        "2023-02-28T00:00:00Z",
    ),
    (
        "a repeated hour a year earlier is read with fold=0 (its first occurrence, EDT)",
        {"start_date": "2026-11-02T01:30:00", "end_date": "2026-11-02T03:00:00", "timezone": NY},
        "previous_year",
        LATER,
        "2025-11-02T01:30:00-04:00",
        "2025-11-02T03:00:00-05:00",
    ),
    (
        "a skipped hour a year earlier, read with fold=0, falls after the end: empty at the start",
        {"start_date": "2026-03-09T02:30:00", "end_date": "2026-03-09T03:10:00", "timezone": NY},
        "previous_year",
        LATER,
        "2025-03-09T03:30:00-04:00",
        "2025-03-09T03:30:00-04:00",
    ),
    (
        "days=7 a year earlier, cut to the elapsed time",
        {"days": 7},
        "previous_year",
        NOW,
        "2024-03-06T00:00:00Z",
        "2024-03-12T15:07:30.250000Z",
    ),
]


@pytest.mark.parametrize(
    ("params", "compare", "now", "start", "end"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_the_comparison_range(
    params: dict[str, Any], compare: str, now: datetime, start: str, end: str
) -> None:
    r = resolve_range(RangeParams(**params), now)
    echo = range_echo(comparison_range(r, Compare(compare), now))
    assert (echo.start, echo.end) == (start, end)
    expected = ref.comparison_range(ref.resolve_range(now, **params), compare, now).echo()
    assert (expected["start"], expected["end"]) == (start, end)
