"""Coarse latency bands (the second level of the latency histograms, docs/decisions.md): integer
milliseconds in log-spaced bands, 16 per octave, each value its own band below 32 ms.

The same numbering in Python (ingestion, reads) and in SQL (the migration's backfill, the bulk
loader): a band is a half-open range `[band_bounds(b))` of integers, and bands follow the order of
the values they hold, so the band of a rank is found from band counts alone.
"""

from __future__ import annotations

__all__ = ["DAY_SLOTS", "SLOT_US", "band_bounds", "band_of", "band_sql"]

SLOT_US = 15 * 60 * 1_000_000
"""Rollup granularity: 15 minutes, a divisor of every UTC offset in use today."""
DAY_SLOTS = 96
"""15-minute slots per UTC day: `day = slot // DAY_SLOTS` keys the per-day rollups."""

_EXACT = 32
"""Values below this are a band each; above, 16 bands per octave (width 2^(bits - 5))."""
_MAX_BITS = 54
"""Latencies are at most 2^53 (app/ingest/parse.py MAX_INT): 54 bits."""


def band_of(v: int) -> int:
    """The band that holds the latency `v` (a non-negative integer)."""
    if v < _EXACT:
        return v
    bits = v.bit_length()
    return _EXACT + (bits - 6) * 16 + ((v >> (bits - 5)) & 15)


def _band_lo(b: int) -> int:
    if b < _EXACT:
        return b
    octave, step = divmod(b - _EXACT, 16)
    return (16 + step) << (octave + 1)


def band_bounds(b: int) -> tuple[int, int]:
    """The values `[lo, hi)` that band `b` holds."""
    return _band_lo(b), _band_lo(b + 1)


def band_sql(col: str) -> str:
    """`band_of(col)` as an SQL expression (SQLite and PostgreSQL: `>>` and `&` on integers)."""
    whens = " ".join(
        f"WHEN {col} < {1 << bits} THEN {_EXACT + (bits - 6) * 16} + (({col} >> {bits - 5}) & 15)"
        for bits in range(6, _MAX_BITS + 1)
    )
    return f"(CASE WHEN {col} < {_EXACT} THEN {col} {whens} END)"
