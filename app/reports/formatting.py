"""How PDF and HTML reports print numbers, times and labels (API.md 8, "Reports").

Integers without thousands separators, rates as percentages with one decimal (`82.5%`), averages
with two decimals; a missing value is `n/a`. CSV and JSON carry the values unrounded instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "bin_label",
    "fmt_avg",
    "fmt_bucket",
    "fmt_cost",
    "fmt_count",
    "fmt_ms",
    "fmt_range",
    "fmt_rate",
    "fmt_seconds",
    "local_time",
]

_NA = "n/a"


def fmt_count(value: Any) -> str:
    """An integer, no thousands separators (`12345`)."""
    return _NA if value is None else str(int(value))


def fmt_rate(value: Any) -> str:
    """A fraction as a percentage with one decimal (`0.825` -> `82.5%`)."""
    return _NA if value is None else f"{float(value) * 100:.1f}%"


def fmt_avg(value: Any) -> str:
    """An average with two decimals (`3.5` -> `3.50`)."""
    return _NA if value is None else f"{float(value):.2f}"


def fmt_cost(value: Any) -> str:
    """An amount of the deployment's currency with four decimals (a message can cost a fraction of a cent)."""
    return _NA if value is None else f"{float(value):.4f}"


def fmt_ms(value: Any) -> str:
    """A latency with two decimals and its unit (`735.50 ms`)."""
    return _NA if value is None else f"{float(value):.2f} ms"


def fmt_seconds(value: Any) -> str:
    return _NA if value is None else f"{float(value):.2f} s"


def local_time(text: str) -> datetime:
    """An RFC 3339 datetime as the naive wall-clock time of its own offset."""
    return datetime.fromisoformat(text).replace(tzinfo=None)


def fmt_bucket(text: str, group_by: str) -> str:
    """A bucket start as a reader names it: `2025-01-06`, `2025-01`, or `2025-01-06 13:00`."""
    wall = local_time(text)
    if group_by == "hour":
        return wall.strftime("%Y-%m-%d %H:%M")
    if group_by == "month":
        return wall.strftime("%Y-%m")
    return wall.date().isoformat()


def fmt_range(r: dict[str, str]) -> str:
    """`2025-01-01 00:00 to 2025-02-01 00:00 (UTC)`: the half-open range in its zone."""
    start, end = local_time(r["start"]), local_time(r["end"])
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({r['timezone']}, end exclusive)"


def bin_label(b: dict[str, Any]) -> str:
    """A duration bin as a reader names it: `1 min to 5 min`, `30 s to 1 min`, `30 min +`."""

    def short(s: int) -> str:
        return f"{s // 60} min" if s >= 60 else f"{s} s"

    lo = int(b["min_seconds"])
    if b["max_seconds"] is None:
        return f"{short(lo)} +"
    return f"{short(lo)} to {short(int(b['max_seconds']))}"
