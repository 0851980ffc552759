"""Query latency on ~10 million messages (issue 3): REST vs GraphQL vs hand-written SQL per route.

    python -m bench queries [--conversations 400000 --users 40000 --bots 6 --days 90]
                            [--requests 30] [--warmup 3] [--profile] [--rebuild]

The database comes from `bench.bulk_load` (cached under bench/out/, built once in a few minutes)
and is copied to a temp dir for the run; the last 30 minutes of live traffic are then posted
through the API so /realtime has something to count. The server is a uvicorn subprocess.

Per route, sequentially, after warm-up: REST, GraphQL (POST /graphql with the very document and
variables the REST shim runs) and the hand-written SQL of bench/reference_sql.py, interleaved so
the machine's noise hits all three alike; p50 and p99 of each. Then /usage under 10 concurrent
clients, and the server's peak RSS. Writes bench/out/query_results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import common, reference_sql
from bench.bulk_load import cached_db, copy_db
from bench.datagen import Dataset, Params, now_us, time_ordered_events

P50_TARGET_MS = 50.0
RETENTION_TARGET_MS = 1000.0
RATIO_TARGET = 1.15
RPS_TARGET = 200.0
RSS_TARGET_MB = 500.0


@dataclass
class RouteCase:
    label: str
    path: str
    query: dict[str, str]
    document: str  # rest_shim/documents/<document>.graphql
    realtime: bool = False
    sql: Callable[..., dict[str, Any]] | None = None
    days: int = 30
    p50_target_ms: float | None = None
    # REST key -> reference SQL key, to cross-check the API's numbers
    compare: dict[str, str] = field(default_factory=dict)


CASES = [
    RouteCase("/usage", "/usage", {}, "usage", sql=reference_sql.usage, p50_target_ms=P50_TARGET_MS,
              compare={"total_conversations": "total_conversations", "total_messages": "total_messages",
                       "user_messages": "user_messages", "active_users": "active_users", "new_users": "new_users"}),
    RouteCase("/usage/daily?days=30", "/usage/daily", {"days": "30"}, "usage_daily", sql=reference_sql.usage_daily,
              p50_target_ms=P50_TARGET_MS),
    RouteCase("/conversations/volume?group_by=hour&days=7", "/conversations/volume", {"group_by": "hour", "days": "7"},
              "conversations_volume", sql=reference_sql.volume_hourly, days=7, p50_target_ms=P50_TARGET_MS),
    RouteCase("/engagement/satisfaction", "/engagement/satisfaction", {}, "engagement_satisfaction",
              sql=reference_sql.satisfaction, p50_target_ms=P50_TARGET_MS, compare={"responses": "responses"}),
    RouteCase("/realtime", "/realtime", {}, "realtime", realtime=True, sql=reference_sql.realtime,
              p50_target_ms=P50_TARGET_MS),
    RouteCase("/engagement/retention?days=90", "/engagement/retention", {"days": "90"}, "engagement_retention",
              sql=reference_sql.retention, days=90, p50_target_ms=RETENTION_TARGET_MS),
    RouteCase("/conversations", "/conversations", {}, "conversations", sql=reference_sql.conversations,
              compare={"total_conversations": "total_conversations", "resolved": "resolved", "escalated": "escalated"}),
    RouteCase("/engagement", "/engagement", {}, "engagement", sql=reference_sql.engagement,
              compare={"active_users": "active_users", "new_users": "new_users"}),
    RouteCase("/conversations/duration", "/conversations/duration", {}, "conversations_duration",
              sql=reference_sql.duration, compare={"count": "count"}),
]  # fmt: skip


@dataclass
class RouteResult:
    case: RouteCase
    rest_ms: list[float] = field(default_factory=list)
    gql_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    error: str | None = None
    rest_body: Any = None
    sql_numbers: dict[str, Any] | None = None
    rounds: int = 0

    @property
    def ratio(self) -> float | None:
        if not self.rest_ms or not self.gql_ms:
            return None
        return common.median(self.rest_ms) / common.median(self.gql_ms)

    def passed(self) -> bool:
        if self.error or self.ratio is None:
            return False
        ok = self.ratio <= RATIO_TARGET
        if self.case.p50_target_ms is not None:
            ok = (
                ok and max(common.median(self.rest_ms), common.median(self.gql_ms)) <= self.case.p50_target_ms
            )
        return ok

    def target_text(self) -> str:
        parts = []
        if self.case.p50_target_ms is not None:
            parts.append(f"p50 <= {self.case.p50_target_ms:g} ms")
        parts.append(f"ratio <= {RATIO_TARGET}")
        return ", ".join(parts)

    def mismatches(self) -> list[str]:
        out: list[str] = []
        if not isinstance(self.rest_body, dict) or self.sql_numbers is None:
            return out
        for rest_key, sql_key in self.case.compare.items():
            a, b = self.rest_body.get(rest_key), self.sql_numbers.get(sql_key)
            if a != b:
                out.append(f"{rest_key}: API {a} vs SQL {b}")
        return out


def _graphql_body(case: RouteCase) -> bytes:
    from rest_shim.documents import load_document
    from rest_shim.executor import filter_variables, realtime_variables

    variables = realtime_variables(case.query) if case.realtime else filter_variables(case.query)
    return orjson.dumps({"query": load_document(case.document), "variables": variables})


def _live_top_up(base_url: str, meta: dict[str, Any], params: Params) -> int:
    """Post the last 30 minutes of traffic (existing bots and users) so /realtime counts something."""
    live = Params(params.bots, params.users, max(1, params.conversations // (90 * 48)), params.avg_messages, 0.5 / 24,
                  params.seed)  # fmt: skip
    ds = Dataset(live, now_us() - 5_000_000)
    assert ds.bot_uuids == meta["bot_uuids"], "live traffic must use the loaded bots"
    events = time_ordered_events(ds, seed=now_us())
    headers = {**common.auth_headers(["admin"]), "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for i in range(0, len(events), 500):
            r = client.post("/api/v1/analytics/events", content=orjson.dumps({"events": events[i : i + 500]}),
                            headers=headers)  # fmt: skip
            r.raise_for_status()
    return len(events)


def _measure_route(
    client: httpx.Client, case: RouteCase, conn: sqlite3.Connection, n: int, warmup: int, budget_s: float
) -> RouteResult:
    """`n` interleaved rounds (fewer, but at least 5, when a round would blow `budget_s`)."""
    res = RouteResult(case)
    url = common.PREFIX + case.path
    gql = _graphql_body(case)
    gql_headers = {"Content-Type": "application/json"}

    def rest() -> float:
        t = time.perf_counter()
        r = client.get(url, params=case.query)
        ms = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"REST {r.status_code}: {r.text[:300]}")
        res.rest_body = r.json()
        return ms

    def graphql() -> float:
        t = time.perf_counter()
        r = client.post("/graphql", content=gql, headers=gql_headers)
        ms = (time.perf_counter() - t) * 1000
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        if r.status_code != 200 or body is None or body.get("errors"):
            raise RuntimeError(f"GraphQL {r.status_code}: {r.text[:300]}")
        return ms

    def sql() -> float:
        assert case.sql is not None
        w = reference_sql.days_window(case.days, now_us())
        ms, res.sql_numbers = reference_sql.timed(case.sql, conn, w)
        return ms

    try:
        t_warm = time.perf_counter()
        for _ in range(max(1, warmup)):
            rest()
            graphql()
            sql()
        per_round = (time.perf_counter() - t_warm) / max(1, warmup)
        if per_round * n > budget_s:
            n = max(5, int(budget_s / per_round))
        res.rounds = n
        for i in range(n):
            # rotate the order so no path always runs first (cache warmth, noise)
            steps = [(res.rest_ms, rest), (res.gql_ms, graphql), (res.sql_ms, sql)]
            steps = steps[i % 3 :] + steps[: i % 3]
            for bucket, fn in steps:
                bucket.append(fn())
    except (RuntimeError, httpx.HTTPError) as exc:
        res.error = str(exc)
    return res


async def _throughput(
    base_url: str, headers: dict[str, str], clients: int, seconds: float
) -> tuple[int, int, float, list[float]]:
    done = errors = 0
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                try:
                    r = await client.get(common.PREFIX + "/usage")
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t) * 1000)
                done += 1
                errors += 0 if ok else 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return done, errors, wall, latencies


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench queries", description="query latency (issue 3)")
    d = Params()
    p.add_argument("--bots", type=int, default=d.bots)
    p.add_argument("--users", type=int, default=d.users)
    p.add_argument("--conversations", type=int, default=d.conversations)
    p.add_argument("--avg-messages", type=float, default=d.avg_messages)
    p.add_argument("--days", type=float, default=d.days)
    p.add_argument("--requests", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--route-budget",
        type=float,
        default=90.0,
        help="seconds per route: slow routes get fewer rounds (at least 5)",
    )
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0, help="duration of the concurrent /usage run")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    p.add_argument(
        "--max-age-hours", type=float, default=24.0, help="rebuild a cached database older than this"
    )
    p.add_argument("--profile", action="store_true", help="py-spy the server during the sequential runs")
    p.add_argument("--only", action="append", help="only routes whose label contains this (repeatable)")
    a = p.parse_args(argv)
    params = Params(a.bots, a.users, a.conversations, a.avg_messages, a.days)

    print(f"== query benchmark ({common.machine_note()})")
    db_cached, meta = cached_db(params, max_age_hours=a.max_age_hours, force=a.rebuild)
    print(
        f"  database: {db_cached.name} ({meta['events']:,} events, {meta['messages']:,} messages, "
        f"{meta['conversations']:,} conversations, {meta['users']:,} users, {meta['size_mb']:,} MB; "
        f"{'cached, ' + format(meta['age_hours'], '.1f') + ' h old' if meta['cached'] else 'built in ' + str(meta['load_seconds']) + ' s'})"
    )
    cases = [c for c in CASES if not a.only or any(o in c.label for o in a.only)]
    with tempfile.TemporaryDirectory(prefix="bench-queries-") as tmp:
        workdir = Path(tmp)
        db = workdir / "analytics.sqlite3"
        t = time.perf_counter()
        copy_db(db_cached, db)
        print(f"  copied to {db} in {time.perf_counter() - t:.1f} s")
        # Latencies are measured with the query cache off: every request computes its answer.
        server = common.Server(db, workdir, extra_env={"ANALYTICS_QUERY_CACHE_SECONDS": "0"}).start()
        try:
            t = time.perf_counter()
            n_live = _live_top_up(server.base_url, meta, params)
            print(f"  posted {n_live:,} live events (last 30 min) in {time.perf_counter() - t:.1f} s")
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            results: list[RouteResult] = []
            headers = common.auth_headers(["analytics_viewer"])
            with (
                common.profiled(server.pid, "queries-server", enabled=a.profile) as prof_path,
                httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client,
            ):
                for case in cases:
                    r = _measure_route(client, case, conn, a.requests, a.warmup, a.route_budget)
                    results.append(r)
                    status = r.error or (
                        f"REST p50 {common.median(r.rest_ms):.1f} ms, GraphQL p50 {common.median(r.gql_ms):.1f} ms, "
                        f"SQL p50 {common.median(r.sql_ms):.1f} ms"
                    )
                    print(f"  {case.label}: {status}", flush=True)
            conn.close()
            rss_after_routes = server.rss_mb()
            cold = asyncio.run(_throughput(server.base_url, headers, a.clients, a.seconds))
        finally:
            server.stop()
        # The same load against the production default (2 s single-flight cache).
        cached_server = common.Server(db, workdir).start()
        try:
            done, errors, wall, lat = asyncio.run(
                _throughput(cached_server.base_url, headers, a.clients, a.seconds)
            )
            rps = done / wall
        finally:
            cached_server.stop()
    peak = max(server.peak_rss_mb or 0.0, cached_server.peak_rss_mb or 0.0)

    headers_row = ["route", "n", "REST p50", "REST p99", "GraphQL p50", "GraphQL p99", "SQL p50", "REST/GraphQL",
                   "target", "result"]  # fmt: skip
    rows = []
    notes = []
    for r in results:
        if r.error:
            rows.append([r.case.label, "-", "-", "-", "-", "-", "-", "-", r.target_text(), "ERROR"])
            notes.append(f"{r.case.label}: {r.error}")
            continue
        rows.append(
            [
                r.case.label,
                str(r.rounds),
                f"{common.median(r.rest_ms):.1f}",
                f"{common.percentile(r.rest_ms, 99):.1f}",
                f"{common.median(r.gql_ms):.1f}",
                f"{common.percentile(r.gql_ms, 99):.1f}",
                f"{common.median(r.sql_ms):.1f}",
                f"{r.ratio:.2f}",
                r.target_text(),
                common.verdict(r.passed()),
            ]
        )
        for m in r.mismatches():
            notes.append(f"{r.case.label}: numbers differ from the reference SQL: {m}")
    ok_rps = rps >= RPS_TARGET and errors == 0
    ok_rss = peak < RSS_TARGET_MB
    c_done, c_errors, c_wall, c_lat = cold
    summary = [
        [f"/usage, {a.clients} concurrent clients, {a.seconds:g} s, cache off (info)",
         f"{c_done / c_wall:,.0f} req/s, {c_errors} errors, p50 {common.median(c_lat):.0f} ms",
         "-", "info"],
        [f"/usage, {a.clients} concurrent clients, {a.seconds:g} s, default 2 s cache",
         f"{rps:,.0f} req/s, {errors} errors, p50 {common.median(lat):.0f} ms, p99 {common.percentile(lat, 99):.0f} ms",
         f">= {RPS_TARGET:g} req/s, 0 errors", common.verdict(ok_rps)],
        ["server peak RSS (VmHWM)", f"{peak:.0f} MB (RSS after sequential runs {rss_after_routes[0]:.0f} MB)",
         f"< {RSS_TARGET_MB:g} MB", common.verdict(ok_rss)],
    ]  # fmt: skip
    print(
        f"\n  times in ms; n sequential requests per path (REST, GraphQL, SQL interleaved) after {a.warmup} warm-up rounds"
    )
    print(common.table(headers_row, rows))
    print(common.table(["check", "measured", "target", "result"], summary))
    for n in notes:
        print("  note: " + n)
    profile_text = None
    if a.profile and prof_path is not None:
        profile_text = common.summarize_profile(
            prof_path,
            top=30,
            focus=(
                "app/",
                "rest_shim/",
                "graphql_schema/",
                "strawberry/",
                "graphql/",
                "tortoise/",
                "aiosqlite/",
                "fastapi/",
                "starlette/",
                "uvicorn/",
            ),
        )
        print("\n".join("  " + line for line in profile_text.splitlines()))

    common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    md = [
        "# Query benchmark (issue 3)",
        "",
        f"Data: {meta['events']:,} events ({meta['messages']:,} messages, {meta['conversations']:,} conversations, "
        f"{meta['users']:,} users, {params.bots} bots, {params.days:g} days); SQLite {meta['size_mb']:,} MB. "
        f"Machine: {common.machine_note()}. Run at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.",
        "",
        f"Times in ms; n sequential requests per path (up to {a.requests}; fewer for routes slower than the "
        f"{a.route_budget:g} s budget) after {a.warmup} warm-up rounds, REST / GraphQL / SQL interleaved. SQL = hand-written query (bench/reference_sql.py) with sqlite3 in the client process.",
        "",
        common.markdown_table(headers_row, rows),
        "",
        common.markdown_table(["check", "measured", "target", "result"], summary),
        "",
    ]
    md += [f"- {n}" for n in notes]
    if profile_text:
        md += ["", "## Server profile (py-spy)", "", "```", profile_text, "```"]
    (common.OUT_DIR / "query_results.md").write_text("\n".join(md) + "\n")
    (common.OUT_DIR / "query_results.json").write_text(
        json.dumps(
            {
                r.case.label: {"rest_ms": r.rest_ms, "graphql_ms": r.gql_ms, "sql_ms": r.sql_ms, "error": r.error,
                               "api": r.rest_body, "sql": r.sql_numbers}
                for r in results
            },
            indent=1,
            default=str,
        )
    )  # fmt: skip
    print(f"  wrote {common.OUT_DIR / 'query_results.md'}")
    return {"results": results, "rps": rps, "peak_rss_mb": peak}


if __name__ == "__main__":
    main()
