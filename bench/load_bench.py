"""`python -m bench load`: mixed read/ingest load on two worker processes (issue 10, "Load").

32 concurrent clients (aiohttp, bench/load_client.py; `--client httpx` for comparison) for
`--seconds` (60): 80% reads over every read route, REST and GraphQL, with varied `days`,
`group_by`, `bot_id` and `timezone`; 20% ingestion of batches with event ids, a tenth of them
retries of a batch already acknowledged (all duplicates); no think time. The service runs as two
single-process uvicorn servers, one port each, with the clients split evenly between them
(bench/load_server.py: serve's head limits; `--shared-socket` runs uvicorn's `--workers 2` on one
port instead, where the accept race splits the connections unevenly) on SQLite (both processes
share the file) or, with `--db postgres`, on a fresh database on 127.0.0.1:5432 that is dropped
afterwards. Rate limits are off (ANALYTICS_RATE_LIMIT_ENABLED=false), as outside production.

Prints p50/p99 per route, throughput, errors (any non-2xx, any transport error) and lost events:
every acknowledged event id must be in the events table afterwards, and the `accepted` counts of
all answers must add up to the distinct acknowledged ids (each stored exactly once, duplicates
never counted as accepted). `--flood` adds a second set of clients sending bad inputs (invalid
parameters, huge ranges, 300 aliases of the widest series in one GraphQL document, bad tokens,
oversized bodies, many headers) at a bounded rate and reports `/health` p50/p99 meanwhile. The
generator's own CPU use is printed: on a small machine it takes cores from the server.

Besides the client-side latencies (the targets), each answer's server-side time is printed (from
bench/load_server.py's `x-bench-t` stamps: head parsed, app called, answer sent), with where a
request's time goes (to the worker, the worker's loop queue, the app, back), the event loops' lags
and GC pauses of the generator and of each worker, each worker's client connections and, per
database connection, the wait for it and how long it is held. `--trace-writer` adds ingestion's
groups and their wait for the write lock (SQLite) or advisory locks (PostgreSQL).

Targets (PASS/FAIL): zero errors, zero lost events, p99 < 250 ms over all requests at 32 clients,
`/health` p99 < 100 ms during the flood.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import common
from bench.datagen import Dataset, Params, now_us, timed_api_events
from bench.load_client import CLIENTS, TRANSPORT_ERRORS, Answer, Client, open_client
from bench.load_server import LoopWatch

P99_TARGET_MS = 250.0
HEALTH_P99_TARGET_MS = 100.0
READ_SHARE = 0.8
RETRY_SHARE = 0.1
BATCH_EVENTS = 50
CONVERSATIONS_PER_SECOND = 600
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"

# REST path -> GraphQL document of rest_shim (None: REST only), and the parameters it takes: the
# read routes of API.md sections 5 and 9, and GET /reports.
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
    "/conversations/outcomes": ("conversations_outcomes", ("days", "bot_id", "timezone")),
    "/intents": ("intents", ("days", "bot_id", "timezone")),
    "/performance": ("performance", ("days", "bot_id", "timezone")),
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


@dataclass(frozen=True)
class Batch:
    """One batch to ingest: its event ids and its request body (encoded once, before the run)."""

    ids: list[str]
    body: bytes

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> Batch:
        return cls([e["id"] for e in events], orjson.dumps({"events": events}))


def batches(ds: Dataset, size: int = BATCH_EVENTS) -> list[Batch]:
    """Whole conversations (their events in order) packed into batches of about `size` events, so
    concurrent batches never split a conversation."""
    out: list[Batch] = []
    cur: list[dict[str, Any]] = []
    for conv in ds.conversations():
        cur.extend(ev for _, ev in timed_api_events(ds, conv))
        if len(cur) >= size:
            out.append(Batch.of(cur))
            cur = []
    if cur:
        out.append(Batch.of(cur))
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
    # Per answer with bench.load_server's stamps: label and the four parts of its client-side time
    # in ms (to the server, the worker's loop queue, the app, back to the client; PHASES).
    phases: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    ingest_skipped: int = 0  # ingestion turns with no new batch left

    def add(self, label: str, ms: float) -> None:
        self.latencies.setdefault(label, []).append(ms)

    def answered(self, label: str, sent: float, answer: Answer) -> None:
        """An answer received at `answer.received` to a request started at `sent` (perf_counter)."""
        self.add(label, (answer.received - sent) * 1000)
        if answer.stamps:
            parsed, called, done = (float(x) for x in answer.stamps.split())
            self.phases.append(
                (
                    label,
                    (parsed - sent) * 1000,
                    (called - parsed) * 1000,
                    (done - called) * 1000,
                    (answer.received - done) * 1000,
                )
            )

    def error(self, label: str, text: str) -> None:
        self.errors[label] = self.errors.get(label, 0) + 1
        if len(self.first_errors) < 5:
            self.first_errors.append(f"{label}: {text[:300]}")

    def acknowledged(self, label: str, batch: Batch, r: Answer) -> None:
        """Keep an ingestion answer's counts for the accounting, or count it as an error."""
        if r.status != 200:
            self.error(label, f"HTTP {r.status} {r.text}")
            return
        body = orjson.loads(r.body)
        self.acks.append((batch.ids, int(body["accepted"]), int(body["duplicates"])))

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
    pool: Sequence[Client],
    reads: list[Read],
    ingest: list[Batch],
    clients: int,
    seconds: float,
    stats: Stats,
    watch: LoopWatch,
) -> float:
    headers = common.auth_headers(["admin"])
    json_headers = {**headers, "Content-Type": "application/json"}
    gql_bodies = {i: _graphql_payload(r) for i, r in enumerate(reads) if r.document}
    kinds = plan(100_000)
    state = {"n": 0, "batch": 0}
    rng = random.Random(5)
    deadline = time.perf_counter() + seconds

    async def ingest_one(client: Client) -> None:
        if stats.acks and rng.random() < RETRY_SHARE:
            batch = ingest[rng.randrange(state["batch"])]  # a retry of an acknowledged batch
            label = "POST /events (retry)"
        elif state["batch"] < len(ingest):
            batch = ingest[state["batch"]]
            state["batch"] += 1
            label = "POST /events"
        else:
            stats.ingest_skipped += 1  # out of new batches: the mix is no longer 80/20
            return
        t = time.perf_counter()
        r = await client.request("POST", common.PREFIX + "/events", content=batch.body, headers=json_headers)
        stats.answered(label, t, r)
        stats.acknowledged(label, batch, r)

    async def read_one(client: Client, i: int) -> None:
        read = reads[i]
        t = time.perf_counter()
        if read.document:
            r = await client.request("POST", "/graphql", content=gql_bodies[i], headers=json_headers)
            failed = r.status != 200 or bool(orjson.loads(r.body).get("errors"))
        else:
            r = await client.request("GET", common.PREFIX + read.path, params=read.query, headers=headers)
            failed = not 200 <= r.status < 300
        stats.answered(read.label, t, r)
        if failed:
            stats.error(read.label, f"{read.query} HTTP {r.status} {r.text}")

    async def worker(k: int) -> None:
        ri = k * 7
        client = pool[k % len(pool)]  # one worker's clients per pool (an even split)
        while time.perf_counter() < deadline:
            n = state["n"]
            state["n"] += 1
            try:
                if kinds[n % len(kinds)] == "ingest":
                    await ingest_one(client)
                else:
                    ri = (ri + 1) % len(reads)
                    await read_one(client, ri)
            except TRANSPORT_ERRORS as exc:
                stats.error("transport", repr(exc))

    watch.start()  # after the set-up above
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


async def _flood(client: Client, seconds: float, rate: float, flood_stats: Stats) -> None:
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
            if not _refused(path, r.status, r.body):
                flood_stats.error(label, f"{len(headers)} headers: HTTP {r.status} {r.text[:80]}")
            flood_stats.add("flood", (time.perf_counter() - t) * 1000)
        except TRANSPORT_ERRORS:
            flood_stats.add("flood (connection closed)", (time.perf_counter() - t) * 1000)
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t)))


async def _health(pool: Sequence[Client], seconds: float, out: list[float], errors: list[str]) -> None:
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        n += 1
        try:
            r = await pool[n % len(pool)].request("GET", "/health")  # each worker in turn
            if r.status != 200:
                errors.append(f"HTTP {r.status}")
        except TRANSPORT_ERRORS as exc:
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
    client_watch: LoopWatch
    server_cpu: float = 0.0
    pg_cpu: float | None = None  # the benchmark database's PostgreSQL backends (PgCpu)
    workers: list[dict[str, Any]] = field(default_factory=list)  # bench.load_server's traces


async def _run(
    base_urls: Sequence[str],
    reads: list[Read],
    ingest: list[Batch],
    args: argparse.Namespace,
) -> RunResult:
    stats = Stats()
    flood_stats = Stats() if args.flood else None
    health_ms: list[float] = []
    health_errors: list[str] = []
    watch = LoopWatch()
    cpu0 = time.process_time()
    n = len(base_urls)
    pool = [open_client(args.client, url, -(-args.clients // n), timeout=60) for url in base_urls]
    side = [open_client(args.client, url, timeout=30) for url in base_urls]
    probe = [open_client(args.client, url, timeout=30) for url in base_urls]
    try:
        tasks: list[Coroutine[Any, Any, float | None]] = [
            _load(pool, reads, ingest, args.clients, args.seconds, stats, watch)
        ]
        if flood_stats is not None:
            tasks += [
                _flood(side[i % n], args.seconds, args.flood_rate / args.flood_clients, flood_stats)
                for i in range(args.flood_clients)
            ]
            tasks.append(_health(probe, args.seconds, health_ms, health_errors))
        results = await asyncio.gather(*tasks)
    finally:
        for c in (*pool, *side, *probe):
            await c.aclose()
        watch.stop()
    wall = float(results[0] or 0.0)
    return RunResult(wall, time.process_time() - cpu0, stats, flood_stats, health_ms, health_errors, watch)


class PgCpu:
    """CPU time (user + system) of the PostgreSQL backends serving one database, from /proc: every
    0.2 s the cumulative CPU of each process titled `postgres: <user> <database> ...` (a backend
    that exits between samples loses at most 0.2 s; the pools keep theirs for the whole run). On a
    shared 2-core machine the server's own CPU is only half of a request's cost: this is the other
    half (0 where /proc cannot be read: another user's processes)."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} "
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = False

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if not title.startswith("postgres: ") or self.marker not in title:
                    continue
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            pid, cpu = int(entry.name), (int(fields[11]) + int(fields[12])) / tick
            self.first.setdefault(pid, 0.0 if self._started else cpu)  # born during the run: from 0
            self.last[pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> PgCpu:
        self._sample()
        self._started = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


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
    server_ms: dict[str, list[float]] = {}
    for label, _to, queue, app, _back in s.phases:
        server_ms.setdefault(label, []).append(queue + app)
    for label in sorted(s.latencies):
        ms = s.latencies[label]
        rows.append(
            [
                label,
                len(ms),
                f"{common.percentile(ms, 50):.1f}",
                f"{common.percentile(ms, 99):.1f}",
                f"{common.percentile(server_ms.get(label, []), 50):.1f}",
                f"{common.percentile(server_ms.get(label, []), 99):.1f}",
                s.errors.get(label, 0),
            ]
        )
    print(common.table(["route", "requests", "p50 ms", "p99 ms", "server p50", "server p99", "errors"], rows))
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
        f"  generator CPU: {res.cpu:.1f} s in {res.wall:.1f} s = {100 * res.cpu / res.wall:.0f}% of one core, "
        f"{1000 * res.cpu / max(1, len(everything)):.2f} ms per request ({args.client}) "
        f"(this process, on {common.machine_note()})"
    )
    served = len(everything) + len(res.health_ms) + (len(res.flood.all_latencies()) if res.flood else 0)
    print(
        f"  server CPU: {res.server_cpu:.1f} s = {res.server_cpu / res.wall:.2f} cores, "
        f"{1000 * res.server_cpu / max(1, served):.2f} ms per request ({served} requests, flood and "
        "/health probes included): the measure to compare on a shared machine"
    )
    if res.pg_cpu is not None:
        print(
            f"  PostgreSQL backends CPU: {res.pg_cpu:.1f} s = {res.pg_cpu / res.wall:.2f} cores, "
            f"{1000 * res.pg_cpu / max(1, served):.2f} ms per request (this run's database only)"
        )
    if s.ingest_skipped:
        print(
            f"  NOTE: {s.ingest_skipped} ingestion turns found no new batch left (the data set ran out): "
            "the mix was not 80/20 to the end"
        )
    print(_breakdown(res))
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


def _spread(values: Sequence[float]) -> str:
    return (
        f"p50 {common.percentile(values, 50):6.1f}  p99 {common.percentile(values, 99):6.1f}  "
        f"max {max(values, default=float('nan')):6.1f}"
    )


def _breakdown(res: RunResult) -> str:
    """Where the client-side time goes (from the server's stamps), and the event loops' lags."""
    phases = res.stats.phases
    parts = list(zip(*(p[1:] for p in phases), strict=True)) if phases else [[], [], [], []]
    to_server, queue, app, back = parts
    lines = [
        f"  where a request's time goes, ms, over {len(phases)} answers (bench/load_server.py stamps):",
        f"    client-side total          {_spread([sum(p[1:]) for p in phases])}",
        f"    server side (queue + app)  {_spread([q + a for q, a in zip(queue, app, strict=True)])}",
        f"    - to the worker            {_spread(to_server)}  (send -> head parsed: client, network, worker loop)",
        f"    - worker loop queue        {_spread(queue)}  (head parsed -> app called)",
        f"    - app                      {_spread(app)}  (app called -> answer's head sent)",
        f"    - back to the client       {_spread(back)}  (head sent -> body read: generator loop)",
        f"  generator loop lag (5 ms timer) {_spread(res.client_watch.lags)}; "
        f"GC pauses {len(res.client_watch.gc_ms)}, max {max(res.client_watch.gc_ms, default=0):.1f} ms",
    ]
    for i, w in enumerate(res.workers):
        pauses = "; ".join(
            f"gen{g} {len(ms)} x, max {max(t for t, _ in ms):.1f} (CPU {max(c for _, c in ms):.1f})"
            for g in (0, 1, 2)
            if (
                ms := [
                    (t, c)
                    for t, c, gen in zip(w["gc_ms"], w["gc_cpu_ms"], w["gc_gen"], strict=True)
                    if gen == g
                ]
            )
        )
        lines.append(
            f"  worker {i + 1}: {w['connections']} client connections; loop lag (5 ms timer) "
            f"{_spread(w['lag_ms'])}; GC pauses: {pauses} ms"
        )
        if w["group_ms"]:
            lines.append(
                f"    writer: {len(w['group_ms'])} groups {_spread(w['group_ms'])}; waiting for the write "
                f"lock {_spread(w['write_lock_ms'])}"
                + (f"; for the file lock {_spread(w['file_lock_ms'])}" if w["file_lock_ms"] else "")
            )
        for name, uses in sorted(w["db"].items()):
            lines.append(
                f"    connection {name:8} {len(uses):6} uses: wait {_spread([u[0] for u in uses])}; "
                f"held {_spread([u[1] for u in uses])}"
            )
    return "\n".join(lines)


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
    ap.add_argument(
        "--client", choices=sorted(CLIENTS), default="aiohttp", help="the generator's HTTP client"
    )
    ap.add_argument(
        "--shared-socket",
        action="store_true",
        help="uvicorn's --workers sharing one port (connections split as the accept race goes) "
        "instead of a port per worker with the clients split evenly",
    )
    ap.add_argument(
        "--trace-writer",
        action="store_true",
        help="also time ingestion's groups and their wait for the write lock (IngestHooks)",
    )
    ap.add_argument("--seed-events", type=int, default=5_000, help="events ingested before the timed run")
    ap.add_argument(
        "--keep-db",
        action="store_true",
        help="PostgreSQL: keep the database afterwards (for EXPLAIN); prints its name",
    )
    args = ap.parse_args(argv)

    # Enough new batches for the whole run at up to ~240 batches/s (1,200 requests/s at 20%):
    # a run that runs out prints so (`ingest_skipped`), its mix no longer 80/20.
    conversations = max(4_000, int(CONVERSATIONS_PER_SECOND * args.seconds))
    ds = Dataset(
        Params(bots=6, users=3_000, conversations=conversations, days=2, seed=17), now_us() - 60_000_000
    )
    all_batches = batches(ds)
    n_seed = 0
    while n_seed < len(all_batches) and sum(len(b.ids) for b in all_batches[:n_seed]) < args.seed_events:
        n_seed += 1
    seed_batches, live_batches = all_batches[:n_seed], all_batches[n_seed:]
    reads = read_requests(ds.bot_uuids)
    gc.collect()
    gc.freeze()  # the prepared batches are never garbage: keep them out of the collector's scans
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
            traces = workdir / "traces"
            traces.mkdir()
            env = {
                "ANALYTICS_DATABASE_URL": url,
                "ANALYTICS_RATE_LIMIT_ENABLED": "false",
                "BENCH_LOAD_TRACE_DIR": str(traces),
                "BENCH_LOAD_TRACE_WRITER": "1" if args.trace_writer else "0",
            }
            server = common.Server(
                db_path,
                workdir,
                extra_env=env,
                workers=args.workers if args.shared_socket else 1,
                launcher="bench.load_server",
                factory="bench.load_server:create",
            )
            base_urls = [server.base_url]
            if not args.shared_socket and args.workers > 1:  # a port per worker (bench/load_server.py)
                ports = [server.port, *(common.free_port() for _ in range(args.workers - 1))]
                server.launcher_args = ["--worker-ports", ",".join(map(str, ports))]
                base_urls = [f"http://127.0.0.1:{port}" for port in ports]
            with server:
                seed_stats = Stats()
                asyncio.run(_seed(server.base_url, seed_batches, seed_stats, args.client))
                cpu0 = server.cpu_seconds()
                if args.db == "postgres":
                    with PgCpu(pg_name) as pg_cpu:
                        res = asyncio.run(_run(base_urls, reads, live_batches, args))
                    res.pg_cpu = pg_cpu.seconds
                else:
                    res = asyncio.run(_run(base_urls, reads, live_batches, args))
                res.server_cpu = server.cpu_seconds() - cpu0
                res.stats.acks += seed_stats.acks
                for label, n in seed_stats.errors.items():
                    res.stats.errors["seed " + label] = n
                    res.stats.latencies.setdefault("seed " + label, [])
            res.workers = [orjson.loads(f.read_bytes()) for f in sorted(traces.glob("worker-*.json"))]
            if res.stats.errors:
                print("server log (its end):\n" + server.log_tail(6000))
            stored = _stored_ids(args.db, url, db_path)
            acc = account(res.stats.acks, stored)
            ok = report(res, acc, args)
        finally:
            if args.db == "postgres" and args.keep_db:
                print(f"  kept database {pg_name}")
            elif args.db == "postgres":
                _psql(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")
    return 0 if ok else 1


async def _seed(base_url: str, seed_batches: list[Batch], stats: Stats, kind: str) -> None:
    headers = {**common.auth_headers(["admin"]), "Content-Type": "application/json"}
    client = open_client(kind, base_url, timeout=120)
    try:
        for batch in seed_batches:
            r = await client.request("POST", common.PREFIX + "/events", content=batch.body, headers=headers)
            stats.acknowledged("POST /events", batch, r)
    finally:
        await client.aclose()


if __name__ == "__main__":
    sys.exit(main())
