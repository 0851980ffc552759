"""Exact latency percentiles through the per-day bands (app/analytics/counters/latency.py): ranks on
band edges, one and two values, several models, days cut by the zone (Asia/Kolkata, +05:30) or by
datetime bounds, hourly buckets; each answer equal to the reference and to the per-slot path (a
bot-scoped caller, a user filter). Runs on SQLite and, with `ANALYTICS_TEST_DB=postgres`, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.analytics import catalog
from app.analytics.scope import Scope
from app.db import connection
from app.models.bands import band_bounds, band_of, band_sql
from tests.analytics.test_insights_by_hand import T0, Data, answer, bot, expected
from tests.factories import assert_same

EDGES = sorted({v for k in range(5, 54) for v in ((1 << k) - 1, 1 << k, (1 << k) + 1)} | set(range(40)))


def test_bands_hold_their_values_in_order() -> None:
    values = sorted({*range(5000), *EDGES, 2**53})
    for v in values:
        lo, hi = band_bounds(band_of(v))
        assert lo <= v < hi
    assert [band_of(v) for v in values] == sorted(band_of(v) for v in values)
    assert band_bounds(band_of(703)) == (672, 704) and band_bounds(band_of(704)) == (704, 736)
    assert band_of(31) + 1 == band_of(32) and band_bounds(band_of(32)) == (32, 34)


async def test_the_band_sql_numbers_as_python_does(db: str) -> None:
    values = ", ".join(f"({v})" for v in [*EDGES, 2**53])
    rows = await connection().execute_query_dict(
        f"SELECT x.v AS v, {band_sql('x.v')} AS b FROM (VALUES {values}) AS x(v)"
        if db == "postgres"
        else f"WITH x(v) AS (VALUES {values}) SELECT x.v AS v, {band_sql('x.v')} AS b FROM x"
    )
    assert {int(r["v"]): int(r["b"]) for r in rows} == {v: band_of(v) for v in [*EDGES, 2**53]}


def _data() -> Data:
    d = Data()
    day = T0.replace(hour=0)
    # April 7: two values on either side of the exact/log boundary (31 | 32), model "a".
    d.conv(day + timedelta(hours=10), messages=(bot(model="a", latency_ms=31), bot(model="a", latency_ms=32)))
    # April 8: ranks on band edges (703 | 704 .. 735 | 736), three models and none.
    d.conv(
        day + timedelta(days=1, hours=3),
        messages=(
            bot(model="b", latency_ms=703),
            bot(model="a", latency_ms=704),
            bot(latency_ms=735),
            bot(model="c", latency_ms=736),
            bot(model="b", latency_ms=736),
            bot(model="b", latency_ms=1000),
        ),
    )
    # April 9: one value early (no model), then 63 | 64 at 20:00 UTC (April 10, 01:30 in Kolkata).
    d.conv(day + timedelta(days=2, hours=1), messages=(bot(latency_ms=5),))
    d.conv(
        day + timedelta(days=2, hours=20),
        messages=(bot(model="a", latency_ms=64), bot(model="a", latency_ms=63)),
    )
    return d


SHAPES: dict[str, dict[str, str]] = {
    "utc-days": {"start_date": "2025-04-07", "end_date": "2025-04-09"},
    "utc-week": {"start_date": "2025-04-07", "end_date": "2025-04-10", "group_by": "week"},
    "kolkata-days": {"start_date": "2025-04-07", "end_date": "2025-04-10", "timezone": "Asia/Kolkata"},
    # Local days as a UTC day with hours added and subtracted at both edges (-05:00, +01:00).
    "new-york-days": {"start_date": "2025-04-07", "end_date": "2025-04-10", "timezone": "America/New_York"},
    "berlin-days": {"start_date": "2025-04-06", "end_date": "2025-04-09", "timezone": "Europe/Berlin"},
    "datetimes": {"start_date": "2025-04-07T10:00:00.5Z", "end_date": "2025-04-09T20:00:01Z"},
    "utc-hours": {"start_date": "2025-04-08", "end_date": "2025-04-09", "group_by": "hour"},
    "one-value": {"start_date": "2025-04-09T00:00:00Z", "end_date": "2025-04-09T12:00:00Z"},
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_percentiles_on_band_edges_match_the_reference(db: str, shape: str) -> None:
    data = _data()
    reference = await data.load()
    params = SHAPES[shape]
    got = await answer(catalog.PERFORMANCE, params=params)
    assert_same(got, expected(reference, "performance", params=params))
    # The bot's own day rows, and the per-slot path (a user filter), give the same answer.
    for scope in (Scope(frozenset({data.bot})), Scope(None, data.user)):
        assert_same(await answer(catalog.PERFORMANCE, scope=scope, params=params), got)


async def test_percentiles_by_hand(db: str) -> None:
    await _data().load()
    got: dict[str, Any] = await answer(catalog.PERFORMANCE, params=SHAPES["utc-days"])
    # 5 31 32 63 64 703 704 735 736 736 1000: p50 at rank 5 (703, the last of its band).
    assert (got["latency_count"], got["p50_latency_ms"], got["max_latency_ms"]) == (11, 703.0, 1000.0)
    assert got["p95_latency_ms"] == pytest.approx(868.0)  # ranks 9.5: 736 and 1000
    first, second, third = got["data"]
    assert (first["p50_latency_ms"], first["p95_latency_ms"]) == (31.5, pytest.approx(31.95))
    assert second["p50_latency_ms"] == 735.5  # 704 735 | 736 736: across a band edge
    assert third["p50_latency_ms"] == 63.0  # 5 63 64
    by_model = {m["model"]: m["p95_latency_ms"] for m in got["by_model"]}
    assert by_model == {
        "a": pytest.approx(64 + 640 * 0.8),
        "b": pytest.approx(736 + 264 * 0.9),
        "c": 736.0,
    }
    one = await answer(catalog.PERFORMANCE, params=SHAPES["one-value"])
    assert (one["p50_latency_ms"], one["p99_latency_ms"], one["max_latency_ms"]) == (5.0, 5.0, 5.0)
