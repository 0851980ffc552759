"""The service with its ingestion writer timed, for `BENCH_FACTORY=bench.writer_trace:create`:

    BENCH_FACTORY=bench.writer_trace:create python -m bench ingest --repeat 1 --no-profile

On exit the server appends to `bench/out/writer-trace.txt` how much of the run the SQLite writer
thread was busy, how much CPU it used meanwhile (busy but off the CPU: waiting for the GIL or
for I/O), and the groups it wrote. A diagnostic: the benchmark's numbers come from the plain app.
"""

from __future__ import annotations

import atexit
import time
from typing import Any

from fastapi import FastAPI

from bench.common import OUT_DIR


def create() -> FastAPI:
    import app.ingest as ingest
    from app.config import get_settings
    from server.app import create_app

    stats: dict[str, float] = {"busy": 0.0, "cpu": 0.0, "first": 0.0, "last": 0.0, "groups": 0, "batches": 0}
    on_thread = ingest._Writer.write_on_thread
    group = ingest._sqlite_group

    def timed_on_thread(self: Any, db: Any, loop: Any, jobs: Any) -> None:
        t, cpu = time.perf_counter(), time.thread_time()
        stats["first"] = stats["first"] or t
        try:
            on_thread(self, db, loop, jobs)
        finally:
            stats["last"] = time.perf_counter()
            stats["busy"] += stats["last"] - t
            stats["cpu"] += time.thread_time() - cpu

    def counted_group(db: Any, jobs: list[Any]) -> Any:
        stats["groups"] += 1
        stats["batches"] += len(jobs)
        return group(db, jobs)

    ingest._Writer.write_on_thread = timed_on_thread  # type: ignore[method-assign]
    ingest._sqlite_group = counted_group

    def report() -> None:
        span = max(stats["last"] - stats["first"], 1e-9)
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        with (OUT_DIR / "writer-trace.txt").open("a") as out:
            out.write(
                f"span {span:.2f} s: writer busy {stats['busy'] / span:.0%}, on CPU {stats['cpu'] / span:.0%}; "
                f"{stats['groups']:.0f} groups of {stats['batches'] / max(stats['groups'], 1):.1f} batches, "
                f"{1000 * stats['busy'] / max(stats['groups'], 1):.1f} ms each\n"
            )

    atexit.register(report)
    return create_app(get_settings())
