"""Buckets as integer microsecond bounds, and their split into 15-minute rollup slots plus raw edges.

The rollup tables (`message_slots`, `user_slots`) hold whole 15-minute UTC slots. A bucket bound that
falls inside a slot (a datetime range parameter, or a zone whose offset is not a multiple of 15
minutes, as some historic ones were) is counted from the raw `events` rows of the partial slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.analytics.ranges import ResolvedRange, bucket_bounds, bucket_starts
from app.models import SLOT_US

__all__ = [
    "EPOCH",
    "ONE_US",
    "Bucket",
    "SlotSplit",
    "from_us",
    "range_bucket",
    "series_buckets",
    "split_slots",
    "to_us",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch of an aware instant (naive is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH) // ONE_US


def from_us(us: int) -> datetime:
    """The UTC-aware instant of a count of microseconds since the epoch."""
    return EPOCH + us * ONE_US


@dataclass(frozen=True)
class Bucket:
    """One bucket: its aligned start in the range's zone (the label) and the counted `[lo, hi)` in µs."""

    start: datetime
    lo: int
    hi: int


def series_buckets(r: ResolvedRange, group_by: str | None = None) -> list[Bucket]:
    """Every bucket of the range, in order, clipped to the range (the label stays the aligned start)."""
    g = group_by or r.group_by
    starts = bucket_starts(r, g)
    bounds = bucket_bounds(r, g)
    return [Bucket(s, to_us(lo), to_us(hi)) for s, (lo, hi) in zip(starts, bounds, strict=True)]


def range_bucket(r: ResolvedRange) -> Bucket:
    """The whole range as one bucket."""
    return Bucket(r.start.astimezone(r.tz), to_us(r.start), to_us(r.end))


@dataclass(frozen=True)
class SlotSplit:
    """`[lo, hi)` as whole slots `[slot_lo, slot_hi)` (empty when equal) plus raw µs intervals."""

    slot_lo: int
    slot_hi: int
    raw: tuple[tuple[int, int], ...]


def split_slots(lo: int, hi: int) -> SlotSplit:
    """Split `[lo, hi)` µs into the whole slots inside it and the (at most two) partial edges."""
    first = -(-lo // SLOT_US)  # ceil
    last = hi // SLOT_US  # floor: slots [first, last) are inside
    if first >= last:
        return SlotSplit(0, 0, ((lo, hi),) if lo < hi else ())
    edges = tuple((a, b) for a, b in ((lo, first * SLOT_US), (last * SLOT_US, hi)) if a < b)
    return SlotSplit(first, last, edges)
