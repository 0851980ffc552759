"""Ingestion on PostgreSQL (issue 14): the service's own HTTP ingestion into one PostgreSQL database,
by one instance and by two instances at once, against one instance on SQLite.

    python -m bench ingest --db postgres [--events 100000] [--batch 500] [--clients 4] [--repeat 3]

The events and request bodies are `bench ingest`'s (time-ordered traffic of 6 bots and 5,000 users).
Each repeat runs, on fresh databases: SQLite, one instance (`--clients` clients); PostgreSQL, one
instance (`--clients` clients); PostgreSQL, two instances on one database (`--clients` clients
each), twice: the bodies dealt alternately (a round-robin balancer: consecutive batches of the
same conversations and users go to different processes, whose groups then wait for each other's
locks) and the events split by user (streams that share no conversation or user: what a global
lock would still serialise). Medians of the repeats are compared. The PostgreSQL servers run
`bench.pg:lock_trace`, which adds up the time groups spent taking their advisory locks (mostly
waiting for the other process) as a share of the groups' time.

Targets (issue 14): PostgreSQL one instance >= 0.8 x SQLite; two instances (dealt alternately) >=
1.0 x one instance; locks < 10% of group time when the streams share no key (with shared keys
the share is printed: the wait is the other process's transaction on the same conversations);
every event stored, no errors. Exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common, pg
from bench.datagen import time_ordered_events
from bench.ingest_bench import Payloads, _post_all, dataset, run_http

TARGET_PG_VS_SQLITE = 0.8
TARGET_TWO_VS_ONE = 1.0
TARGET_LOCK_SHARE = 0.10


@dataclass
class PgRun:
    events: int
    seconds: float
    errors: int
    stored: int
    groups: int
    group_s: float
    lock_s: float
    keys: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def lock_share(self) -> float:
        return self.lock_s / self.group_s if self.group_s else 0.0


def run_pg(shares: list[Payloads], clients: int, workdir: Path) -> PgRun:
    """Post each share of the bodies to a server of its own, all on one fresh PostgreSQL database."""
    instances = len(shares)
    url = pg.fresh_database("bench_ingest")
    trace = workdir / f"locks-{time.monotonic_ns()}.txt"
    env = {"ANALYTICS_DATABASE_URL": url, "BENCH_LOCK_TRACE": str(trace)}
    servers: list[common.Server] = []
    try:
        for _ in range(instances):  # one after the other: the first one migrates
            servers.append(
                common.Server(
                    workdir / "unused.sqlite3", workdir, extra_env=env, factory="bench.pg:lock_trace"
                ).start()
            )

        async def post() -> tuple[float, int]:
            t0 = time.perf_counter()
            results = await asyncio.gather(
                *(
                    _post_all(s.base_url, share.bodies, clients, share.sizes)
                    for s, share in zip(servers, shares, strict=True)
                )
            )
            return time.perf_counter() - t0, sum(errors for _, _, errors in results)

        wall, errors = asyncio.run(post())
    finally:
        for s in servers:
            s.stop()
    stored = pg.fetch(url, "SELECT count(*) AS n FROM events")[0]["n"]
    pg.drop_database(url)
    groups, group_s, lock_s, keys = pg.read_lock_trace(str(trace))
    return PgRun(
        sum(sum(share.sizes) for share in shares), wall, errors, stored, groups, group_s, lock_s, keys
    )


def dealt(payloads: Payloads, n: int) -> list[Payloads]:
    """The bodies dealt alternately to `n` instances (a round-robin load balancer): consecutive
    bodies of the same conversations and users go to different processes."""
    return [Payloads(payloads.bodies[k::n], payloads.sizes[k::n]) for k in range(n)]


def by_user(events: list[dict[str, Any]], batch: int, n: int) -> list[Payloads]:
    """The events split by user (each instance gets every event of its users, in time order,
    batched again): streams that share no conversation or user."""
    shares: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for e in events:
        shares[zlib.crc32(e["user_id"].encode()) % n].append(e)
    return [Payloads.of(share, batch) for share in shares]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench ingest --db postgres", description=__doc__)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--clients", type=int, default=4, help="clients per instance")
    p.add_argument("--hours", type=float, default=6.0)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)

    print(f"== ingest benchmark on PostgreSQL ({common.machine_note()}; server {pg.ADMIN_URL})")
    ds = dataset(a.events, a.hours)
    events = time_ordered_events(ds)
    payloads = Payloads.of(events, a.batch)
    print(f"  {len(events):,} events, bodies of {a.batch}, {a.clients} clients per instance")
    sqlite_rates: list[float] = []
    one: list[PgRun] = []
    two: list[PgRun] = []
    apart: list[PgRun] = []
    ok_stored = True
    with tempfile.TemporaryDirectory(prefix="bench-ingest-pg-") as tmp:
        workdir = Path(tmp)
        for i in range(a.repeat):
            lite = run_http(payloads, a.clients, workdir)
            sqlite_rates.append(lite.rate)
            one.append(run_pg([payloads], a.clients, workdir))
            two.append(run_pg(dealt(payloads, 2), a.clients, workdir))
            apart.append(run_pg(by_user(events, a.batch, 2), a.clients, workdir))
            ok_stored &= lite.errors == 0 and lite.stored_events == len(events)
            ok_stored &= all(r.errors == 0 and r.stored == len(events) for r in (one[-1], two[-1], apart[-1]))
            print(
                f"  run {i + 1}/{a.repeat}: SQLite {lite.rate:,.0f} events/s; PostgreSQL one instance "
                f"{one[-1].rate:,.0f} (locks {one[-1].lock_share:.1%} of group time); two instances, "
                f"bodies dealt alternately {two[-1].rate:,.0f} (locks {two[-1].lock_share:.1%}, "
                f"{two[-1].groups} groups, {two[-1].keys / max(two[-1].groups, 1):.0f} keys each), "
                f"split by user {apart[-1].rate:,.0f} (locks {apart[-1].lock_share:.1%})"
            )
    sqlite_rate = common.median(sqlite_rates)
    one_rate = common.median([r.rate for r in one])
    two_rate = common.median([r.rate for r in two])
    apart_rate = common.median([r.rate for r in apart])
    lock_share = common.median([r.lock_share for r in two])
    apart_share = common.median([r.lock_share for r in apart])
    rows = [
        ["SQLite, one instance", f"{sqlite_rate:,.0f}", "", ""],
        ["PostgreSQL, one instance", f"{one_rate:,.0f}", f"{one_rate / sqlite_rate:.2f} x SQLite",
         f"{common.median([r.lock_share for r in one]):.1%}"],
        ["PostgreSQL, two instances on one database, bodies dealt alternately", f"{two_rate:,.0f}",
         f"{two_rate / one_rate:.2f} x one instance", f"{lock_share:.1%}"],
        ["PostgreSQL, two instances on one database, split by user", f"{apart_rate:,.0f}",
         f"{apart_rate / one_rate:.2f} x one instance", f"{apart_share:.1%}"],
    ]  # fmt: skip
    print(
        common.table([f"ingestion (median of {a.repeat})", "events/s", "ratio", "locks / group time"], rows)
    )
    checks = [
        ["PostgreSQL one instance / SQLite", f"{one_rate / sqlite_rate:.2f}", f">= {TARGET_PG_VS_SQLITE}",
         common.verdict(one_rate / sqlite_rate >= TARGET_PG_VS_SQLITE)],
        ["PostgreSQL two instances / one", f"{two_rate / one_rate:.2f}", f">= {TARGET_TWO_VS_ONE}",
         common.verdict(two_rate / one_rate >= TARGET_TWO_VS_ONE)],
        ["locks / group time, two instances, split by user", f"{apart_share:.1%}", f"< {TARGET_LOCK_SHARE:.0%}",
         common.verdict(apart_share < TARGET_LOCK_SHARE)],
        ["locks / group time, two instances, dealt alternately", f"{lock_share:.1%}", "(info)", ""],
        ["every event stored once, no errors", "yes" if ok_stored else "no", "yes", common.verdict(ok_stored)],
    ]  # fmt: skip
    print(common.table(["check", "measured", "target", "result"], checks))
    passed = all(row[-1] != "FAIL" for row in checks)
    print(f"  ingest (PostgreSQL): {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
