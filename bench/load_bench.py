"""`python -m bench load`: mixed read/ingest load on two worker processes (issue 10, "Load").

32 concurrent clients (one httpx AsyncClient in this process) for `--seconds` (60): 80% reads
over every read route, REST and GraphQL, with varied `days`, `group_by`, `bot_id` and `timezone`;
20% ingestion of batches with event ids, a tenth of them retries of a batch already acknowledged
(all duplicates). The service runs as uvicorn with `--workers 2` (bench/load_server.py: with serve's head limits) on SQLite (both processes
share the file) or, with `--db postgres`, on a fresh database on 127.0.0.1:5432 that is dropped
afterwards. Rate limits are off (ANALYTICS_RATE_LIMIT_ENABLED=false), as outside production.

Prints p50/p99 per route, throughput, errors (any non-2xx, any transport error) and lost events:
every acknowledged event id must be in the events table afterwards, and the `accepted` counts of
all answers must add up to the distinct acknowledged ids (each stored exactly once, duplicates
never counted as accepted). `--flood` adds a second set of clients sending bad inputs (invalid
parameters, huge ranges, 300 aliases of the widest series in one GraphQL document, bad tokens,
oversized bodies, many headers) at a bounded rate and reports `/health` p50/p99 meanwhile. The
generator's own CPU use is printed: on a small machine it takes cores from the server.

Targets (PASS/FAIL): zero errors, zero lost events, p99 < 250 ms over all requests at 32 clients,
`/health` p99 < 100 ms during the flood.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import common
from bench.datagen import Dataset, Params, now_us, timed_api_events

P99_TARGET_MS = 250.0
HEALTH_P99_TARGET_MS = 100.0
READ_SHARE = 0.8
RETRY_SHARE = 0.1
BATCH_EVENTS = 50
CLIENT_KEEP_ALIVE = 2.0
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"

# REST path -> GraphQL document of rest_shim (None: REST only), and the parameters it takes. The
# routes of API.md section 9 (/intents, /performance, /conversations/outcomes) are not served yet (404).
ROUTES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "/usage": ("usage", ("days", "bot_id", "timezone")),
    "/usage/daily": ("usage_daily", ("days", "bot_id", "timezone")),
    "/usage/monthly": ("usage_monthly", ("days", "bot_id", "timezone")),
    "/conversations": ("conversations", ("days", "bot_id", "timezone")),
    "/conversations/volume": ("conversations_volume", ("days", "group_by", "bot_id", "timezone")),
    "/conversations/duration": ("conversations_duration", ("days", "bot_id", "timezone")),
    "/conversations/resolution": ("conversations_resolution", ("days", "group_by", "bot_id", "timezone")),
    "/engagement": ("engagement", ("days", "bot_id", "timezone")),
    "/engagement/retention": ("engagement_retention", ("days", "group_by", "bot_id", "timezone")),
    "/engagement/satisfaction": ("engagement_satisfaction", ("days", "group_by", "bot_id", "timezone")),
    "/realtime": ("realtime", ("bot_id", "timezone")),
    "/realtime/active": ("realtime_active", ("bot_id", "timezone")),
    "/reports": (None, ()),
}
DAYS = ("1", "7", "30", "90")
GROUP_BY = ("hour", "day", "week", "month")
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")


@dataclass(frozen=True)
class Read:
    """One read request: its label in the table, REST path and query, GraphQL document or None."""

    label: str
    path: str
    query: dict[str, str]
    document: str | None = None


def read_requests(bot_uuids: Sequence[str], seed: int = 7, per_route: int = 6) -> list[Read]:
    """`per_route` parameter sets per route, each asked through REST and (where the route has a
    document) GraphQL; cells stay small (retention by week or month, hourly series over <= 7 days)."""
    rng = random.Random(seed)
    out: list[Read] = []
    for path, (document, params) in ROUTES.items():
        for _ in range(per_route):
            q: dict[str, str] = {}
            if "days" in params:
                q["days"] = rng.choice(DAYS)
            if "group_by" in params:
                choices: tuple[str, ...] = GROUP_BY[2:] if path == "/engagement/retention" else GROUP_BY
                if q.get("days") in ("30", "90"):
                    choices = tuple(g for g in choices if g != "hour")
                q["group_by"] = rng.choice(choices)
            if "bot_id" in params and rng.random() < 0.6:
                q["bot_id"] = rng.choice(list(bot_uuids))
            if "timezone" in params:
                q["timezone"] = rng.choice(TIMEZONES)
            out.append(Read("GET " + path, path, q))
            if document is not None:
                out.append(Read("GQL " + document, path, q, document))
    return out


def plan(n: int, seed: int = 3, read_share: float = READ_SHARE) -> list[str]:
    """The kind of each of `n` requests: "read" or "ingest", in a seeded random order."""
    rng = random.Random(seed)
    return ["read" if rng.random() < read_share else "ingest" for _ in range(n)]


def batches(ds: Dataset, size: int = BATCH_EVENTS) -> list[list[dict[str, Any]]]:
    """Whole conversations (their events in order) packed into batches of about `size` events, so
    concurrent batches never split a conversation."""
    out: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    for conv in ds.conversations():
        cur.extend(ev for _, ev in timed_api_events(ds, conv))
        if len(cur) >= size:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


@dataclass
class Accounting:
    acked_ids: int = 0
    accepted: int = 0
    duplicates: int = 0
    lost: int = 0  # acknowledged, not in the table
    bad_answers: int = 0  # accepted + duplicates != batch size
    accepted_twice: int = 0  # sum of accepted over distinct ids, minus the distinct ids

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.bad_answers == 0 and self.accepted_twice == 0


def account(acks: Sequence[tuple[Sequence[str], int, int]], stored: set[str]) -> Accounting:
    """Check acknowledged batches `(ids, accepted, duplicates)` against the stored ids: every id
    is stored, every answer covers its batch exactly, and the accepted counts add up to the
    distinct ids (an id accepted twice, or a duplicate counted as new, shows as `accepted_twice`)."""
    res = Accounting()
    distinct: set[str] = set()
    for ids, accepted, duplicates in acks:
        distinct.update(ids)
        res.accepted += accepted
        res.duplicates += duplicates
        if accepted + duplicates != len(ids):
            res.bad_answers += 1
    res.acked_ids = len(distinct)
    res.lost = len(distinct - stored)
    res.accepted_twice = res.accepted - res.acked_ids
    return res


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    acks: list[tuple[list[str], int, int]] = field(default_factory=list)

    def add(self, label: str, ms: float) -> None:
        self.latencies.setdefault(label, []).append(ms)

    def error(self, label: str, text: str) -> None:
        self.errors[label] = self.errors.get(label, 0) + 1
        if len(self.first_errors) < 5:
            self.first_errors.append(f"{label}: {text[:300]}")

    def all_latencies(self) -> list[float]:
        return [v for vs in self.latencies.values() for v in vs]


def _graphql_payload(read: Read) -> bytes:
    from rest_shim.documents import load_document
    from rest_shim.executor import filter_variables, realtime_variables

    assert read.document is not None
    variables = (
        realtime_variables(read.query) if read.path.startswith("/realtime") else filter_variables(read.query)
    )
    return orjson.dumps({"query": load_document(read.document), "variables": variables})


async def _load(
    client: httpx.AsyncClient,
    reads: list[Read],
    ingest: list[list[dict[str, Any]]],
    clients: int,
    seconds: float,
    stats: Stats,
) -> float:
    headers = common.auth_headers(["admin"])
    json_headers = {**headers, "Content-Type": "application/json"}
    gql_bodies = {i: _graphql_payload(r) for i, r in enumerate(reads) if r.document}
    kinds = plan(100_000)
    state = {"n": 0, "batch": 0}
    rng = random.Random(5)
    deadline = time.perf_counter() + seconds

    async def ingest_one() -> None:
        if stats.acks and rng.random() < RETRY_SHARE:
            events = ingest[rng.randrange(state["batch"])]  # a retry of an acknowledged batch
            label = "POST /events (retry)"
        elif state["batch"] < len(ingest):
            events = ingest[state["batch"]]
            state["batch"] += 1
            label = "POST /events"
        else:
            return
        t = time.perf_counter()
        r = await client.post(
            common.PREFIX + "/events", content=orjson.dumps({"events": events}), headers=json_headers
        )
        stats.add(label, (time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            stats.error(label, f"HTTP {r.status_code} {r.text}")
            return
        body = r.json()
        stats.acks.append(([e["id"] for e in events], int(body["accepted"]), int(body["duplicates"])))

    async def read_one(i: int) -> None:
        read = reads[i]
        t = time.perf_counter()
        if read.document:
            r = await client.post("/graphql", content=gql_bodies[i], headers=json_headers)
            failed = r.status_code != 200 or bool(r.json().get("errors"))
        else:
            r = await client.get(common.PREFIX + read.path, params=read.query, headers=headers)
            failed = not 200 <= r.status_code < 300
        stats.add(read.label, (time.perf_counter() - t) * 1000)
        if failed:
            stats.error(read.label, f"{read.query} HTTP {r.status_code} {r.text}")

    async def worker(k: int) -> None:
        ri = k * 7
        while time.perf_counter() < deadline:
            n = state["n"]
            state["n"] += 1
            try:
                if kinds[n % len(kinds)] == "ingest":
                    await ingest_one()
                else:
                    ri = (ri + 1) % len(reads)
                    await read_one(ri)
            except httpx.HTTPError as exc:
                stats.error("transport", repr(exc))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    return time.perf_counter() - t0


def flood_requests() -> list[tuple[str, str, dict[str, str], bytes | None]]:
    """The bad inputs of issue 10: (method, path, headers, body); each must get a 4xx (or a closed
    connection for the header flood; the alias attack on /graphql: one BAD_USER_INPUT error),
    never a 5xx."""
    good = common.auth_headers(["admin"])
    p = common.PREFIX
    many = {f"x-flood-{i}": "y" * 40 for i in range(300)}
    return [
        ("GET", p + "/usage?days=abc", good, None),
        ("GET", p + "/engagement?start_date=0001-01-01&timezone=America/New_York", good, None),
        ("GET", p + "/engagement/retention?days=1000&group_by=day", good, None),
        ("GET", p + "/conversations/volume?group_by=hour&days=3650", good, None),
        ("GET", p + "/usage?timezone=localtime", good, None),
        ("GET", p + "/usage", {"Authorization": "Bearer not.a.token"}, None),
        ("GET", p + "/usage", {"X-API-Key": "bogus-key-" + "z" * 30}, None),
        (
            "POST",
            p + "/events",
            {**good, "Content-Type": "application/json"},
            b'{"events": [' + b" " * 1_100_000,
        ),
        ("POST", "/graphql", {**good, "Content-Type": "application/json"}, b"\xff\xfe not utf-8"),
        ("GET", p + "/usage", {**good, **many}, None),
        ("POST", "/graphql", {**good, "Content-Type": "application/json"}, ALIAS_ATTACK),
    ]


_ALIASES = " ".join(f"a{i}: conversationVolume(filter: $f) {{ groupBy }}" for i in range(300))
ALIAS_ATTACK = orjson.dumps(
    {
        "query": f"query($f: AnalyticsFilter) {{ {_ALIASES} }}",
        "variables": {"f": {"startDate": "1990-01-01", "endDate": "2017-05-18", "groupBy": "DAY"}},
    }
)
"""300 aliases of a 10,000-bucket series: refused before it runs (ANALYTICS_MAX_QUERY_COST), a
GraphQL answer (HTTP 200) with one BAD_USER_INPUT error."""


def _refused(path: str, status: int, body: bytes) -> bool:
    """A bad request got the contract's refusal: a 4xx, or on /graphql a 200 whose only answer is
    a BAD_USER_INPUT error and no data."""
    if 400 <= status < 500:
        return True
    if path != "/graphql" or status != 200:
        return False
    answer = orjson.loads(body)
    codes = {e.get("extensions", {}).get("code") for e in answer.get("errors") or []}
    return answer.get("data") is None and codes == {"BAD_USER_INPUT"}


async def _flood(client: httpx.AsyncClient, seconds: float, rate: float, flood_stats: Stats) -> None:
    reqs = flood_requests()
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        method, path, headers, body = reqs[i % len(reqs)]
        i += 1
        t = time.perf_counter()
        label = f"flood {method} {path.split('?')[0]}"
        try:
            r = await client.request(method, path, headers=headers, content=body)
            if not _refused(path, r.status_code, r.content):
                flood_stats.error(label, f"{len(headers)} headers: HTTP {r.status_code} {r.text[:80]}")
            flood_stats.add("flood", (time.perf_counter() - t) * 1000)
        except httpx.HTTPError:
            flood_stats.add("flood (connection closed)", (time.perf_counter() - t) * 1000)
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t)))


async def _health(client: httpx.AsyncClient, seconds: float, out: list[float], errors: list[str]) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        try:
            r = await client.get("/health")
            if r.status_code != 200:
                errors.append(f"HTTP {r.status_code}")
        except httpx.HTTPError as exc:
            errors.append(repr(exc))
        out.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(0.05)


@dataclass
class RunResult:
    wall: float
    cpu: float
    stats: Stats
    flood: Stats | None
    health_ms: list[float]
    health_errors: list[str]
    server_cpu: float = 0.0


async def _run(
    base_url: str,
    reads: list[Read],
    ingest: list[list[dict[str, Any]]],
    args: argparse.Namespace,
) -> RunResult:
    stats = Stats()
    flood_stats = Stats() if args.flood else None
    health_ms: list[float] = []
    health_errors: list[str] = []
    # A kept-alive connection is reused only while it has been idle for less than CLIENT_KEEP_ALIVE,
    # well under the server's (ANALYTICS_HTTP_KEEP_ALIVE_SECONDS, 5 s). httpx's default (5 s) equals
    # the server's: a request sent on a connection idle for just under 5 s can meet the server's
    # close, an httpx.ReadError (the one error of an earlier flood run; docs/performance.md).
    limits = httpx.Limits(
        max_connections=args.clients,
        max_keepalive_connections=args.clients,
        keepalive_expiry=CLIENT_KEEP_ALIVE,
    )
    short = httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE)
    cpu0 = time.process_time()
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client,
        httpx.AsyncClient(base_url=base_url, timeout=30, limits=short) as side,
        httpx.AsyncClient(base_url=base_url, timeout=30, limits=short) as probe,
    ):
        tasks: list[Coroutine[Any, Any, float | None]] = [
            _load(client, reads, ingest, args.clients, args.seconds, stats)
        ]
        if flood_stats is not None:
            tasks += [
                _flood(side, args.seconds, args.flood_rate / args.flood_clients, flood_stats)
                for _ in range(args.flood_clients)
            ]
            tasks.append(_health(probe, args.seconds, health_ms, health_errors))
        results = await asyncio.gather(*tasks)
    wall = float(results[0] or 0.0)
    return RunResult(wall, time.process_time() - cpu0, stats, flood_stats, health_ms, health_errors)


def _migrate(url: str) -> None:
    """Create the schema once, before two workers start (they would race to migrate)."""
    code = "import asyncio, sys\nfrom app.db import migrate_db\nasyncio.run(migrate_db(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, url], cwd=common.REPO, check=True)


def _stored_ids(db: str, url: str, sqlite_path: Path) -> set[str]:
    if db == "sqlite":
        with sqlite3.connect(sqlite_path) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM events")}
    out = subprocess.run(
        ["psql", url.split("?")[0], "-At", "-c", "SELECT id FROM events"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def _psql(sql: str) -> None:
    subprocess.run(["psql", PG_ADMIN, "-q", "-c", sql], check=True, capture_output=True)


def report(res: RunResult, acc: Accounting, args: argparse.Namespace) -> bool:
    s = res.stats
    rows = []
    for label in sorted(s.latencies):
        ms = s.latencies[label]
        rows.append(
            [
                label,
                len(ms),
                f"{common.percentile(ms, 50):.1f}",
                f"{common.percentile(ms, 99):.1f}",
                s.errors.get(label, 0),
            ]
        )
    print(common.table(["route", "requests", "p50 ms", "p99 ms", "errors"], rows))
    everything = s.all_latencies()
    errors = sum(s.errors.values())
    p99 = common.percentile(everything, 99)
    print(
        f"\n  {len(everything)} requests in {res.wall:.1f} s: {len(everything) / res.wall:.0f} req/s, "
        f"p50 {common.percentile(everything, 50):.1f} ms, p99 {p99:.1f} ms, errors {errors}"
    )
    print(
        f"  events: {acc.acked_ids} acknowledged ids, accepted {acc.accepted}, duplicates {acc.duplicates}, "
        f"lost {acc.lost}, answers not covering their batch {acc.bad_answers}, accepted twice {acc.accepted_twice}"
    )
    print(
        f"  generator CPU: {res.cpu:.1f} s in {res.wall:.1f} s = {100 * res.cpu / res.wall:.0f}% of one core "
        f"(this process, on {common.machine_note()})"
    )
    served = len(everything) + len(res.health_ms) + (len(res.flood.all_latencies()) if res.flood else 0)
    print(
        f"  server CPU: {res.server_cpu:.1f} s = {res.server_cpu / res.wall:.2f} cores, "
        f"{1000 * res.server_cpu / max(1, served):.2f} ms per request ({served} requests, flood and "
        "/health probes included): the measure to compare on a shared machine"
    )
    for line in s.first_errors:
        print("  error:", line)
    checks = [
        ("zero errors", errors == 0),
        ("zero lost events, each id accepted once", acc.ok),
        (f"p99 < {P99_TARGET_MS:.0f} ms at {args.clients} clients", p99 < P99_TARGET_MS),
    ]
    if res.flood is not None:
        f = res.flood
        fl = f.all_latencies()
        hp99 = common.percentile(res.health_ms, 99)
        print(
            f"  flood: {len(fl)} bad requests ({len(f.latencies.get('flood (connection closed)', []))} "
            f"closed by the server), {sum(f.errors.values())} answered other than 4xx; /health "
            f"p50 {common.percentile(res.health_ms, 50):.1f} ms p99 {hp99:.1f} ms over {len(res.health_ms)} probes"
        )
        for line in f.first_errors:
            print("  flood error:", line)
        checks.append(("flood: bad inputs get a 4xx", sum(f.errors.values()) == 0))
        checks.append(
            (
                f"/health p99 < {HEALTH_P99_TARGET_MS:.0f} ms during the flood",
                hp99 < HEALTH_P99_TARGET_MS and not res.health_errors,
            )
        )
    for name, ok in checks:
        print(f"  {common.verdict(ok)}  {name}")
    return all(ok for _, ok in checks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--flood", action="store_true", help="also run the flood and probe /health")
    ap.add_argument("--flood-clients", type=int, default=4)
    ap.add_argument(
        "--flood-rate", type=float, default=40.0, help="bad requests per second, all flood clients"
    )
    ap.add_argument(
        "--pg-maxsize", type=int, default=0, help="connections per asyncpg pool (0: Tortoise's default, 5)"
    )
    ap.add_argument("--seed-events", type=int, default=5_000, help="events ingested before the timed run")
    args = ap.parse_args(argv)

    ds = Dataset(Params(bots=6, users=3_000, conversations=4_000, days=2, seed=17), now_us() - 60_000_000)
    all_batches = batches(ds)
    n_seed = 0
    while n_seed < len(all_batches) and sum(len(b) for b in all_batches[:n_seed]) < args.seed_events:
        n_seed += 1
    seed_batches, live_batches = all_batches[:n_seed], all_batches[n_seed:]
    reads = read_requests(ds.bot_uuids)
    print(
        f"load: {args.clients} clients, {args.seconds:g} s, {args.workers} workers, {args.db}, "
        f"{len(reads)} read requests over {len(ROUTES)} routes, {len(live_batches)} batches to ingest"
        f"{', flood on' if args.flood else ''}; rate limits off; {common.machine_note()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        workdir = Path(tmp)
        db_path = workdir / "load.sqlite3"
        pg_name = f"bench_load_{uuid.uuid4().hex[:10]}"
        if args.db == "postgres":
            _psql(f"CREATE DATABASE {pg_name}")
            url = f"postgres://postgres@127.0.0.1:5432/{pg_name}"
            if args.pg_maxsize:
                url += f"?maxsize={args.pg_maxsize}"
        else:
            url = common.sqlite_url(db_path)
        try:
            _migrate(url)
            env = {"ANALYTICS_DATABASE_URL": url, "ANALYTICS_RATE_LIMIT_ENABLED": "false"}
            with common.Server(
                db_path, workdir, extra_env=env, workers=args.workers, launcher="bench.load_server"
            ) as server:
                seed_stats = Stats()
                asyncio.run(_seed(server.base_url, seed_batches, seed_stats))
                cpu0 = server.cpu_seconds()
                res = asyncio.run(_run(server.base_url, reads, live_batches, args))
                res.server_cpu = server.cpu_seconds() - cpu0
                res.stats.acks += seed_stats.acks
                for label, n in seed_stats.errors.items():
                    res.stats.errors["seed " + label] = n
                    res.stats.latencies.setdefault("seed " + label, [])
            stored = _stored_ids(args.db, url, db_path)
            acc = account(res.stats.acks, stored)
            ok = report(res, acc, args)
        finally:
            if args.db == "postgres":
                _psql(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")
    return 0 if ok else 1


async def _seed(base_url: str, seed_batches: list[list[dict[str, Any]]], stats: Stats) -> None:
    headers = {**common.auth_headers(["admin"]), "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for events in seed_batches:
            r = await client.post(
                common.PREFIX + "/events", content=orjson.dumps({"events": events}), headers=headers
            )
            if r.status_code != 200:
                stats.error("POST /events", f"HTTP {r.status_code} {r.text}")
                continue
            body = r.json()
            stats.acks.append(([e["id"] for e in events], int(body["accepted"]), int(body["duplicates"])))


if __name__ == "__main__":
    sys.exit(main())
