"""PostgreSQL for the benchmarks: the server (`BENCH_PG_URL`, default the local one), fresh databases,
and a lock-timing app factory.

    BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres   # a database to connect to for admin work

`lock_trace` serves the app with `IngestHooks` that add up, per process, the time its groups took
(`group_started` to `group_ended`) and the part of it spent taking their advisory locks
(`group_locked`); on exit it appends them to the file named by `BENCH_LOCK_TRACE`.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI

from app.ingest import IngestHooks, install_hooks

ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def url_of(name: str) -> str:
    """The URL of database `name` on the benchmark's server."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def fresh_database(prefix: str = "bench") -> str:
    """Create an empty database; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return url_of(name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def fetch(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of one query, as dicts (a connection of its own)."""
    import asyncpg

    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


class _LockTrace(IngestHooks):
    def __init__(self) -> None:
        self.stats = {"groups": 0.0, "group_s": 0.0, "lock_s": 0.0, "keys": 0.0}
        self.started: list[float] = []

    def group_started(self, batches: int) -> None:
        self.started.append(time.perf_counter())

    def group_locked(self, keys: int, seconds: float) -> None:
        self.stats["lock_s"] += seconds
        self.stats["keys"] += keys

    def group_ended(self, batches: int) -> None:
        if self.started:
            self.stats["group_s"] += time.perf_counter() - self.started.pop()
            self.stats["groups"] += 1


def lock_trace() -> FastAPI:
    from app.config import get_settings
    from server.app import create_app

    trace = _LockTrace()
    install_hooks(trace)
    path = os.environ.get("BENCH_LOCK_TRACE")

    def report() -> None:
        if path:
            s = trace.stats
            with open(path, "a") as out:
                out.write(f"{s['groups']:.0f} {s['group_s']:.6f} {s['lock_s']:.6f} {s['keys']:.0f}\n")

    atexit.register(report)
    return create_app(get_settings())


def read_lock_trace(path: str) -> tuple[int, float, float, int]:
    """Groups, their seconds, their lock seconds and lock keys, summed over the processes that wrote."""
    groups = keys = 0
    group_s = lock_s = 0.0
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                g, gs, ls, k = line.split()
                groups += int(g)
                group_s += float(gs)
                lock_s += float(ls)
                keys += int(k)
    return groups, group_s, lock_s, keys
