"""The cost of an answer is worked out without listing its buckets, and agrees with the listing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.analytics import catalog
from app.analytics.ranges import RangeParams, bucket_count, bucket_starts, resolve_range

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Apia"]


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(1971, 1, 1), max_value=date(2030, 12, 31)),
    days=st.integers(min_value=0, max_value=400),
    hours=st.integers(min_value=0, max_value=23),
    zone=st.sampled_from(ZONES),
    group_by=st.sampled_from(["hour", "day", "week", "month"]),
)
def test_bucket_count_is_the_number_of_buckets_listed(
    start: date, days: int, hours: int, zone: str, group_by: str
) -> None:
    end = datetime.combine(start + timedelta(days=days), datetime.min.time()) + timedelta(hours=hours + 1)
    params = RangeParams(
        start_date=start.isoformat(), end_date=end.isoformat(), timezone=zone, group_by=group_by
    )
    r = resolve_range(params, NOW)
    if group_by == "hour" and days > 40:
        return  # listing 10,000 hours per example is slow; the arithmetic is the same
    assert bucket_count(r) == len(bucket_starts(r))


def test_costs_by_hand() -> None:
    year = RangeParams(start_date="2020-01-01", end_date="2020-12-31", group_by="month", timezone="UTC")
    january = RangeParams(start_date="2020-01-01", end_date="2020-01-31", timezone="UTC")
    assert catalog.RETENTION.cost(year, NOW) == 78  # 12 cohorts: 12 + 11 + ... + 1 cells
    assert catalog.USAGE_DAILY.cost(january, NOW) == 31
    assert catalog.ENGAGEMENT.cost(january, NOW) == 31
    assert catalog.USAGE.cost(january, NOW) == 1
    # Over its own bucket limit a field costs 1: it is refused before doing any work.
    widest = RangeParams(start_date="1970-01-01", end_date="9999-12-30", group_by="day")
    assert catalog.CONVERSATION_VOLUME.cost(widest, NOW) == 1
    assert catalog.ENGAGEMENT.cost(widest, NOW) == 10_000
    assert catalog.USAGE_MONTHLY.cost(RangeParams(), NOW) == 12
