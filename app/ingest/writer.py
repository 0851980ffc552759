"""The writer: one per event loop, applying the queued batches group after group, and the two
database drivers of a group's statements. On SQLite the writer runs on the thread of ingestion's
own connection (`ingest`, beside the connections the API reads on), a whole transaction per call
and as many groups per hand-off as keep arriving; this is the only code that uses aiosqlite's
privates (`Connection._execute`, `_conn`), hence the `aiosqlite<0.23` pin. On PostgreSQL the groups
run on a thread with its own event loop and asyncpg connection (`postgres.PostgresWriter`), and a group's
transaction locks the conversations and users it touches (advisory locks, `group.apply_group`), so
groups of several processes run at once unless they share some.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.db import dialect, ingest_connection
from app.ingest.events import IngestResult
from app.ingest.group import MAX_GROUP_EVENTS, MAX_GROUP_LOCKS, Job, apply_group, settle
from app.ingest.hooks import IngestHooks, installed_hooks
from app.ingest.postgres import postgres_writer
from app.ingest.steps import AnyOf, Inserts, Lock, Many, Query, Rows, Steps, Writes

T = TypeVar("T")


def _fetch(db: sqlite3.Connection, text: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(text, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _sqlite_step(db: sqlite3.Connection, step: Query | Many | AnyOf | Rows) -> list[dict[str, Any]] | None:
    if isinstance(step, Query):
        return _fetch(db, step.text, step.params)
    if isinstance(step, Many):
        db.executemany(step.text, step.rows)
        return None
    if isinstance(step, Rows) and not step.returning:
        for text, rows in step.sqlite():
            db.executemany(text, rows)
        return None
    return [row for text, params in step.sqlite() for row in _fetch(db, text, params)]


def run_sqlite_transaction(db: sqlite3.Connection, steps: Steps[T]) -> T:
    """Drive `steps` in one SQLite transaction, on the thread that owns `db` (aiosqlite's)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result: list[dict[str, Any]] | None = None
        while True:
            try:
                step = steps.send(result)
            except StopIteration as stop:
                value: T = stop.value
                break
            if isinstance(step, Lock):
                raise TypeError("SQLite takes no advisory locks")
            if isinstance(step, Writes):
                for part in step.steps:
                    _sqlite_step(db, part)
                result = None
            elif isinstance(step, Inserts):
                result = [
                    {**row, "part": i}
                    for i, part in enumerate(step.steps)
                    for row in _sqlite_step(db, part) or ()
                ]
            else:
                result = _sqlite_step(db, step)
        db.execute("COMMIT")
        return value
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def sqlite_group(
    db: sqlite3.Connection, jobs: list[Job], hooks: IngestHooks | None = None
) -> list[IngestResult | BaseException]:
    """Apply the batches in one transaction (on aiosqlite's thread). Should it fail, each batch is
    retried in a transaction of its own, so one batch's failure cannot fail another."""
    try:
        if hooks is None:
            return run_sqlite_transaction(db, apply_group(jobs, postgres=False))
        hooks.group_started(len(jobs))
        try:
            return run_sqlite_transaction(hooks.sqlite_connection(db), apply_group(jobs, False, hooks))
        finally:
            hooks.group_ended(len(jobs))
    except Exception as exc:
        if len(jobs) == 1:
            return [exc]
        return [outcome for job in jobs for outcome in sqlite_group(db, [job], hooks)]


class FileLock:
    """An exclusive `flock` on `<database>-ingest.lock`, which the writers of every process on one
    SQLite file take around each group's transaction. Without it a writer that found the write lock
    taken slept in SQLite's busy handler (1, 2, 5, ... up to 100 ms between tries) and could miss
    the moments another process's writer, going from group to group, let go: under two workers the
    wait for `BEGIN IMMEDIATE` reached 100-350 ms (docs/performance.md). The kernel wakes a writer
    waiting here as soon as the lock is free. Other writers (reports) still meet the busy handler,
    which stays the fallback; an in-memory database needs no lock (`fd` None)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        if fd is not None:
            weakref.finalize(self, os.close, fd)

    @classmethod
    def beside(cls, db: sqlite3.Connection) -> FileLock:
        row = db.execute("PRAGMA database_list").fetchone()
        path = row[2] if row else ""
        return cls(os.open(path + "-ingest.lock", os.O_RDWR | os.O_CREAT, 0o600) if path else None)

    def __enter__(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)


@dataclass(eq=False)
class Writer:
    """The batches waiting in one event loop and the writer applying them, group after group.

    On SQLite the writer runs on the thread of the ingestion connection: once it has applied a
    group it takes the batches queued meanwhile and goes on, without a round trip through the
    event loop (which may be busy parsing the next requests), until the queue is empty. Hence
    the lock: the queue is shared by the loop and that thread."""

    pending: deque[Job] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: bool = False
    """A drain is scheduled or running (it empties `pending` before it stops)."""
    task: asyncio.Task[None] | None = None
    file_lock: FileLock | None = None
    """SQLite: taken around each group's transaction (opened on the writer's thread)."""

    def submit(self, job: Job) -> None:
        with self.lock:
            self.pending.append(job)
            if self.running:
                return
            self.running = True
        self.task = asyncio.get_running_loop().create_task(self.drain())

    def next_group(self) -> list[Job]:
        """Take the next group off the queue: queued batches up to MAX_GROUP_EVENTS events and
        MAX_GROUP_LOCKS lock keys (at least one batch; keys are counted per batch, an upper
        bound), skipping those whose caller gave up while they waited."""
        jobs: list[Job] = []
        size = locks = 0
        with self.lock:
            pending = self.pending
            while pending and (
                not jobs
                or (
                    size + len(pending[0].events) <= MAX_GROUP_EVENTS
                    and locks + len(pending[0].locks) <= MAX_GROUP_LOCKS
                )
            ):
                job = pending.popleft()
                if not job.future.done():
                    jobs.append(job)
                    size += len(job.events)
                    locks += len(job.locks)
        return jobs

    def write_on_thread(
        self, db: sqlite3.Connection, loop: asyncio.AbstractEventLoop, jobs: list[Job]
    ) -> None:
        """On the ingestion connection's thread: apply groups until the queue is empty."""
        if self.file_lock is None:
            self.file_lock = FileLock.beside(db)
        while jobs:
            with self.file_lock:
                outcomes = sqlite_group(db, jobs, installed_hooks())
            try:
                loop.call_soon_threadsafe(settle, jobs, outcomes)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                return
            jobs = self.next_group()

    async def drain(self) -> None:
        jobs: list[Job] = []
        try:
            while True:
                jobs = self.next_group()
                if not jobs:
                    with self.lock:
                        if not self.pending:
                            self.running = False
                            return
                    continue
                client = ingest_connection()
                if dialect(client) == "postgres":
                    settle(jobs, await postgres_writer().write(jobs, installed_hooks()))
                    continue
                # One hand-off for as many groups as keep arriving (a hand-off per statement cost
                # ~20% of the throughput), holding Tortoise's lock on the connection so that no
                # other statement runs inside a transaction. Shielded: once queued, the work runs
                # to its end on the thread (a cancelled caller's outcome is discarded by settle).
                async with client.acquire_connection() as aconn:
                    await asyncio.shield(
                        aconn._execute(self.write_on_thread, aconn._conn, asyncio.get_running_loop(), jobs)
                    )
        except BaseException:
            # Only cancellation (the loop shutting down) gets here.
            with self.lock:
                for job in (*jobs, *self.pending):
                    job.future.cancel()
                self.pending.clear()
                self.running = False
            raise


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Writer] = weakref.WeakKeyDictionary()


def submit(job: Job) -> None:
    """Queue a batch for the writer of the running event loop (started on first use)."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = Writer()
    writer.submit(job)
