"""`python -m bench.load_server`: uvicorn with `--workers`, and the head limits `serve` applies.

`uvicorn`'s command line cannot take a protocol class, so plain `uvicorn --workers 2` reads heads
without server/http_limits.py's bounds (a 300-header request is answered). This launcher takes the
same options as the uvicorn command `bench.common.Server` runs and passes `BoundedHttp` (the
limits from ANALYTICS_HTTP_* settings) and the keep-alive timeout, as `python -m server.cli serve`
does; the workers are spawned by uvicorn and import this module to find the class.

Server-side timing for `bench load` (`--factory bench.load_server:create`): every answer carries
`x-bench-t`, three `time.perf_counter()` stamps in seconds (CLOCK_MONOTONIC, the same clock in
every process of the machine, so the client can subtract its own): the request's head parsed (in
the protocol), the app called (the task started: the difference is the worker's event loop queue),
and the answer's head sent by the app. Each worker also watches its event loop's lag (a 5 ms timer,
how late it fires) and its garbage collections, and writes them at shutdown to
`$BENCH_LOAD_TRACE_DIR/worker-<pid>.json`. A few µs per request; the app itself is unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings
from app.ingest import IngestHooks, install_hooks
from server.http_limits import BoundedHttpToolsProtocol, HeadLimits

_settings = get_settings()
TIMING_HEADER = b"x-bench-t"
LAG_TICK = 0.005


class BoundedHttp(BoundedHttpToolsProtocol):
    limits = HeadLimits(
        _settings.http_max_header_bytes, _settings.http_max_headers, _settings.http_header_timeout_seconds
    )

    def on_headers_complete(self) -> None:
        parsed = time.perf_counter()
        super().on_headers_complete()
        self.scope["bench.parsed"] = parsed  # type: ignore[typeddict-unknown-key]


class LoopWatch:
    """How late a `tick`-second timer fires on the running loop (its lag), and GC pauses."""

    def __init__(self, tick: float = LAG_TICK) -> None:
        self.tick = tick
        self.lags: list[float] = []
        self.gc_ms: list[float] = []
        self.gc_gen: list[int] = []
        self.gc_cpu_ms: list[float] = []  # the same pauses in CPU time (wall time counts preemption)
        self._gc_cpu = 0.0
        # per database connection name: (ms waiting for the connection, ms holding it) per use
        self.db: dict[str, list[list[float]]] = {}
        self.peers: set[int] = set()  # the client ports of the connections this worker served
        self._gc_start = 0.0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._watch())
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
            self._gc_cpu = time.thread_time()
        else:
            self.gc_ms.append((time.perf_counter() - self._gc_start) * 1000)
            self.gc_cpu_ms.append((time.thread_time() - self._gc_cpu) * 1000)
            self.gc_gen.append(int(info["generation"]))

    async def _watch(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.tick)
            self.lags.append((time.perf_counter() - t - self.tick) * 1000)

    def summary(self) -> dict[str, Any]:
        return {
            "lag_ms": self.lags,
            "gc_ms": self.gc_ms,
            "gc_gen": self.gc_gen,
            "gc_cpu_ms": self.gc_cpu_ms,
            "db": self.db,
            "connections": len(self.peers),
        }

    def watch_connections(self) -> None:
        """Time every use of a Tortoise connection: the wait for it (SQLite: its lock, one query at
        a time; PostgreSQL: a pool slot) and how long it is held (the query, its thread hand-offs)."""
        from tortoise.backends.base.client import ConnectionWrapper, PoolConnectionWrapper

        held: dict[int, tuple[float, list[list[float]], int]] = {}
        db = self.db
        for cls in (ConnectionWrapper, PoolConnectionWrapper):
            enter, leave = cls.__aenter__, cls.__aexit__

            async def timed_enter(wrapper: Any, enter: Any = enter) -> Any:
                t = time.perf_counter()
                conn = await enter(wrapper)
                now = time.perf_counter()
                uses = db.setdefault(getattr(wrapper.client, "connection_name", "?"), [])
                uses.append([(now - t) * 1000, 0.0])
                held[id(wrapper)] = (now, uses, len(uses) - 1)
                return conn

            async def timed_leave(wrapper: Any, *exc: Any, leave: Any = leave) -> None:
                await leave(wrapper, *exc)
                entry = held.pop(id(wrapper), None)
                if entry is not None:
                    t, uses, i = entry
                    uses[i][1] = (time.perf_counter() - t) * 1000

            cls.__aenter__ = timed_enter  # type: ignore[method-assign,assignment]
            cls.__aexit__ = timed_leave  # type: ignore[method-assign,assignment]


class WriterWatch(IngestHooks):
    """Ingestion's writer, per group: the wait for SQLite's write lock (`BEGIN IMMEDIATE`, which
    sleeps in SQLite's busy handler while another process writes) or PostgreSQL's advisory locks,
    and the whole group. Installed only with BENCH_LOAD_TRACE_WRITER=1: hooks cost a thread hop
    per group on PostgreSQL."""

    def __init__(self) -> None:
        self.lock_ms: list[float] = []
        self.group_ms: list[float] = []
        self.file_lock_ms: list[float] = []
        self._started = 0.0

    def group_started(self, batches: int) -> None:
        self._started = time.perf_counter()

    def group_ended(self, batches: int) -> None:
        self.group_ms.append((time.perf_counter() - self._started) * 1000)

    def group_locked(self, keys: int, seconds: float) -> None:
        self.lock_ms.append(seconds * 1000)

    def watch_file_lock(self) -> None:
        """Also time the wait for the writers' file lock (SQLite, app/ingest/sqlite_writer.py)."""
        from app.ingest.sqlite_writer import FileLock

        acquire = FileLock.acquire
        waits = self.file_lock_ms

        async def timed(lock: FileLock) -> None:
            t = time.perf_counter()
            await acquire(lock)
            waits.append((time.perf_counter() - t) * 1000)

        FileLock.acquire = timed  # type: ignore[method-assign,assignment]

    def sqlite_connection(self, db: sqlite3.Connection) -> sqlite3.Connection:
        watch = self

        class Timed:
            in_transaction = property(lambda _: db.in_transaction)

            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
                if sql != "BEGIN IMMEDIATE":
                    return db.execute(sql, *args)
                t = time.perf_counter()
                cursor = db.execute(sql, *args)
                watch.lock_ms.append((time.perf_counter() - t) * 1000)
                return cursor

            def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
                return db.executemany(sql, rows)

        return cast(sqlite3.Connection, Timed())


def _switch_off(names: str) -> None:
    """BENCH_LOAD_WITHOUT=file-lock,least-busy: measure without the SQLite writers' file lock, or
    with the API's readers taken in turn instead of the least busy (the A/B of docs/performance.md)."""
    from app import db
    from app.ingest import sqlite_writer

    for name in filter(None, names.split(",")):
        if name == "file-lock":
            sqlite_writer.FileLock.beside = classmethod(lambda cls, conn: cls(None))  # type: ignore[method-assign,assignment]
        elif name == "least-busy":
            db._queued = lambda conn: 0
        else:
            raise SystemExit(f"BENCH_LOAD_WITHOUT: unknown {name!r}")


def create() -> ASGIApp:
    """The service as `bench.server_factory` builds it, wrapped to stamp `x-bench-t`."""
    from bench.server_factory import create as create_service

    app = create_service()
    watch = LoopWatch()
    watch.watch_connections()
    writer = WriterWatch()
    if os.environ.get("BENCH_LOAD_TRACE_WRITER") == "1":
        install_hooks(writer)
        writer.watch_file_lock()
    _switch_off(os.environ.get("BENCH_LOAD_WITHOUT", ""))
    out_dir = os.environ.get("BENCH_LOAD_TRACE_DIR")

    def dump() -> None:
        if out_dir:
            summary = {
                **watch.summary(),
                "write_lock_ms": writer.lock_ms,
                "group_ms": writer.group_ms,
                "file_lock_ms": writer.file_lock_ms,
            }
            Path(out_dir, f"worker-{os.getpid()}.json").write_bytes(orjson.dumps(summary))

    async def dumping_send(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            dump()  # at shutdown, once: a small file
        await send_lifespan(message)

    send_lifespan: Send

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal send_lifespan
        if scope["type"] == "lifespan":
            send_lifespan = send
            await app(scope, receive, dumping_send)
            return
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if watch.task is None:
            watch.start()
        called = time.perf_counter()
        parsed = scope.get("bench.parsed", called)
        client = scope.get("client")
        if client:
            watch.peers.add(client[1])

        async def stamping_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamps = f"{parsed:.6f} {called:.6f} {time.perf_counter():.6f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (TIMING_HEADER, stamps)]}
            await send(message)

        await app(scope, receive, stamping_send)

    return timed


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("app")
    ap.add_argument("--factory", action="store_true")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--no-access-log", action="store_true")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--worker-ports",
        default="",
        help="comma-separated: one worker process per port (the first is --port) instead of uvicorn's "
        "workers sharing one",
    )
    args = ap.parse_args()
    if args.worker_ports:
        _run_workers(args, [int(p) for p in args.worker_ports.split(",")])
        return
    uvicorn.run(
        args.app,
        factory=args.factory,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        workers=args.workers,
        http=BoundedHttp,
        timeout_keep_alive=_settings.http_keep_alive_seconds,
    )


def _run_workers(args: argparse.Namespace, ports: list[int]) -> None:
    """One single-process server per port, as children of this process (`Server.cpu_seconds` counts
    them); SIGINT or SIGTERM is passed on to each and waited for.

    Why not uvicorn's `--workers`: its workers share one listening socket, and whichever is woken
    first accepts every connection waiting. The load generator opens its 32 connections at once and
    keeps them: they split 29:3, 26:8, 30:4 in some runs (16:18 in others; libuv's
    UV_TCP_SINGLE_ACCEPT did not help), and the busier worker's requests queued while the other
    idled (docs/performance.md). With a port per worker the generator spreads its clients evenly,
    as a proxy in front of two instances would."""
    cmd = [sys.executable, "-m", "bench.load_server", args.app, "--host", args.host]
    cmd += ["--log-level", args.log_level]
    cmd += ["--factory"] if args.factory else []
    cmd += ["--no-access-log"] if args.no_access_log else []
    children = [subprocess.Popen([*cmd, "--port", str(port)]) for port in ports]

    def stop(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    codes = [child.wait() for child in children]
    sys.exit(max(codes, key=abs))


if __name__ == "__main__":
    main()
