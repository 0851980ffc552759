"""Resolve the range parameters of API.md section 3 into a half-open UTC range, and cut it into buckets.

Pure Python: no database, no clock. Every function that needs "today" takes `now`.

Conventions (API.md sections 3 and 8):
- A range is half-open, `[start, end)`, held as UTC-aware datetimes.
- Days, weeks (ISO, from Monday), months and hour buckets are cut in the requested time zone.
- `days`, `period` and the defaults end at the start of tomorrow in that zone, not at `now`.
- A naive datetime is read in the zone with `fold=0` (the first occurrence of a repeated hour;
  for a skipped hour, the offset in force before the change), as `zoneinfo` does.
- `start_date` and `end_date` are written with a year from 1970 to 9999 (API.md section 8), and a
  range ends by the last microsecond of 9999 in UTC and in the zone (the year 10000 cannot be
  written in RFC 3339): `end_date=9999-12-31`, which ends at the start of 10000, is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from app.analytics.calendar import add_months, floor_date, local_midnight, localize, next_date
from app.analytics.zones import format_datetime, parse_timezone
from app.errors import InvalidParameter
from app.vocabulary import DAYS, MAX_DAYS, GroupBy, Period

__all__ = [
    "GROUP_BYS",
    "MAX_BUCKETS",
    "MAX_COHORTS",
    "MAX_DAYS",
    "PERIODS",
    "RangeParams",
    "ResolvedRange",
    "bucket_bounds",
    "bucket_starts",
    "day_count",
    "days_between",
    "resolve_range",
]

GROUP_BYS: tuple[str, ...] = tuple(GroupBy)
PERIODS: tuple[str, ...] = tuple(Period)
MAX_BUCKETS = 10_000
MAX_COHORTS = 100
"""Retention's bucket limit: its answer has N(N+1)/2 cohort x period cells for N buckets, so at
most 5,050 (10,000 buckets would be 50 million)."""
MIN_YEAR, MAX_YEAR = 1970, 9999
"""The years `start_date` and `end_date` may be written with (API.md section 8)."""

# The range parameters in the order used to name the later of two mixed ones.
_RANGE_FIELDS = ("days", "period", "start_date", "end_date")

_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# RFC 3339 (seconds optional, `T`, `t` or a space between date and time). A space before a trailing
# `HH:MM` offset is read as `+`: an unencoded `+` in a query string arrives as a space.
_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:([Zz])|([+\- ])([0-9]{2}):([0-9]{2}))?"
)
_DAYS_RE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class RangeParams:
    """Raw range parameters as they come from the query string or the GraphQL filter; None = absent."""

    start_date: str | None = None
    end_date: str | None = None
    days: int | str | None = None
    period: str | None = None
    group_by: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class ResolvedRange:
    """A resolved half-open range `[start, end)` (UTC-aware), its zone and its bucket size."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    tz_name: str
    group_by: str

    def echo(self) -> dict[str, str]:
        """The `range` object every (non-realtime) response carries."""
        return {
            "start": format_datetime(self.start, self.tz, self.tz_name),
            "end": format_datetime(self.end, self.tz, self.tz_name),
            "timezone": self.tz_name,
        }


# --------------------------------------------------------------------------- parameter parsing


def _parse_days(value: int | str) -> int:
    if isinstance(value, str):
        if not _DAYS_RE.fullmatch(value):
            raise InvalidParameter("days", DAYS.syntax_message)
        value = int(value)
    return DAYS.check(value)


def _parse_bound(field: str, value: str) -> date | datetime:
    """A `YYYY-MM-DD` date, or an RFC 3339 datetime (aware if it had an offset, else naive)."""
    message = f"{field} must be a date (YYYY-MM-DD) or an RFC 3339 datetime, got {value!r}"
    m = _DATE_RE.fullmatch(value) or _DATETIME_RE.fullmatch(value)
    if m and not MIN_YEAR <= int(m[1]) <= MAX_YEAR:
        raise InvalidParameter(field, f"{field} must be in the years {MIN_YEAR} to {MAX_YEAR}, got {value!r}")
    try:
        m = _DATE_RE.fullmatch(value)
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
        m = _DATETIME_RE.fullmatch(value)
        if not m:
            raise ValueError(value)
        year, month, day, hour, minute = (int(m[i]) for i in range(1, 6))
        second = int(m[6]) if m[6] else 0
        micro = int((m[7] or "0")[:6].ljust(6, "0"))
        tzinfo: timezone | None = None
        if m[8]:
            tzinfo = UTC
        elif m[9]:
            off_h, off_m = int(m[10]), int(m[11])
            if off_h > 23 or off_m > 59:
                raise ValueError(value)
            offset = timedelta(hours=off_h, minutes=off_m)
            tzinfo = timezone(-offset if m[9] == "-" else offset)
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tzinfo)
    except (ValueError, OverflowError):
        raise InvalidParameter(field, message) from None


def _last_instant(tz: ZoneInfo) -> datetime:
    """The latest instant a range may reach: the last microsecond of the year 9999 both in UTC and
    in `tz` (the year 10000 can be written neither in RFC 3339 nor in a `datetime`)."""
    last = datetime.max.replace(tzinfo=UTC)
    try:
        return min(last, datetime.max.replace(tzinfo=tz).astimezone(UTC))
    except OverflowError:  # a zone behind UTC: its year 9999 ends after UTC's
        return last


def _bound_instant(field: str, value: date | datetime, tz: ZoneInfo, *, is_end: bool) -> datetime:
    """The UTC instant a parsed bound stands for (a date as end: the start of the next local day).

    A bound past `_last_instant(tz)` (e.g. `end_date=9999-12-31`, which ends in the year 10000) is a
    400: its echo could not be written."""
    message = f"{field} is out of range: a range ends by 9999-12-31T23:59:59.999999 in UTC and in timezone"
    try:
        if isinstance(value, datetime):
            instant = localize(value, tz) if value.tzinfo is None else value.astimezone(UTC)
        else:
            instant = local_midnight(value + timedelta(days=1) if is_end else value, tz)
    except (ValueError, OverflowError):
        raise InvalidParameter(field, message) from None
    if instant > _last_instant(tz):
        raise InvalidParameter(field, message)
    return instant


def _resolve_group_by(
    params: RangeParams, default_group_by: str, bucket_field: str, allowed_group_bys: tuple[str, ...]
) -> str:
    given = params.group_by
    if given is not None and given not in GROUP_BYS:
        raise InvalidParameter(
            "group_by", f"unknown group_by {given!r}; expected one of {', '.join(GROUP_BYS)}"
        )
    if bucket_field != "group_by":
        # A route that takes no group_by (/usage/daily, /usage/monthly): a valid one is ignored.
        return default_group_by
    group_by = default_group_by if given is None else given
    if group_by not in allowed_group_bys:
        raise InvalidParameter(
            "group_by",
            f"group_by {group_by!r} is not supported here; expected one of {', '.join(allowed_group_bys)}",
        )
    return group_by


# --------------------------------------------------------------------------- resolution


def resolve_range(
    params: RangeParams,
    now: datetime,
    *,
    default: str = "days30",
    default_group_by: str = "day",
    series: bool = False,
    bucket_field: str = "group_by",
    allowed_group_bys: tuple[str, ...] = GROUP_BYS,
    max_buckets: int = MAX_BUCKETS,
) -> ResolvedRange:
    """Resolve range parameters at instant `now` (aware; naive is taken as UTC).

    `default` is the range when none is given: "days30" (the last 30 days) or "months12" (the current
    month and the 11 before it). `series=True` enforces the bucket limit (`max_buckets`), naming
    `bucket_field`.
    A route that takes no `group_by` passes `bucket_field="end_date"`: then a given `group_by` is
    validated but ignored, and the range's `group_by` is `default_group_by`.
    """
    if default not in ("days30", "months12"):
        raise ValueError(f"unknown default range {default!r}")
    tz, tz_name = parse_timezone(params.timezone)
    group_by = _resolve_group_by(params, default_group_by, bucket_field, allowed_group_bys)

    values = {
        "days": params.days,
        "period": params.period,
        "start_date": params.start_date,
        "end_date": params.end_date,
    }
    given = [name for name in _RANGE_FIELDS if values[name] is not None]
    kinds = {"dates" if name.endswith("_date") else name for name in given}
    if len(kinds) > 1:
        raise InvalidParameter(
            given[-1],
            f"{' and '.join(given)} cannot be combined; use one of days, period, or start_date/end_date",
        )

    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    today = now.astimezone(tz).date()
    try:
        tomorrow = local_midnight(today + timedelta(days=1), tz)
    except (ValueError, OverflowError):  # pragma: no cover - `now` at the edge of datetime's range
        raise InvalidParameter("end_date", "the current date is out of range") from None

    start: datetime
    end: datetime
    if params.days is not None:
        n = _parse_days(params.days)
        start, end = local_midnight(today - timedelta(days=n - 1), tz), tomorrow
    elif params.period is not None:
        period = params.period
        if period not in PERIODS:
            raise InvalidParameter(
                "period", f"unknown period {period!r}; expected one of {', '.join(PERIODS)}"
            )
        first = {
            "today": today,
            "week": today - timedelta(days=today.weekday()),
            "month": today.replace(day=1),
            "year": today.replace(month=1, day=1),
        }[period]
        start, end = local_midnight(first, tz), tomorrow
    elif params.start_date is not None or params.end_date is not None:
        start, end = _resolve_dates(params.start_date, params.end_date, tz, tomorrow)
    elif default == "months12":
        start, end = local_midnight(add_months(today, -11), tz), tomorrow
    else:
        start, end = local_midnight(today - timedelta(days=29), tz), tomorrow

    if start >= end:
        if params.end_date is None:
            message = "start_date must be before the end of today"
        else:
            message = "start_date must be before end_date"
        raise InvalidParameter("end_date", message)

    resolved = ResolvedRange(start=start, end=end, tz=tz, tz_name=tz_name, group_by=group_by)
    if series:
        count = 0
        for _ in _iter_bucket_starts(resolved, group_by):
            count += 1
            if count > max_buckets:
                raise InvalidParameter(
                    bucket_field,
                    f"the range has more than {max_buckets} {group_by} buckets"
                    + (", the most this route answers" if max_buckets < MAX_BUCKETS else "")
                    + "; "
                    + (
                        "use a larger group_by or a shorter range"
                        if bucket_field == "group_by"
                        else "use a shorter range"
                    ),
                )
    return resolved


def _resolve_dates(
    start_raw: str | None, end_raw: str | None, tz: ZoneInfo, tomorrow: datetime
) -> tuple[datetime, datetime]:
    start_value = _parse_bound("start_date", start_raw) if start_raw is not None else None
    end_value = _parse_bound("end_date", end_raw) if end_raw is not None else None

    if end_value is None:
        assert start_value is not None
        return _bound_instant("start_date", start_value, tz, is_end=False), tomorrow

    end = _bound_instant("end_date", end_value, tz, is_end=True)
    if start_value is not None:
        return _bound_instant("start_date", start_value, tz, is_end=False), end

    # Only end_date: the 30 calendar days that end at the resolved end.
    try:
        if isinstance(end_value, datetime):
            wall = end.astimezone(tz).replace(tzinfo=None) if end_value.tzinfo else end_value
            start = localize(wall - timedelta(days=30), tz)
        else:
            start = local_midnight(end_value - timedelta(days=29), tz)
    except (ValueError, OverflowError):
        raise InvalidParameter("end_date", "end_date is out of range") from None
    return start, end


# --------------------------------------------------------------------------- buckets


def _iter_bucket_starts(r: ResolvedRange, group_by: str) -> Iterator[datetime]:
    """Aligned bucket starts (aware, in r.tz) of the buckets that meet `[r.start, r.end)`."""
    local_start = r.start.astimezone(r.tz)
    if group_by == "hour":
        # Hour buckets follow the local wall clock: align to the local hour, then step in UTC.
        first = local_start.replace(minute=0, second=0, microsecond=0)
        current = first.astimezone(UTC)
        if current > r.start:  # pragma: no cover - only for zones with sub-hour offset changes
            current -= timedelta(hours=1)
        while current < r.end:
            yield current.astimezone(r.tz)
            current += timedelta(hours=1)
        return
    if group_by not in GROUP_BYS:
        raise InvalidParameter("group_by", f"unknown group_by {group_by!r}")
    day = floor_date(local_start.date(), group_by)
    while True:
        instant = local_midnight(day, r.tz)
        if instant >= r.end:
            return
        yield instant.astimezone(r.tz)
        try:
            day = next_date(day, group_by)
        except (ValueError, OverflowError):
            return


def day_count(r: ResolvedRange) -> int:
    """How many calendar days (in r.tz) the range touches, a cut day counting as one: the number of
    `day` buckets, worked out without listing them."""
    first = r.start.astimezone(r.tz).date()
    last = (r.end - timedelta(microseconds=1)).astimezone(r.tz).date()
    return (last - first).days + 1


def days_between(r: ResolvedRange, first: datetime, last: datetime) -> ResolvedRange:
    """The part of `r` that covers the whole local days from the one holding `first` to the one
    holding `last` (instants within `r`): its `day` buckets are those of `r` on those days."""
    lo = local_midnight(first.astimezone(r.tz).date(), r.tz)
    try:
        hi = local_midnight(last.astimezone(r.tz).date() + timedelta(days=1), r.tz)
    except (ValueError, OverflowError):  # the year 9999's last day
        hi = r.end
    return replace(r, start=max(r.start, lo), end=min(r.end, hi), group_by="day")


def bucket_starts(r: ResolvedRange, group_by: str | None = None) -> list[datetime]:
    """The aligned starts, in r.tz, of every bucket of the range (the first may be before r.start)."""
    return list(_iter_bucket_starts(r, group_by or r.group_by))


def bucket_bounds(r: ResolvedRange, group_by: str | None = None) -> list[tuple[datetime, datetime]]:
    """Per bucket the UTC-aware `[lo, hi)` actually counted: the bucket clipped to `[r.start, r.end)`."""
    starts = [s.astimezone(UTC) for s in _iter_bucket_starts(r, group_by or r.group_by)]
    if not starts:  # an empty range at a bucket start (a comparison range, API.md section 9)
        return []
    los = [max(s, r.start) for s in starts]
    his = [*starts[1:], r.end]
    return list(zip(los, his, strict=True))
