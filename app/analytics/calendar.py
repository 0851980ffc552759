"""Calendar arithmetic on local days: midnights and wall-clock times in a zone, and the first day of
the day, week (ISO, from Monday) and month buckets. Pure functions, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["add_months", "floor_date", "local_midnight", "localize", "next_date"]


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    """The first instant of local day `d`, UTC-aware (a skipped midnight gives the first real instant)."""
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """A local wall-clock time read with fold=0, as a UTC-aware instant."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def add_months(d: date, months: int) -> date:
    """The first day of the month `months` after the month of `d`."""
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def floor_date(d: date, group_by: str) -> date:
    """The first day of the day, ISO week (Monday) or month bucket that holds `d`."""
    if group_by == "week":
        return d - timedelta(days=d.weekday())
    if group_by == "month":
        return d.replace(day=1)
    return d


def next_date(d: date, group_by: str) -> date:
    """The first day of the bucket after the one that starts on `d`."""
    if group_by == "week":
        return d + timedelta(days=7)
    if group_by == "month":
        return add_months(d, 1)
    return d + timedelta(days=1)
