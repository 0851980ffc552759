"""Where a batch's time goes inside `app.ingest.ingest_events` (in-process, no HTTP): parsing,
and each SQL statement timed around Tortoise's client calls (await included: the aiosqlite
thread hand-off is part of the cost).

    python -m bench.ingest_breakdown [--events 50000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import common
from bench.datagen import time_ordered_events
from bench.ingest_bench import dataset


def _label(query: str) -> str:
    q = re.sub(r"\s+", " ", query).strip()
    q = re.sub(r"\(\?(, ?\?)*\)|IN \([?,]+\)", "(…)", q)
    m = re.match(r"(SELECT .*? FROM \w+|INSERT INTO \w+|UPDATE \w+|DELETE FROM \w+|\w+)", q)
    return m.group(1)[:60] if m else q[:60]


async def _run(events: list[dict[str, Any]], batch: int, db: Path, pragmas: list[str]) -> None:
    from tortoise.backends.sqlite import client as sqlite_client

    import app.ingest as ingest
    from app.auth import Principal
    from app.db import close_db, init_db

    await init_db(common.sqlite_url(db))
    from app.db import connection

    for pragma in pragmas:  # experiments: --pragma cache_size=-65536
        await connection().execute_script(f"PRAGMA {pragma}")
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)

    def wrap(cls: type, name: str) -> None:
        original = getattr(cls, name)

        async def timed(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await original(self, query, *args, **kwargs)
            finally:
                key = f"{name}: {_label(query)}"
                totals[key] += time.perf_counter() - t
                counts[key] += 1

        setattr(cls, name, timed)

    for cls in (sqlite_client.SqliteClient, sqlite_client.SqliteTransactionWrapper):
        for name in ("execute_many", "execute_query", "execute_query_dict"):
            if name in cls.__dict__:
                wrap(cls, name)

    def wrap_plain(cls: type, name: str) -> None:
        original = getattr(cls, name)

        async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await original(self, *args, **kwargs)
            finally:
                totals[f"transaction {name}"] += time.perf_counter() - t
                counts[f"transaction {name}"] += 1

        setattr(cls, name, timed)

    for name in ("begin", "commit"):
        wrap_plain(sqlite_client.SqliteTransactionWrapper, name)
    original_apply = ingest._apply

    async def apply_timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        sql_before = sum(v for k, v in totals.items() if k.startswith("execute"))
        try:
            return await original_apply(*args, **kwargs)
        finally:
            sql_in = sum(v for k, v in totals.items() if k.startswith("execute")) - sql_before
            totals["_apply Python (folding, row building)"] += time.perf_counter() - t - sql_in
            counts["_apply Python (folding, row building)"] += 1

    ingest._apply = apply_timed  # type: ignore[assignment]
    original_parse = ingest.parse_events

    def parse_timed(raw: Any, now_us: int) -> Any:
        t = time.perf_counter()
        try:
            return original_parse(raw, now_us)
        finally:
            totals["parse_events (validation)"] += time.perf_counter() - t
            counts["parse_events (validation)"] += 1

    ingest.parse_events = parse_timed  # type: ignore[assignment]
    original_fold = ingest._Conv.fold
    admin = Principal(subject="bench", roles=frozenset({"admin"}))
    n_batches = 0
    t0 = time.perf_counter()
    for i in range(0, len(events), batch):
        await ingest.ingest_events(events[i : i + batch], admin)
        n_batches += 1
    wall = time.perf_counter() - t0
    ingest.parse_events = original_parse  # type: ignore[assignment]
    ingest._apply = original_apply  # type: ignore[assignment]
    ingest._Conv.fold = original_fold  # type: ignore[method-assign]
    await close_db()
    accounted = sum(totals.values())
    rows = [
        [k, counts[k], f"{1000 * v / n_batches:.2f}", f"{100 * v / wall:.1f}%"]
        for k, v in sorted(totals.items(), key=lambda kv: -kv[1])
    ]
    rows.append(["(rest: HTTP-free glue, dedup, lock, awaits)", "", f"{1000 * (wall - accounted) / n_batches:.2f}",
                 f"{100 * (wall - accounted) / wall:.1f}%"])  # fmt: skip
    print(
        f"  {len(events):,} events in {n_batches} batches of {batch}: {len(events) / wall:,.0f} events/s in-process"
    )
    print(common.table(["step", "calls", "ms per batch", "share"], rows))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_breakdown")
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument(
        "--pragma", action="append", default=[], help="extra PRAGMA on the app's connection (repeatable)"
    )
    a = p.parse_args(argv)
    events = time_ordered_events(dataset(a.events, 6.0))
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as tmp:
        asyncio.run(_run(events, a.batch, Path(tmp) / "analytics.sqlite3", a.pragma))


if __name__ == "__main__":
    main()
