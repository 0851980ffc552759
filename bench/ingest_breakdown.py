"""Where a batch's time goes inside `app.ingest.ingest_events` (in-process, no HTTP): parsing,
each SQL statement of a group's transaction (run on aiosqlite's thread), the Python between them,
and the rest (the thread hand-off, the writer's queue). It watches through `app.ingest.IngestHooks`.

    python -m bench.ingest_breakdown [--events 50000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from app.ingest import IngestHooks
from bench import common
from bench.datagen import time_ordered_events
from bench.ingest_bench import dataset


def _label(query: str) -> str:
    q = re.sub(r"\s+", " ", query).strip()
    q = re.sub(r"\(\?(, ?\?)*\)|IN \([?,]+\)", "(…)", q)
    m = re.match(r"(SELECT .*? FROM \w+|INSERT INTO \w+|UPDATE \w+|DELETE FROM \w+|\w+)", q)
    return m.group(1)[:60] if m else q[:60]


class _TimedDb:
    """Stands in for the sqlite3 connection `app.ingest` drives a group's transaction on: times
    each statement (BEGIN and COMMIT included) by its label."""

    def __init__(self, db: Any, totals: dict[str, float], counts: dict[str, int]) -> None:
        self.db, self.totals, self.counts = db, totals, counts

    @property
    def in_transaction(self) -> bool:
        return bool(self.db.in_transaction)

    def _timed(self, kind: str, query: str, *args: Any) -> Any:
        t = time.perf_counter()
        try:
            out = getattr(self.db, kind)(query, *args)
            if kind == "execute" and query.lstrip().upper().startswith(("SELECT", "INSERT")):
                out = _Fetched(out.description, out.fetchall())
            return out
        finally:
            key = f"{kind}: {_label(query)}"
            self.totals[key] += time.perf_counter() - t
            self.counts[key] += 1

    def execute(self, query: str, *args: Any) -> Any:
        return self._timed("execute", query, *args)

    def executemany(self, query: str, *args: Any) -> Any:
        return self._timed("executemany", query, *args)


class _Fetched:
    def __init__(self, description: Any, rows: list[Any]) -> None:
        self.description, self.rows = description, rows

    def fetchall(self) -> list[Any]:
        return self.rows


class _Breakdown(IngestHooks):
    """Times validation, and each group's statements (through `_TimedDb`) and the Python between
    them (the group's time less its SQL)."""

    def __init__(self, totals: dict[str, float], counts: dict[str, int]) -> None:
        self.totals, self.counts = totals, counts
        self.started = (0.0, 0.0)

    def _sql(self) -> float:
        return sum(v for k, v in self.totals.items() if k.startswith("execute"))

    def batch_parsed(self, events: int, seconds: float) -> None:
        self.totals["parse_events (validation)"] += seconds
        self.counts["parse_events (validation)"] += 1

    def group_started(self, batches: int) -> None:
        self.started = (time.perf_counter(), self._sql())

    def group_ended(self, batches: int) -> None:
        t, sql_before = self.started
        sql_in = self._sql() - sql_before
        self.totals["group Python (folding, row building)"] += time.perf_counter() - t - sql_in
        self.counts["group Python (folding, row building)"] += 1

    def sqlite_connection(self, db: sqlite3.Connection) -> sqlite3.Connection:
        return _TimedDb(db, self.totals, self.counts)  # type: ignore[return-value]


async def _run(events: list[dict[str, Any]], batch: int, db: Path, pragmas: list[str]) -> None:
    import app.ingest as ingest
    from app.auth import Principal
    from app.db import close_db, init_db

    await init_db(common.sqlite_url(db))
    from app.db import connection

    for pragma in pragmas:  # experiments: --pragma cache_size=-65536
        await connection().execute_script(f"PRAGMA {pragma}")
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    previous = ingest.install_hooks(_Breakdown(totals, counts))
    admin = Principal(subject="bench", roles=frozenset({"admin"}))
    n_batches = 0
    t0 = time.perf_counter()
    for i in range(0, len(events), batch):
        await ingest.ingest_events(events[i : i + batch], admin)
        n_batches += 1
    wall = time.perf_counter() - t0
    ingest.install_hooks(previous)
    await close_db()
    accounted = sum(totals.values())
    rows = [
        [k, counts[k], f"{1000 * v / n_batches:.2f}", f"{100 * v / wall:.1f}%"]
        for k, v in sorted(totals.items(), key=lambda kv: -kv[1])
    ]
    rows.append(["(rest: hand-off to the thread, writer queue)", "", f"{1000 * (wall - accounted) / n_batches:.2f}",
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
