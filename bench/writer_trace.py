"""The service with its ingestion writer timed, for `BENCH_FACTORY=bench.writer_trace:create`:

    BENCH_FACTORY=bench.writer_trace:create python -m bench ingest --repeat 1 --no-profile

On exit the server appends to `bench/out/writer-trace.txt` how much of the run the SQLite writer
thread was busy writing groups, how much CPU it used meanwhile (busy but off the CPU: waiting for
the GIL or for I/O), and the groups it wrote. It watches through `app.ingest.IngestHooks`. A diagnostic: the benchmark's numbers come from the plain app.
"""

from __future__ import annotations

import atexit
import time

from fastapi import FastAPI

from app.ingest import IngestHooks, install_hooks
from bench.common import OUT_DIR


class _Trace(IngestHooks):
    """Times each group on the writer's thread (SQLite: `group_started` and `group_ended` run there)."""

    def __init__(self) -> None:
        self.stats: dict[str, float] = {
            "busy": 0.0,
            "cpu": 0.0,
            "first": 0.0,
            "last": 0.0,
            "groups": 0,
            "batches": 0,
        }
        self.started = (0.0, 0.0)

    def group_started(self, batches: int) -> None:
        stats = self.stats
        stats["groups"] += 1
        stats["batches"] += batches
        t = time.perf_counter()
        self.started = (t, time.thread_time())
        stats["first"] = stats["first"] or t

    def group_ended(self, batches: int) -> None:
        t, cpu = self.started
        stats = self.stats
        stats["last"] = time.perf_counter()
        stats["busy"] += stats["last"] - t
        stats["cpu"] += time.thread_time() - cpu


def create() -> FastAPI:
    from app.config import get_settings
    from server.app import create_app

    trace = _Trace()
    stats = trace.stats
    install_hooks(trace)

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
