"""Range resolution and bucketing (API.md sections 3 and 8). Expected values are computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.analytics.ranges import (
    GROUP_BYS,
    MAX_BUCKETS,
    PERIODS,
    RangeParams,
    ResolvedRange,
    bucket_bounds,
    bucket_starts,
    resolve_range,
)
from app.analytics.zones import format_datetime, parse_timezone
from app.errors import InvalidParameter

# Sunday 2025-06-15, 10:00 UTC.
NOW = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def span(r: ResolvedRange) -> tuple[datetime, datetime]:
    return r.start, r.end


def resolve(now: datetime = NOW, **kwargs: Any) -> ResolvedRange:
    options = {
        k: kwargs.pop(k)
        for k in ("default", "default_group_by", "series", "bucket_field", "allowed_group_bys")
        if k in kwargs
    }
    return resolve_range(RangeParams(**kwargs), now, **options)


def error_field(now: datetime = NOW, **kwargs: Any) -> str:
    with pytest.raises(InvalidParameter) as info:
        resolve(now, **kwargs)
    assert info.value.details == [{"field": info.value.field}]
    assert info.value.message
    return info.value.field


def labels(r: ResolvedRange, group_by: str | None = None) -> list[str]:
    return [format_datetime(s, r.tz, r.tz_name) for s in bucket_starts(r, group_by)]


# --------------------------------------------------------------------------- constants


def test_constants() -> None:
    assert GROUP_BYS == ("hour", "day", "week", "month")
    assert PERIODS == ("today", "week", "month", "year")
    assert MAX_BUCKETS == 10_000


# --------------------------------------------------------------------------- defaults, days, period


def test_default_is_last_30_days_ending_at_end_of_today() -> None:
    r = resolve()
    assert span(r) == (utc(2025, 5, 17), utc(2025, 6, 16))
    assert r.start.tzinfo is UTC and r.end.tzinfo is UTC
    assert r.tz_name == "UTC" and r.group_by == "day"
    assert r.echo() == {"start": "2025-05-17T00:00:00Z", "end": "2025-06-16T00:00:00Z", "timezone": "UTC"}
    assert len(bucket_starts(r)) == 30


def test_default_same_as_days_30() -> None:
    assert span(resolve(days=30)) == span(resolve())


def test_default_months12() -> None:
    r = resolve(default="months12", default_group_by="month")
    assert span(r) == (utc(2024, 7, 1), utc(2025, 6, 16))
    assert r.group_by == "month"
    assert len(bucket_starts(r)) == 12
    r = resolve(datetime(2025, 1, 10, tzinfo=UTC), default="months12")
    assert span(r) == (utc(2024, 2, 1), utc(2025, 1, 11))


def test_days_1_and_7() -> None:
    assert span(resolve(days=1)) == (utc(2025, 6, 15), utc(2025, 6, 16))
    assert span(resolve(days=7)) == (utc(2025, 6, 9), utc(2025, 6, 16))
    assert span(resolve(days="7")) == (utc(2025, 6, 9), utc(2025, 6, 16))
    assert span(resolve(days=3660))[1] == utc(2025, 6, 16)


@pytest.mark.parametrize("days", [0, 3661, -1, "0", "3661", "abc", "", "1.5", " 7", "-3", "+3", True, "٣"])
def test_bad_days(days: Any) -> None:
    with pytest.raises(InvalidParameter) as info:
        resolve(days=days)
    assert info.value.field == "days"
    assert info.value.message == "days must be an integer from 1 to 3660"


def test_days_in_a_timezone_ahead_of_utc() -> None:
    # 20:00Z on the 15th is 01:30 on the 16th in Kolkata: today is the 16th there.
    r = resolve(datetime(2025, 6, 15, 20, 0, tzinfo=UTC), days=1, timezone="Asia/Kolkata")
    assert span(r) == (utc(2025, 6, 15, 18, 30), utc(2025, 6, 16, 18, 30))
    assert r.echo() == {
        "start": "2025-06-16T00:00:00+05:30",
        "end": "2025-06-17T00:00:00+05:30",
        "timezone": "Asia/Kolkata",
    }


def test_days_in_a_timezone_behind_utc() -> None:
    # 02:00Z on the 15th is 22:00 EDT on the 14th.
    r = resolve(datetime(2025, 6, 15, 2, 0, tzinfo=UTC), days=1, timezone="America/New_York")
    assert span(r) == (utc(2025, 6, 14, 4), utc(2025, 6, 15, 4))


def test_periods() -> None:
    assert span(resolve(period="today")) == (utc(2025, 6, 15), utc(2025, 6, 16))
    # NOW is a Sunday: the ISO week began on Monday the 9th.
    assert span(resolve(period="week")) == (utc(2025, 6, 9), utc(2025, 6, 16))
    assert span(resolve(period="month")) == (utc(2025, 6, 1), utc(2025, 6, 16))
    assert span(resolve(period="year")) == (utc(2025, 1, 1), utc(2025, 6, 16))


def test_period_week_on_a_monday_is_just_today() -> None:
    monday = datetime(2025, 6, 16, 23, 59, tzinfo=UTC)
    assert span(resolve(monday, period="week")) == (utc(2025, 6, 16), utc(2025, 6, 17))


def test_period_in_timezone() -> None:
    r = resolve(period="month", timezone="America/New_York")
    assert span(r) == (utc(2025, 6, 1, 4), utc(2025, 6, 16, 4))


def test_unknown_period() -> None:
    assert error_field(period="decade") == "period"
    assert error_field(period="WEEK") == "period"


# --------------------------------------------------------------------------- start_date / end_date


def test_date_bounds_include_whole_end_day() -> None:
    r = resolve(start_date="2025-01-01", end_date="2025-01-31")
    assert span(r) == (utc(2025, 1, 1), utc(2025, 2, 1))
    assert r.echo() == {"start": "2025-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z", "timezone": "UTC"}


def test_same_start_and_end_date_is_one_day() -> None:
    assert span(resolve(start_date="2025-01-01", end_date="2025-01-01")) == (utc(2025, 1, 1), utc(2025, 1, 2))


def test_date_bounds_in_timezone() -> None:
    r = resolve(start_date="2025-01-01", end_date="2025-01-01", timezone="America/New_York")
    assert span(r) == (utc(2025, 1, 1, 5), utc(2025, 1, 2, 5))


def test_datetime_bounds_with_offset() -> None:
    r = resolve(start_date="2025-01-01T10:00:00+02:00", end_date="2025-01-02T00:00:00Z")
    assert span(r) == (utc(2025, 1, 1, 8), utc(2025, 1, 2))
    r = resolve(start_date="2025-01-01t10:00:00.5z", end_date="2025-01-01T12:00:00-03:30")
    assert span(r) == (datetime(2025, 1, 1, 10, 0, 0, 500_000, tzinfo=UTC), utc(2025, 1, 1, 15, 30))


def test_space_before_offset_is_an_unencoded_plus() -> None:
    r = resolve(start_date="2025-01-01T00:00:00 05:30", end_date="2025-01-02")
    assert r.start == utc(2024, 12, 31, 18, 30)


def test_naive_datetime_is_read_in_timezone() -> None:
    r = resolve(start_date="2025-01-01T00:00:00", end_date="2025-01-02T00:00", timezone="America/New_York")
    assert span(r) == (utc(2025, 1, 1, 5), utc(2025, 1, 2, 5))


def test_naive_datetime_in_skipped_or_repeated_hour_uses_fold_0() -> None:
    # 02:30 does not exist on 2025-03-09 in New York; fold=0 reads it with EST (-05:00).
    r = resolve(start_date="2025-03-09T02:30:00", end_date="2025-03-10", timezone="America/New_York")
    assert r.start == utc(2025, 3, 9, 7, 30)
    # 01:30 happens twice on 2025-11-02; fold=0 is the first one, EDT (-04:00).
    r = resolve(start_date="2025-11-02T01:30:00", end_date="2025-11-03", timezone="America/New_York")
    assert r.start == utc(2025, 11, 2, 5, 30)


def test_only_start_date_ends_at_end_of_today() -> None:
    assert span(resolve(start_date="2025-06-01")) == (utc(2025, 6, 1), utc(2025, 6, 16))
    assert span(resolve(start_date="2025-06-15T12:00:00Z")) == (utc(2025, 6, 15, 12), utc(2025, 6, 16))


def test_only_start_date_after_today() -> None:
    assert error_field(start_date="2025-06-16") == "end_date"


def test_only_end_date_as_date() -> None:
    # D = 2025-03-31 gives [D-29, D+1): March 2 to April 1.
    assert span(resolve(end_date="2025-03-31")) == (utc(2025, 3, 2), utc(2025, 4, 1))
    assert len(bucket_starts(resolve(end_date="2025-03-31"))) == 30


def test_only_end_date_as_datetime() -> None:
    assert span(resolve(end_date="2025-03-31T12:00:00Z")) == (utc(2025, 3, 1, 12), utc(2025, 3, 31, 12))


def test_only_end_date_datetime_uses_wall_clock_across_dst() -> None:
    # 12:00 EDT on March 20 minus 30 days of wall-clock time is 12:00 EST on February 18.
    r = resolve(end_date="2025-03-20T12:00:00-04:00", timezone="America/New_York")
    assert span(r) == (utc(2025, 2, 18, 17), utc(2025, 3, 20, 16))
    r = resolve(end_date="2025-03-20T12:00:00", timezone="America/New_York")
    assert span(r) == (utc(2025, 2, 18, 17), utc(2025, 3, 20, 16))


@pytest.mark.parametrize(
    "value",
    [
        "2025-13-01",
        "2025-02-30",
        "yesterday",
        "2025/01/01",
        "2025-1-1",
        "",
        "2025-01-01T25:00:00Z",
        "2025-01-01T10:00:60Z",
        "2025-01-01T10:00:00+24:00",
        "2025-01-01T10:00:00+05",
        "2025-01-01T10",
        "0000-01-01",
    ],
)
def test_bad_date(value: str) -> None:
    assert error_field(start_date=value, end_date="2025-02-01") == "start_date"
    assert error_field(start_date="2025-01-01", end_date=value) == "end_date"
    assert error_field(end_date=value) == "end_date"


def test_out_of_range_date() -> None:
    assert (
        error_field(start_date="0001-01-01", end_date="2025-01-01", timezone="Asia/Kolkata") == "start_date"
    )
    assert error_field(start_date="2025-01-01", end_date="9999-12-31") == "end_date"


def test_start_not_before_end() -> None:
    with pytest.raises(InvalidParameter) as info:
        resolve(start_date="2025-02-01", end_date="2025-01-31")
    assert info.value.field == "end_date"
    assert info.value.message == "start_date must be before end_date"
    assert error_field(start_date="2025-01-01T10:00:00Z", end_date="2025-01-01T10:00:00Z") == "end_date"
    assert error_field(start_date="2025-01-02", end_date="2025-01-01") == "end_date"


# --------------------------------------------------------------------------- mixing


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"days": 7, "period": "week"}, "period"),
        ({"days": 7, "start_date": "2025-01-01"}, "start_date"),
        ({"days": 7, "end_date": "2025-01-01"}, "end_date"),
        ({"period": "week", "start_date": "2025-01-01"}, "start_date"),
        ({"period": "week", "end_date": "2025-01-01"}, "end_date"),
        ({"days": 7, "start_date": "2025-01-01", "end_date": "2025-02-01"}, "end_date"),
        ({"days": 7, "period": "month", "start_date": "2025-01-01"}, "start_date"),
        ({"days": "junk", "period": "week"}, "period"),
    ],
)
def test_mixing_names_the_later_parameter(given: dict[str, Any], field: str) -> None:
    assert error_field(**given) == field


# --------------------------------------------------------------------------- timezone and group_by


def test_parse_timezone() -> None:
    assert parse_timezone(None) == (ZoneInfo("UTC"), "UTC")
    assert parse_timezone("Asia/Kolkata") == (KOLKATA, "Asia/Kolkata")


@pytest.mark.parametrize(
    "name", ["Mars/Base", "", "utc", "America", "../etc/passwd", "/etc/localtime", "zone.tab"]
)
def test_unknown_timezone(name: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_timezone(name)
    assert info.value.field == "timezone"
    assert error_field(timezone=name) == "timezone"


def test_unknown_timezone_message() -> None:
    with pytest.raises(InvalidParameter) as info:
        resolve(timezone="Mars/Base")
    assert info.value.message == "unknown timezone 'Mars/Base'"


def test_unknown_group_by_is_rejected_even_without_a_series() -> None:
    assert error_field(group_by="minute") == "group_by"
    assert error_field(group_by="minute", series=True) == "group_by"
    assert error_field(group_by="Day") == "group_by"
    assert error_field(group_by="minute", bucket_field="end_date") == "group_by"


def test_group_by_resolution() -> None:
    assert resolve(group_by="week").group_by == "week"
    assert resolve().group_by == "day"
    assert resolve(default_group_by="week").group_by == "week"


def test_group_by_not_allowed_on_route() -> None:
    retention = ("day", "week", "month")
    assert resolve(default_group_by="week", allowed_group_bys=retention).group_by == "week"
    assert error_field(group_by="hour", default_group_by="week", allowed_group_bys=retention) == "group_by"


def test_route_without_group_by_ignores_a_valid_one() -> None:
    r = resolve(group_by="hour", days=3660, series=True, bucket_field="end_date")
    assert r.group_by == "day"


# --------------------------------------------------------------------------- bucket limit


def test_too_many_hour_buckets() -> None:
    assert error_field(days=3660, group_by="hour", series=True) == "group_by"
    # Without a series the limit does not apply.
    assert resolve(days=3660, group_by="hour").group_by == "hour"
    assert len(bucket_starts(resolve(days=3660, group_by="day", series=True))) == 3660


def test_bucket_limit_is_inclusive() -> None:
    # 10,000 hours from 2025-01-01T00:00Z is 2026-02-21T16:00Z (416 days and 16 hours).
    ok = resolve(
        start_date="2025-01-01T00:00:00Z", end_date="2026-02-21T16:00:00Z", group_by="hour", series=True
    )
    assert len(bucket_starts(ok)) == MAX_BUCKETS
    assert (
        error_field(
            start_date="2025-01-01T00:00:00Z", end_date="2026-02-21T16:00:01Z", group_by="hour", series=True
        )
        == "group_by"
    )


def test_too_many_buckets_on_usage_daily_names_end_date() -> None:
    field = error_field(start_date="1990-01-01", end_date="2025-12-31", series=True, bucket_field="end_date")
    assert field == "end_date"
    field = error_field(start_date="1970-01-01", end_date="9999-12-30", series=True, default_group_by="month")
    assert field == "group_by"


# --------------------------------------------------------------------------- buckets across DST


def test_day_buckets_across_spring_forward() -> None:
    r = resolve(start_date="2025-03-08", end_date="2025-03-10", timezone="America/New_York")
    assert labels(r) == [
        "2025-03-08T00:00:00-05:00",
        "2025-03-09T00:00:00-05:00",
        "2025-03-10T00:00:00-04:00",
    ]
    assert bucket_bounds(r) == [
        (utc(2025, 3, 8, 5), utc(2025, 3, 9, 5)),
        (utc(2025, 3, 9, 5), utc(2025, 3, 10, 4)),  # 23 hours
        (utc(2025, 3, 10, 4), utc(2025, 3, 11, 4)),
    ]


def test_day_buckets_across_fall_back() -> None:
    r = resolve(start_date="2025-11-01", end_date="2025-11-03", timezone="America/New_York")
    assert labels(r) == [
        "2025-11-01T00:00:00-04:00",
        "2025-11-02T00:00:00-04:00",
        "2025-11-03T00:00:00-05:00",
    ]
    assert bucket_bounds(r) == [
        (utc(2025, 11, 1, 4), utc(2025, 11, 2, 4)),
        (utc(2025, 11, 2, 4), utc(2025, 11, 3, 5)),  # 25 hours
        (utc(2025, 11, 3, 5), utc(2025, 11, 4, 5)),
    ]


def test_hour_buckets_on_23_hour_day() -> None:
    r = resolve(start_date="2025-03-09", end_date="2025-03-09", timezone="America/New_York", group_by="hour")
    got = labels(r)
    assert len(got) == 23
    assert got[:4] == [
        "2025-03-09T00:00:00-05:00",
        "2025-03-09T01:00:00-05:00",
        "2025-03-09T03:00:00-04:00",
        "2025-03-09T04:00:00-04:00",
    ]
    assert got[-1] == "2025-03-09T23:00:00-04:00"
    bounds = bucket_bounds(r)
    assert bounds[0] == (utc(2025, 3, 9, 5), utc(2025, 3, 9, 6))
    assert bounds[-1] == (utc(2025, 3, 10, 3), utc(2025, 3, 10, 4))


def test_hour_buckets_on_25_hour_day() -> None:
    r = resolve(start_date="2025-11-02", end_date="2025-11-02", timezone="America/New_York", group_by="hour")
    got = labels(r)
    assert len(got) == 25
    assert got[:4] == [
        "2025-11-02T00:00:00-04:00",
        "2025-11-02T01:00:00-04:00",
        "2025-11-02T01:00:00-05:00",
        "2025-11-02T02:00:00-05:00",
    ]
    assert got[-1] == "2025-11-02T23:00:00-05:00"
    bounds = bucket_bounds(r)
    assert bounds[1] == (utc(2025, 11, 2, 5), utc(2025, 11, 2, 6))
    assert bounds[2] == (utc(2025, 11, 2, 6), utc(2025, 11, 2, 7))


def test_week_buckets_start_monday_local_midnight_across_dst() -> None:
    r = resolve(start_date="2025-03-05", end_date="2025-03-12", timezone="America/New_York", group_by="week")
    assert labels(r) == ["2025-03-03T00:00:00-05:00", "2025-03-10T00:00:00-04:00"]
    assert bucket_bounds(r) == [
        (utc(2025, 3, 5, 5), utc(2025, 3, 10, 4)),
        (utc(2025, 3, 10, 4), utc(2025, 3, 13, 4)),
    ]


# --------------------------------------------------------------------------- half-hour offsets


def test_kolkata_day_boundaries() -> None:
    r = resolve(start_date="2025-01-01", end_date="2025-01-02", timezone="Asia/Kolkata")
    assert span(r) == (utc(2024, 12, 31, 18, 30), utc(2025, 1, 2, 18, 30))
    assert labels(r) == ["2025-01-01T00:00:00+05:30", "2025-01-02T00:00:00+05:30"]
    assert bucket_bounds(r) == [
        (utc(2024, 12, 31, 18, 30), utc(2025, 1, 1, 18, 30)),
        (utc(2025, 1, 1, 18, 30), utc(2025, 1, 2, 18, 30)),
    ]


def test_kolkata_hour_buckets() -> None:
    r = resolve(start_date="2025-01-01", end_date="2025-01-01", timezone="Asia/Kolkata", group_by="hour")
    got = labels(r)
    assert len(got) == 24
    assert got[0] == "2025-01-01T00:00:00+05:30"
    assert got[1] == "2025-01-01T01:00:00+05:30"
    assert bucket_bounds(r)[0] == (utc(2024, 12, 31, 18, 30), utc(2024, 12, 31, 19, 30))


def test_kolkata_hour_bucket_cut_by_range() -> None:
    # 10:00Z is 15:30 IST: the first bucket is labelled 15:00 IST (09:30Z) but counts from 10:00Z.
    r = resolve(
        start_date="2025-01-01T10:00:00Z",
        end_date="2025-01-01T11:45:00Z",
        timezone="Asia/Kolkata",
        group_by="hour",
    )
    assert labels(r) == [
        "2025-01-01T15:00:00+05:30",
        "2025-01-01T16:00:00+05:30",
        "2025-01-01T17:00:00+05:30",
    ]
    assert bucket_bounds(r) == [
        (utc(2025, 1, 1, 10), utc(2025, 1, 1, 10, 30)),
        (utc(2025, 1, 1, 10, 30), utc(2025, 1, 1, 11, 30)),
        (utc(2025, 1, 1, 11, 30), utc(2025, 1, 1, 11, 45)),
    ]


# --------------------------------------------------------------------------- buckets cut by the range


def test_month_bucket_cut_by_range() -> None:
    r = resolve(start_date="2025-01-15", end_date="2025-02-10", group_by="month")
    starts = bucket_starts(r)
    assert starts == [utc(2025, 1, 1), utc(2025, 2, 1)]
    assert starts[0] < r.start
    assert bucket_bounds(r) == [(utc(2025, 1, 15), utc(2025, 2, 1)), (utc(2025, 2, 1), utc(2025, 2, 11))]


def test_week_bucket_cut_by_range() -> None:
    # 2025-06-11 is a Wednesday: its week began on Monday 2025-06-09.
    r = resolve(start_date="2025-06-11", end_date="2025-06-17", group_by="week")
    assert labels(r) == ["2025-06-09T00:00:00Z", "2025-06-16T00:00:00Z"]
    assert bucket_bounds(r) == [(utc(2025, 6, 11), utc(2025, 6, 16)), (utc(2025, 6, 16), utc(2025, 6, 18))]


def test_bucket_starts_with_explicit_group_by() -> None:
    r = resolve(start_date="2025-01-01", end_date="2025-03-31")
    assert len(bucket_starts(r)) == 90
    assert len(bucket_starts(r, "month")) == 3
    assert len(bucket_starts(r, "week")) == 14  # Monday 2024-12-30 to Monday 2025-03-31
    assert bucket_starts(r, "week")[0] == utc(2024, 12, 30)
    with pytest.raises(InvalidParameter):
        bucket_starts(r, "minute")


def test_bucket_starts_are_in_range_timezone() -> None:
    r = resolve(start_date="2025-01-01", end_date="2025-01-01", timezone="Asia/Kolkata")
    assert [s.tzinfo for s in bucket_starts(r)] == [KOLKATA]
    assert all(lo.tzinfo is UTC and hi.tzinfo is UTC for lo, hi in bucket_bounds(r))


# --------------------------------------------------------------------------- formatting


def test_format_datetime() -> None:
    instant = utc(2025, 1, 1)
    assert format_datetime(instant, ZoneInfo("UTC"), "UTC") == "2025-01-01T00:00:00Z"
    assert format_datetime(instant, ZoneInfo("Europe/London"), "Europe/London") == "2025-01-01T00:00:00+00:00"
    assert format_datetime(utc(2025, 7, 1), ZoneInfo("Europe/London"), "Europe/London") == (
        "2025-07-01T01:00:00+01:00"
    )
    assert format_datetime(instant, KOLKATA, "Asia/Kolkata") == "2025-01-01T05:30:00+05:30"
    assert format_datetime(instant, ZoneInfo("Etc/UTC"), "Etc/UTC") == "2025-01-01T00:00:00+00:00"
    assert format_datetime(instant, NY, "America/New_York") == "2024-12-31T19:00:00-05:00"


def test_format_datetime_microseconds_only_when_nonzero() -> None:
    dt = datetime(2025, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)
    assert format_datetime(dt, ZoneInfo("UTC"), "UTC") == "2025-01-01T00:00:00.250000Z"
    assert format_datetime(dt, KOLKATA, "Asia/Kolkata") == "2025-01-01T05:30:00.250000+05:30"
