"""Query latency on PostgreSQL beside SQLite (issue 14): the same data set, routes and hand-written SQL.

    python -m bench queries --db postgres [--conversations 400000 --users 40000 ...] [--requests 20]

The SQLite file of `bench queries` (bench.bulk_load, cached) is loaded into PostgreSQL with COPY
(bench.pg_load, cached by data set version) and cloned for the run. Two servers run at once, one
per database, query cache off, each topped up with 30 minutes of live traffic. Per route, in turn
on SQLite and on PostgreSQL: REST, GraphQL and the hand-written SQL of bench/reference_sql.py
(sqlite3, or asyncpg through `PgConn`), interleaved; each database's answers are checked against
its own hand-written SQL. Printed per route: PostgreSQL REST p50/p99, PostgreSQL / SQLite, and
REST / hand-written SQL on each database. Writes bench/out/query_pg_results.md.

Targets (issue 14): PostgreSQL p50 <= 2 x SQLite on every route; `/conversations/duration` p50 <=
the hand-written SQL's on both databases; numbers equal to the SQL on both. Exit 1 when missed.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import httpx

from bench import common, pg, pg_load
from bench.bulk_load import cached_db, copy_db
from bench.datagen import Params
from bench.query_bench import CASES, RouteResult, _live_top_up, _measure_route
from bench.reference_sql import PgConn

PG_VS_SQLITE_TARGET = 2.0
DURATION = "/conversations/duration"


def _p50(values: list[float]) -> float:
    return common.median(values)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench queries --db postgres", description=__doc__)
    Params.add_arguments(p)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--route-budget", type=float, default=45.0, help="seconds per route and database")
    p.add_argument("--max-age-hours", type=float, default=24.0)
    p.add_argument("--only", action="append", help="only routes whose label contains this (repeatable)")
    a = p.parse_args(argv)
    params = Params.from_args(a)

    print(f"== query benchmark, PostgreSQL beside SQLite ({common.machine_note()})")
    db_cached, meta = cached_db(params, max_age_hours=a.max_age_hours)
    t = time.perf_counter()
    pg_cached, was_cached = pg_load.cached_pg(db_cached, meta)
    print(
        f"  data: {meta['events']:,} events ({meta['messages']:,} messages, {meta['conversations']:,} "
        f"conversations); PostgreSQL {pg_cached.rsplit('/', 1)[1]} "
        f"({'cached' if was_cached else f'loaded in {time.perf_counter() - t:.0f} s'})"
    )
    cases = [c for c in CASES if not a.only or any(o in c.label for o in a.only)]
    results: list[tuple[RouteResult, RouteResult]] = []
    run_url = pg_load.run_copy(pg_cached)
    off = {"ANALYTICS_QUERY_CACHE_SECONDS": "0"}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-queries-pg-") as tmp:
            workdir = Path(tmp)
            db = workdir / "analytics.sqlite3"
            copy_db(db_cached, db)
            lite = common.Server(db, workdir, extra_env=off).start()
            post = common.Server(
                workdir / "unused.sqlite3", workdir, extra_env={**off, "ANALYTICS_DATABASE_URL": run_url}
            )
            try:
                post.start()
                for server in (lite, post):
                    _live_top_up(server.base_url, meta, params)
                lite_conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                pg_conn = PgConn(run_url)
                headers = common.auth_headers(["analytics_viewer"])
                with (
                    httpx.Client(base_url=lite.base_url, headers=headers, timeout=120) as lite_client,
                    httpx.Client(base_url=post.base_url, headers=headers, timeout=120) as pg_client,
                ):
                    for case in cases:
                        on_lite = _measure_route(
                            lite_client, case, lite_conn, a.requests, a.warmup, a.route_budget
                        )
                        on_pg = _measure_route(
                            pg_client,
                            case,
                            cast("sqlite3.Connection", pg_conn),
                            a.requests,
                            a.warmup,
                            a.route_budget,
                        )
                        results.append((on_lite, on_pg))
                        print(
                            f"  {case.label}: "
                            + "; ".join(
                                f"{name} {r.error or f'REST p50 {_p50(r.rest_ms):.1f} ms, SQL p50 {_p50(r.sql_ms):.1f} ms'}"
                                for name, r in (("SQLite", on_lite), ("PostgreSQL", on_pg))
                            ),
                            flush=True,
                        )
                lite_conn.close()
                pg_conn.close()
            finally:
                lite.stop()
                post.stop()
    finally:
        pg.drop_database(run_url)

    head = ["route", "PG REST p50", "PG REST p99", "SQLite REST p50", "PG / SQLite", "PG SQL p50",
            "PG REST / PG SQL", "SQLite REST / SQLite SQL", "numbers = SQL", "result"]  # fmt: skip
    rows = []
    notes: list[str] = []
    passed = bool(results)
    for on_lite, on_pg in results:
        label = on_pg.case.label
        if on_lite.error or on_pg.error:
            rows.append([label, *["-"] * 8, "ERROR"])
            notes += [f"{label}: {r.error}" for r in (on_lite, on_pg) if r.error]
            passed = False
            continue
        pg50, lite50 = _p50(on_pg.rest_ms), _p50(on_lite.rest_ms)
        pg_sql, lite_sql = _p50(on_pg.sql_ms), _p50(on_lite.sql_ms)
        equal = on_pg.checked and on_lite.checked and not on_pg.mismatch and not on_lite.mismatch
        notes += [f"{label}: {m}" for m in (*on_lite.mismatch, *on_pg.mismatch)]
        ok = equal and pg50 <= PG_VS_SQLITE_TARGET * lite50
        if on_pg.case.path == DURATION:
            ok = ok and pg50 <= pg_sql and lite50 <= lite_sql
        passed = passed and ok
        rows.append([
            label, f"{pg50:.1f}", f"{common.percentile(on_pg.rest_ms, 99):.1f}", f"{lite50:.1f}",
            f"{pg50 / lite50:.2f}", f"{pg_sql:.1f}", f"{pg50 / pg_sql:.2f}", f"{lite50 / lite_sql:.2f}",
            "yes" if equal else "NO", common.verdict(ok),
        ])  # fmt: skip
    targets = (
        f"targets: PG p50 <= {PG_VS_SQLITE_TARGET:g} x SQLite; {DURATION} p50 <= its hand-written SQL "
        "on both databases; numbers equal to the SQL on both"
    )
    print(f"\n  times in ms, medians of up to {a.requests} interleaved requests per path; {targets}")
    print(common.table(head, rows))
    for n in notes:
        print("  note: " + n)
    common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    md = [
        "# Query benchmark on PostgreSQL (issue 14)",
        "",
        f"Data: {meta['events']:,} events ({meta['messages']:,} messages, {meta['conversations']:,} conversations). "
        f"Machine: {common.machine_note()}. Run at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. {targets}.",
        "",
        common.markdown_table(head, rows),
        "",
        *[f"- {n}" for n in notes],
    ]
    (common.OUT_DIR / "query_pg_results.md").write_text("\n".join(md) + "\n")
    print(f"  wrote {common.OUT_DIR / 'query_pg_results.md'}")
    print(f"  queries (PostgreSQL): {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
