"""Time zones and how instants are written: the IANA names a caller may use, and RFC 3339 with the
offset of the zone (API.md section 8: `UTC` is written `Z`, every other zone its offset)."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import InvalidParameter

__all__ = ["DEFAULT_TIMEZONE", "format_datetime", "parse_timezone"]

DEFAULT_TIMEZONE = "UTC"


def format_datetime(dt: datetime, tz: ZoneInfo, tz_name: str) -> str:
    """RFC 3339 for the instant `dt` in zone `tz`: `Z` when the zone is named `UTC`, else the offset.

    Microseconds are written only when nonzero. A naive `dt` is taken as UTC. RFC 3339 offsets are
    whole minutes: an offset with seconds (Africa/Monrovia's -00:44:30 until 1972) is written cut to
    the minute towards zero (-00:44), with the wall time of that offset, so the instant is exact.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(tz)
    offset = local.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        minutes = int(offset.total_seconds() / 60)  # towards zero
        local = dt.astimezone(timezone(timedelta(minutes=minutes)))
    text = local.isoformat(timespec="microseconds" if local.microsecond else "seconds")
    if tz_name == DEFAULT_TIMEZONE:
        # The zone UTC always has offset +00:00.
        text = text.removesuffix("+00:00") + "Z"
    return text


def parse_timezone(name: str | None) -> tuple[ZoneInfo, str]:
    """The zone for an IANA name (None: UTC) and the name as given."""
    if name is None:
        return ZoneInfo(DEFAULT_TIMEZONE), DEFAULT_TIMEZONE
    if name not in _iana_names():
        shown = name if len(name) <= 64 else name[:64] + "..."
        raise InvalidParameter("timezone", f"unknown timezone {shown!r}")
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidParameter("timezone", f"unknown timezone {name!r}") from None
    return tz, name


_NOT_IANA = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _iana_names() -> frozenset[str]:
    """The zone names a caller may use: the IANA database's, without the files that are not zones of
    it (`localtime` and `posixrules` are the host's own zone, `Factory` a placeholder; `right/` and
    `posix/` are copies of the database under other rules)."""
    return frozenset(
        n
        for n in zoneinfo.available_timezones()
        if n not in _NOT_IANA and not n.startswith(("right/", "posix/"))
    )
