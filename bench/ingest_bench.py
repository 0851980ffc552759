"""Ingestion throughput (issue 2): events/s through `POST /api/v1/analytics/events` against a raw
sqlite3 `executemany` of the same rows into the same schema.

    python -m bench ingest [--events 200000] [--batch 500] [--clients 4] [--repeat 3]
                           [--profile | --no-profile]
    python -m bench ingest --db postgres ...   # PostgreSQL: one and two instances (bench/ingest_pg.py)

HTTP: a uvicorn subprocess on a fresh SQLite file; pre-serialised bodies of `--batch` events in
timestamp order (a live botserver's traffic: ~6 hours, 6 bots, 5,000 users, conversations of ~25
messages), posted by `--clients` concurrent httpx clients with an admin JWT.

Raw: a fresh database from the app's migrations (all indexes in place), WAL + synchronous=NORMAL
as the app connects, and the rows ingestion ends up with in all twelve tables it writes (`bots`,
`events`, `conversations`, `end_users`, `bot_users`, `message_slots`, `user_slots`,
`user_slots_all`, `conv_slots`, `model_slots`, `latency_slots`, `intent_slots`), folded beforehand
in Python by `bench.bulk_load.Folder` (whose rows tests/bench/test_bulk_load.py checks against
`app.ingest`), inserted with executemany in one transaction, the per-day rollups of
`0006_latency_bands` then filled from them by its backfill statements in the same transaction
(not in the commit-per-batch form). The `events` rows with all 19 columns as app.ingest binds them, and again binding
only the columns each event sets (the fastest raw form). Both are compared with HTTP (targets).
For information: the same rows committed once per `--batch` events (as the service commits once
per request), and the events and conversations rows alone (2 of the 12 tables: a lower bound on
what any ingestion has to write, not the same rows).

Each measurement runs `--repeat` times, interleaved (HTTP, then each raw form, then again), on fresh
files; the rates reported and compared are the medians (the machine is shared and noisy).
Targets: HTTP >= 0.2 x raw (both forms of the same rows), >= 20,000 events/s, server peak RSS
< 300 MB, every event stored. When a target is missed (or with --profile) another HTTP run is
sampled with py-spy and summarised. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import common
from bench.bulk_load import (
    EVENT_STATEMENTS,
    INSERT_BOTS,
    INSERT_CONVS,
    INSERT_EVENTS,
    INSERT_ROLLUPS,
    Folder,
    day_backfill,
    full_event_rows,
    migrate,
    new_event_rows,
)
from bench.datagen import Dataset, Params, now_us, time_ordered_events

TARGET_RATIO = 0.2
TARGET_RATE = 20_000
TARGET_RSS_MB = 300


@dataclass
class HttpResult:
    events: int
    seconds: float
    latencies_ms: list[float]
    peak_rss_mb: float
    errors: int
    stored_events: int
    stored_conversations: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def dataset(n_events: int, hours: float) -> Dataset:
    # ~26.3 events per conversation here (1 start, ~25 messages, most ended, some rated; 6 h cut).
    params = Params(
        bots=6, users=5_000, conversations=max(1, round(n_events / 26.3)), days=hours / 24, seed=11
    )
    return Dataset(params, now_us() - 60_000_000)


def bodies(events: list[dict[str, Any]], batch: int) -> list[bytes]:
    return [orjson.dumps({"events": events[i : i + batch]}) for i in range(0, len(events), batch)]


async def _post_all(
    base_url: str, payloads: list[bytes], clients: int, sizes: list[int]
) -> tuple[float, list[float], int]:
    headers = {**common.auth_headers(["admin"]), "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, errors
        while next_index < len(payloads):
            i = next_index
            next_index += 1
            t = time.perf_counter()
            r = await client.post("/api/v1/analytics/events", content=payloads[i], headers=headers)
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200 or r.json().get("accepted") != sizes[i]:
                errors += 1
                if errors <= 3:
                    print(f"  batch {i}: HTTP {r.status_code} {r.text[:300]}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return wall, latencies, errors


@dataclass
class Payloads:
    """The request bodies of a run, serialised once, and the events in each."""

    bodies: list[bytes]
    sizes: list[int]

    @classmethod
    def of(cls, events: list[dict[str, Any]], batch: int) -> Payloads:
        sizes = [min(batch, len(events) - i) for i in range(0, len(events), batch)]
        return cls(bodies(events, batch), sizes)


def run_http(payloads: Payloads, clients: int, workdir: Path, profile_name: str | None = None) -> HttpResult:
    db = workdir / f"http-{time.monotonic_ns()}.sqlite3"
    server = common.Server(db, workdir).start()
    try:
        with common.profiled(server.pid, profile_name or "", enabled=profile_name is not None):
            wall, latencies, errors = asyncio.run(
                _post_all(server.base_url, payloads.bodies, clients, payloads.sizes)
            )
    finally:
        server.stop()
    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    convs = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    conn.close()
    common.remove_sqlite(db)
    events = sum(payloads.sizes)
    return HttpResult(events, wall, latencies, server.peak_rss_mb or 0.0, errors, stored, convs)


@dataclass
class RawRows:
    """The rows the raw inserts write, folded once: the events per kind (binding only the columns
    each sets) and with all 19 columns, the conversations, the bots and every rollup table."""

    folder: Folder
    rows: dict[str, list[tuple[Any, ...]]]
    full: list[Any]
    bots: list[tuple[int, str]]
    rollups: dict[str, list[tuple[Any, ...]]]

    @classmethod
    def of(cls, ds: Dataset) -> RawRows:
        folder = Folder(ds, received_us=now_us())
        rows = new_event_rows()
        for c in ds.conversations():
            folder.fold(c, rows)
        return cls(
            folder, rows, full_event_rows(rows, folder.received_us), folder.bot_rows(), folder.rollup_rows()
        )


# What a raw run writes: the same rows as ingestion (all twelve tables), or events and conversations only.
ALL_TABLES = "all"
TWO_TABLES = "events+conversations"


def _share(rows: list[Any], k: int, n: int) -> list[Any]:
    """The k-th of n near-equal consecutive slices of `rows`."""
    per = -(-len(rows) // n)
    return rows[k * per : (k + 1) * per]


def run_raw(
    raw: RawRows, workdir: Path, compact: bool, batch: int | None = None, tables: str = ALL_TABLES
) -> tuple[float, int]:
    """Seconds to insert the rows with raw sqlite3 (`tables`: ALL_TABLES or TWO_TABLES); the event
    count. With `batch`: one transaction per `batch` events and its share of every other table's
    rows, as the service commits once per request."""
    folder, rows, full = raw.folder, raw.rows, raw.full
    others: list[tuple[str, list[Any]]] = [(INSERT_CONVS, folder.conv_rows)]
    if tables == ALL_TABLES:
        others = [(INSERT_BOTS, raw.bots), *others, *((INSERT_ROLLUPS[t], r) for t, r in raw.rollups.items())]
    db = workdir / f"raw-{'compact' if compact else 'full'}-{batch}-{tables}-{time.monotonic_ns()}.sqlite3"
    migrate(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    t0 = time.perf_counter()
    if batch is not None:
        n_batches = -(-len(full) // batch)
        for k in range(n_batches):
            conn.execute("BEGIN")
            conn.executemany(INSERT_EVENTS, full[k * batch : (k + 1) * batch])
            for statement, table_rows in others:
                conn.executemany(statement, _share(table_rows, k, n_batches))
            conn.execute("COMMIT")
    else:
        conn.execute("BEGIN")
        if compact:
            for kind, statement in EVENT_STATEMENTS.items():
                conn.executemany(statement.format(rec=int(folder.received_us)), rows[kind])
        else:
            conn.executemany(INSERT_EVENTS, full)
        for statement, table_rows in others:
            conn.executemany(statement, table_rows)
        if tables == ALL_TABLES:
            for statement in day_backfill():  # the per-day rollups, from the slot rows (as the loader)
                conn.execute(statement)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    if tables == ALL_TABLES:
        written = {
            t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in (*raw.rollups, "bots")
        }
        expected = {t: len(r) for t, r in raw.rollups.items()} | {"bots": len(raw.bots)}
        assert written == expected, f"raw insert wrote {written}, expected {expected}"
    conn.close()
    common.remove_sqlite(db)
    return seconds, len(full)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables; 0 when every target is met, 1 otherwise."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--db" in argv:  # `--db postgres`: bench/ingest_pg.py; `--db sqlite` is this benchmark
        i = argv.index("--db")
        db_kind = argv[i + 1] if i + 1 < len(argv) else ""
        del argv[i : i + 2]
        if db_kind == "postgres":
            from bench import ingest_pg

            return ingest_pg.main(argv)
        if db_kind != "sqlite":
            print(f"--db must be sqlite or postgres, not {db_kind!r}", file=sys.stderr)
            return 2
    p = argparse.ArgumentParser(prog="python -m bench ingest", description="ingestion throughput (issue 2)")
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--hours", type=float, default=6.0, help="time span of the generated traffic")
    p.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians are compared)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--profile", action="store_true", help="always run the py-spy pass")
    g.add_argument("--no-profile", action="store_true", help="never run the py-spy pass")
    a = p.parse_args(argv)

    print(f"== ingest benchmark ({common.machine_note()})")
    ds = dataset(a.events, a.hours)
    t = time.perf_counter()
    events = time_ordered_events(ds)
    print(
        f"  generated {len(events):,} events ({ds.params.conversations:,} conversations, {ds.params.users:,} users, "
        f"{ds.params.bots} bots, {a.hours:g} h) in {time.perf_counter() - t:.1f} s; "
        f"bodies of {a.batch}, {a.clients} clients"
    )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        payloads = Payloads.of(events, a.batch)
        raw = RawRows.of(ds)
        runs: list[HttpResult] = []
        raw_full_s: list[float] = []
        raw_compact_s: list[float] = []
        raw_batched_s: list[float] = []
        raw_two_s: list[float] = []
        n_raw = 0
        for i in range(a.repeat):
            runs.append(run_http(payloads, a.clients, workdir))
            seconds, n_raw = run_raw(raw, workdir, compact=False)
            raw_full_s.append(seconds)
            raw_compact_s.append(run_raw(raw, workdir, compact=True)[0])
            raw_batched_s.append(run_raw(raw, workdir, compact=False, batch=a.batch)[0])
            raw_two_s.append(run_raw(raw, workdir, compact=False, tables=TWO_TABLES)[0])
            print(
                f"  run {i + 1}/{a.repeat}: HTTP {runs[-1].rate:,.0f} events/s; raw, all 12 tables: "
                f"{n_raw / raw_full_s[-1]:,.0f} (19 columns), {n_raw / raw_compact_s[-1]:,.0f} (set columns), "
                f"{n_raw / raw_batched_s[-1]:,.0f} (commit per {a.batch}); "
                f"raw events + conversations only: {n_raw / raw_two_s[-1]:,.0f}"
            )
        assert n_raw == len(events)
        http = sorted(runs, key=lambda r: r.rate)[len(runs) // 2]  # the median run
        http.peak_rss_mb = max(r.peak_rss_mb for r in runs)
        http.errors = sum(r.errors for r in runs)
        raw_full = n_raw / common.median(raw_full_s)
        raw_compact = n_raw / common.median(raw_compact_s)
        raw_batched = n_raw / common.median(raw_batched_s)
        raw_two = n_raw / common.median(raw_two_s)
        ratio = http.rate / raw_full
        ratio_compact = http.rate / raw_compact
        ok_ratio = ratio >= TARGET_RATIO
        ok_rate = http.rate >= TARGET_RATE
        ok_rss = http.peak_rss_mb < TARGET_RSS_MB
        ok_stored = http.errors == 0 and all(r.stored_events == len(events) for r in runs)
        rows = [
            [f"HTTP POST /events (median of {a.repeat})", f"{http.rate:,.0f}", f"{http.seconds:.1f}",
             f"p50 {common.median(http.latencies_ms):.0f} ms, p99 {common.percentile(http.latencies_ms, 99):.0f} ms "
             f"per {a.batch}-event request"],
            ["raw executemany, same rows, all 12 tables (events: 19 columns)", f"{raw_full:,.0f}",
             f"{n_raw / raw_full:.1f}", "one transaction"],
            ["raw executemany, same rows, all 12 tables (events: set columns only)", f"{raw_compact:,.0f}",
             f"{n_raw / raw_compact:.1f}", "one transaction; the fastest raw form"],
            [f"raw executemany, same rows, all 12 tables, commit per {a.batch} (info)", f"{raw_batched:,.0f}",
             f"{n_raw / raw_batched:.1f}", "one transaction per request-sized batch"],
            ["raw events + conversations only (2 of 12 tables; info)", f"{raw_two:,.0f}", f"{n_raw / raw_two:.1f}",
             "not the same rows: no bots, users or rollups"],
        ]  # fmt: skip
        print(common.table(["path", "events/s", "seconds", "notes"], rows))
        checks = [
            ["HTTP / raw, same rows (19 columns)", f"{ratio:.3f}", f">= {TARGET_RATIO}", common.verdict(ok_ratio)],
            ["HTTP / raw, same rows (set columns only)", f"{ratio_compact:.3f}", f">= {TARGET_RATIO}",
             common.verdict(ratio_compact >= TARGET_RATIO)],
            [f"HTTP / raw, same rows, commit per {a.batch}", f"{http.rate / raw_batched:.3f}", "(info)", ""],
            ["HTTP / raw events + conversations only", f"{http.rate / raw_two:.3f}", "(info)", ""],
            ["HTTP events/s", f"{http.rate:,.0f}", f">= {TARGET_RATE:,}", common.verdict(ok_rate)],
            ["server peak RSS (VmHWM, highest run)", f"{http.peak_rss_mb:.0f} MB", f"< {TARGET_RSS_MB} MB", common.verdict(ok_rss)],
            ["stored = sent, no errors (every run)", f"{http.stored_events:,} / {len(events):,}, {http.errors} errors", "equal, 0", common.verdict(ok_stored)],
        ]  # fmt: skip
        print(common.table(["check", "measured", "target", "result"], checks))
        passed = ok_ratio and ratio_compact >= TARGET_RATIO and ok_rate and ok_rss and ok_stored
        profile_text = None
        if (a.profile or not passed) and not a.no_profile:
            n = min(len(events), 100_000)
            print(f"  profiling a second HTTP run ({n:,} events) with py-spy ...")
            prof = run_http(
                Payloads.of(events[:n], a.batch), a.clients, workdir, profile_name="ingest-server"
            )
            path = common.OUT_DIR / "ingest-server.collapsed"
            profile_text = common.summarize_profile(
                path,
                top=30,
                focus=(
                    "app/",
                    "rest_shim/",
                    "graphql_schema/",
                    "tortoise/",
                    "aiosqlite/",
                    "sqlite3",
                    "uvicorn/",
                    "starlette/",
                    "fastapi/",
                ),
            )
            print(f"  (profiled run: {prof.rate:,.0f} events/s under py-spy; raw stacks: {path})")
            print("\n".join("  " + line for line in profile_text.splitlines()))
    print(f"  ingest: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
