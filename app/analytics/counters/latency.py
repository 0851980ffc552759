"""Exact latency percentiles from the per-UTC-day levels (API.md section 9; docs/decisions.md,
"Latency bands"): `latency_day_bands` says which band holds each wanted rank, then `latency_days`
gives the exact values of only those bands, one index range per (day, band).

A span (a bucket, or the whole range) is its whole UTC days plus a remainder (partial days: their
whole slots from `latency_slots`, their cut edges from raw events, through `latency_histograms`),
whose exact values are merged into the band counts and into the band reads. The day tables hold
each bot and, under bot 0, every bot together; they have no user, so under a user filter
`performance` takes the per-slot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient

from app.analytics.counters.spend import Histogram, latency_histograms
from app.analytics.sqlparts import Bounds, Filter, day_pieces, values_cte
from app.db import dialect, sql
from app.models import DAY_US
from app.models.bands import band_bounds, band_of

__all__ = ["ALL", "Want", "day_percentiles"]

ALL = "*"
"""The model of a wanted percentile over every model (a named model is its name, `None` no model)."""

Model = str | None
Want = tuple[int, Model, float]
"""(span index, model or `ALL`, p): p = 1.0 is the maximum."""


def _add(target: dict[int, int], source: dict[int, int]) -> None:
    for k, n in source.items():
        target[k] = target.get(k, 0) + n


@dataclass
class _Span:
    """One span's bot-message latencies: its whole UTC days, band counts per model (and `ALL`), and
    the exact values outside whole days per model (and `ALL`)."""

    days: list[tuple[int, int]] = field(default_factory=list)
    bands: dict[Model, dict[int, int]] = field(default_factory=dict)
    rest: dict[Model, Histogram] = field(default_factory=dict)

    def add_rest(self, model: Model, hist: Histogram, by_model: bool, every_model: bool = True) -> None:
        """Exact values outside whole days, under `ALL` and (`by_model`) their model; counted in the
        bands of those keys (`ALL` only when `every_model`: a union sums its parts' instead)."""
        for key in (ALL, model) if by_model else (ALL,):
            _add(self.rest.setdefault(key, {}), hist)
            if key == ALL and not every_model:
                continue
            bands = self.bands.setdefault(key, {})
            for v, n in hist.items():
                bands[band_of(v)] = bands.get(band_of(v), 0) + n


Rest = list[tuple[int, int, int]]
"""Parts of a span outside its days: `(lo, hi, sign)`, sign -1 for a part of a day the span lacks."""


def _whole_days(lo: int, hi: int) -> tuple[int, int, Rest]:
    """`[lo, hi)` µs as UTC days `[dlo, dhi)` and the rest, whichever reads fewer µs outside days:
    the whole days inside with the partial days added, or each edge rounded to the nearest midnight
    with the hours between added or (sign -1) subtracted (local days of a zone that is not UTC:
    Europe/Berlin is a UTC day plus one hour minus another, not 24 hours of slots)."""
    days, pieces = day_pieces(lo, hi, DAY_US)
    inside: Rest = [(a, z, 1) for a, z in pieces if a < z]
    rlo, rhi = (t // DAY_US + (t % DAY_US > DAY_US // 2) for t in (lo, hi))
    rounded: Rest = [
        (min(t, r * DAY_US), max(t, r * DAY_US), sign if t < r * DAY_US else -sign)
        for t, r, sign in ((lo, rlo, 1), (hi, rhi, -1))
        if t != r * DAY_US
    ]
    if rlo < rhi and _length(rounded) < _length(inside):
        return rlo, rhi, rounded
    return (*(days or (0, 0)), inside)


def _length(rest: Rest) -> int:
    return sum(z - a for a, z, _sign in rest)


_MODEL_COLS = "l.has_model AS hm, l.model AS model"


def _bots(f: Filter) -> str:
    """The day rows of the filter's bots: bot 0 (every bot together) when it names none."""
    return "l.bot_id = 0" if f.bots is None else f.bot("l")


def _concat(conn: BaseDBAsyncClient, token: str) -> str:
    return f"group_concat({token})" if dialect(conn) == "sqlite" else f"string_agg({token}, ',')"


def _model_code(models: Sequence[str]) -> str:
    """A row's model `l` as its position in `models` (-1 none, -2 another), with `?` per model."""
    whens = " ".join(f"WHEN ? THEN {i}" for i in range(len(models)))
    named = f"CASE l.model {whens} ELSE -2 END" if whens else "-2"
    return f"CASE WHEN l.has_model = 0 THEN -1 ELSE {named} END"


async def _read_spans(
    conn: BaseDBAsyncClient, bounds: Bounds, f: Filter, models: Sequence[str], union: bool
) -> list[_Span]:
    """Band counts per span (whole days from `latency_day_bands`, the rest counted from its exact
    values), over every model; per model too for the last span. With `union`, that last span is an
    extra one: all of them together."""
    spans = [_Span() for _ in bounds]
    whole = len(bounds) if union else len(bounds) - 1
    rest_bounds: Rest = []
    rest_owner: list[int] = []
    day_rows: list[tuple[int, int, int]] = []
    for i, (lo, hi) in enumerate(bounds):
        dlo, dhi, rest = _whole_days(lo, hi)
        if dlo < dhi:
            spans[i].days.append((dlo, dhi))
            day_rows.append((i, dlo, dhi))
        rest_bounds += rest
        rest_owner += [i] * len(rest)
    total = _Span(days=[d for span in spans for d in span.days])
    if rest_bounds:
        parts = [(a, z) for a, z, _sign in rest_bounds]
        hists = await latency_histograms(conn, parts, f, by_model=True, models=models)
        for (k, model), found in hists.items():
            hist = found if rest_bounds[k][2] > 0 else {v: -n for v, n in found.items()}
            spans[rest_owner[k]].add_rest(model, hist, by_model=rest_owner[k] == whole)
            if union:
                total.add_rest(model, hist, by_model=True, every_model=False)
    by_model_rows = day_rows if union else [row for row in day_rows if row[0] == whole]
    token = "CAST(x.band AS TEXT) || ':' || CAST(x.n AS TEXT)"
    days = f"JOIN latency_day_bands l ON l.day >= d.dlo AND l.day < d.dhi AND {_bots(f)}"
    for rows, key, group in ((day_rows, "d.idx AS idx", "d.idx"), (by_model_rows, _MODEL_COLS, "hm, model")):
        if not rows:
            continue
        query = (
            f"WITH {values_cte('d', ('idx', 'dlo', 'dhi'), rows)} SELECT {group.replace('d.', 'x.')}, "
            f"{_concat(conn, token)} AS vs FROM (SELECT {key}, l.band AS band, SUM(l.messages) AS n FROM d "
            f"{days} GROUP BY {group}, l.band) x GROUP BY {group.replace('d.', 'x.')}"
        )
        for row in await conn.execute_query_dict(sql(query, conn)):
            if "idx" in row:
                bands = spans[int(row["idx"])].bands.setdefault(ALL, {})
            else:
                model = str(row["model"]) if int(row["hm"]) else None
                bands = (total if union else spans[whole]).bands.setdefault(model, {})
            for item in str(row["vs"] or "").split(","):
                code, count = item.split(":")
                bands[int(code)] = bands.get(int(code), 0) + int(count)
    if union:
        for span in spans:
            _add(total.bands.setdefault(ALL, {}), span.bands.get(ALL, {}))
        spans.append(total)
    return spans


def _ranks(n: int, p: float) -> tuple[float, int, int]:
    """`percentile_cont`'s position `p * (n - 1)` and the two ranks around it."""
    pos = p * (n - 1)
    lo = int(pos)
    return pos, lo, lo + 1 if pos > lo else lo


def _band_of_rank(counts: dict[int, int], rank: int) -> tuple[int, int]:
    """The band holding the 0-based `rank` and how many values lie in lower bands."""
    below = 0
    for b in sorted(counts):
        if below + counts[b] > rank:
            return b, below
        below += counts[b]
    raise AssertionError("rank beyond the count")


async def day_percentiles(
    conn: BaseDBAsyncClient,
    bounds: Bounds,
    f: Filter,
    models: Sequence[str],
    wants: Sequence[Want],
    union: bool,
) -> dict[Want, float | None]:
    """Each wanted percentile (`percentile_cont`, exact), over the bot messages the filter's bots
    sent (no user filter).

    Span indexes are those of `bounds`, plus `len(bounds)` for their union when `union`. `models`
    are the named models of the range (from `model_slots`); a wanted model must be one of them."""
    spans = await _read_spans(conn, bounds, f, models, union)
    plans: dict[Want, tuple[float, list[tuple[int, int]]]] = {}
    reads: dict[tuple[int, Model, int], int] = {}
    for want in wants:
        idx, model, p = want
        counts = spans[idx].bands.get(model, {})
        n = sum(counts.values())
        if not n:
            continue
        pos, lo, hi = _ranks(n, p)
        located = [_band_of_rank(counts, r) for r in (lo, hi)]
        plans[want] = (pos, [(r, b) for r, (b, _below) in zip((lo, hi), located, strict=True)])
        for b, below in located:
            reads[(idx, model, b)] = below
    values = await _band_values(conn, spans, f, models, list(reads))
    out: dict[Want, float | None] = {want: None for want in wants}
    for want, (pos, ranked) in plans.items():
        idx, model, _p = want
        found = [_value_at(values[(idx, model, b)], reads[(idx, model, b)], rank) for rank, b in ranked]
        low, high = found
        if low is not None and high is not None:
            out[want] = float(low + (high - low) * (pos - int(pos)))
    return out


def _value_at(values: list[tuple[int, int]], below: int, rank: int) -> int | None:
    """The value of the 0-based `rank` among a band's sorted `values` with `below` values before
    them (the last one if the band holds fewer: events stored between the two reads)."""
    seen = below
    for v, n in values:
        seen += n
        if seen > rank:
            return v
    return values[-1][0] if values else None


async def _band_values(
    conn: BaseDBAsyncClient,
    spans: list[_Span],
    f: Filter,
    models: Sequence[str],
    reads: list[tuple[int, Model, int]],
) -> dict[tuple[int, Model, int], list[tuple[int, int]]]:
    """The exact values (sorted, with counts) of each band read: its whole days from `latency_days`
    (one `(day, latency_ms)` index range per day), its rest from the span's exact values."""
    found: dict[tuple[int, Model, int], Histogram] = {key: {} for key in reads}
    rows: list[tuple[int, int, int, int, int]] = []
    for k, (idx, model, b) in enumerate(reads):
        vlo, vhi = band_bounds(b)
        for v, n in spans[idx].rest.get(model, {}).items():
            if vlo <= v < vhi:
                found[(idx, model, b)][v] = n
        code = -9 if model == ALL else -1 if model is None else models.index(model)
        rows += [(k, day, vlo, vhi, code) for dlo, dhi in spans[idx].days for day in range(dlo, dhi)]
    if rows:
        for row in await conn.execute_query_dict(
            sql(_band_values_query(conn, rows, f, models), conn), list(models)
        ):
            hist = found[reads[int(row["k"])]]
            for item in str(row["vs"]).split(",") if row["vs"] else ():
                v, n = (int(x) for x in item.split(":"))
                hist[v] = hist.get(v, 0) + n
    return {key: sorted((v, n) for v, n in hist.items() if n > 0) for key, hist in found.items()}


def _band_values_query(
    conn: BaseDBAsyncClient, rows: list[tuple[int, int, int, int, int]], f: Filter, models: Sequence[str]
) -> str:
    """Per read `k`: `vs`, its `value:count` items of the `latency_days` rows of its days, band and
    model (`rows`: `(k, day, vlo, vhi, code)`, a value may repeat: the caller adds them up).

    SQLite's nested loop reads one `(bot, day, latency_ms)` index range per row of `w`. PostgreSQL
    hash-joined all of the bot's day rows instead (the range join's selectivity is unknown to it,
    with or without statistics): 5-12 ms per /performance at 150k events, where a correlated subquery
    per row (one index range each) takes 0.9-1.4 ms (docs/performance.md)."""
    w = values_cte("w", ("k", "day", "vlo", "vhi", "code"), rows)
    if dialect(conn) == "postgres":
        token = "CAST(l.latency_ms AS TEXT) || ':' || CAST(l.messages AS TEXT)"
        return (
            f"WITH {w} SELECT w.k AS k, (SELECT {_concat(conn, token)} FROM latency_days l "
            f"WHERE l.day = w.day AND {_bots(f)} AND l.latency_ms >= w.vlo AND l.latency_ms < w.vhi "
            f"AND (w.code = -9 OR ({_model_code(models)}) = w.code)) AS vs FROM w"
        )
    token = "CAST(x.v AS TEXT) || ':' || CAST(x.n AS TEXT)"
    return (
        f"WITH {w} SELECT x.k AS k, "
        f"{_concat(conn, token)} AS vs FROM (SELECT w.k AS k, l.latency_ms AS v, SUM(l.messages) AS n "
        f"FROM w JOIN latency_days l ON l.day = w.day AND {_bots(f)} AND l.latency_ms >= w.vlo "
        "AND l.latency_ms < w.vhi "
        f"WHERE w.code = -9 OR ({_model_code(models)}) = w.code GROUP BY w.k, l.latency_ms) x "
        "GROUP BY x.k"
    )
