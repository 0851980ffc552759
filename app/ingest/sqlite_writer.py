"""Ingestion's writer on SQLite: a group's transaction on the event loop's thread, and the file lock
that the writers of every process on one file take around it (app/ingest/writer.py queues the
groups). Statements run on the ingestion connection's `thread_connection()`
(app/sqlite_client.py): under load, handing each statement to a connection's thread and its
answer back waited for the interpreter each way, and a group of ~200 events took p50 25 ms instead
of 9.5 (`python -m bench load --trace-writer`, docs/performance.md)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import time
import weakref
from dataclasses import dataclass
from typing import Any, TypeVar

from app.ingest.events import IngestResult
from app.ingest.group import Job, apply_group
from app.ingest.hooks import IngestHooks, installed_hooks
from app.ingest.steps import AnyOf, Inserts, Lock, Many, Query, Rows, Steps, Writes
from app.sqlite_client import LoopSqliteClient

log = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_EVENTS", "FileLock", "SqliteWriter", "run_sqlite_transaction", "sqlite_group"]

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


WRITE_SLICE_S = 0.05
"""A group's transaction on SQLite lets the event loop run its other work after each statement that
ends this long after the last turn it gave (the loop's requests wait for at most about this plus
one statement; the transaction stays open meanwhile)."""
BUSY_WAIT_S = 15.0
"""How long `BEGIN IMMEDIATE` waits for another writer of the file (a report job, a migration)
before the group fails; the wait is spent in the event loop, not in SQLite's busy handler."""


async def _begin_immediate(db: sqlite3.Connection) -> None:
    """`BEGIN IMMEDIATE`, waiting in the event loop while another connection writes."""
    give_up = time.monotonic() + BUSY_WAIT_S
    pause = 0.001
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() > give_up:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


async def run_sqlite_transaction(db: sqlite3.Connection, steps: Steps[T]) -> T:
    """Drive `steps` in one SQLite transaction on the event loop's thread, giving the loop a turn
    after every `WRITE_SLICE_S` of statements."""
    await _begin_immediate(db)
    try:
        result: list[dict[str, Any]] | None = None
        turn = time.perf_counter()
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
            if time.perf_counter() - turn > WRITE_SLICE_S:
                await asyncio.sleep(0)
                turn = time.perf_counter()
        db.execute("COMMIT")
        return value
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


async def sqlite_group(
    db: sqlite3.Connection, jobs: list[Job], hooks: IngestHooks | None = None
) -> list[IngestResult | BaseException]:
    """Apply the batches in one transaction. Should it fail, each batch is retried in a transaction
    of its own, so one batch's failure cannot fail another."""
    try:
        if hooks is None:
            return await run_sqlite_transaction(db, apply_group(jobs, postgres=False))
        await asyncio.to_thread(hooks.group_started, len(jobs))  # it may block: off the loop
        try:
            return await run_sqlite_transaction(hooks.sqlite_connection(db), apply_group(jobs, False, hooks))
        finally:
            hooks.group_ended(len(jobs))
    except Exception as exc:
        if len(jobs) == 1:
            return [exc]
        return [outcome for job in jobs for outcome in await sqlite_group(db, [job], hooks)]


class FileLock:
    """An exclusive `flock` on `<database>-ingest.lock`, which the writers of every process on one
    SQLite file take around each group's transaction. Without it a writer that found the write lock
    taken slept in SQLite's busy handler (1, 2, 5, ... up to 100 ms between tries) and could miss
    the moments another process's writer, going from group to group, let go: under two workers the
    wait for `BEGIN IMMEDIATE` reached 100-350 ms (docs/performance.md). The kernel wakes a writer
    waiting here as soon as the lock is free; the wait happens on a worker thread (`acquire`), not
    on the event loop. Other writers (reports) are waited for by `BEGIN IMMEDIATE`."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        if fd is not None:
            weakref.finalize(self, os.close, fd)

    @classmethod
    def beside(cls, db: sqlite3.Connection) -> FileLock:
        row = db.execute("PRAGMA database_list").fetchone()
        path = row[2] if row else ""
        return cls(os.open(path + "-ingest.lock", os.O_RDWR | os.O_CREAT, 0o600) if path else None)

    async def acquire(self) -> None:
        """Take the lock: at once when it is free, else by waiting on a worker thread."""
        if self.fd is None:
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.to_thread(self.__enter__)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def __enter__(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self.release()


CHECKPOINT_EVENTS = 10_000
"""The writer's own connection never checkpoints the WAL (`wal_autocheckpoint=0`): a checkpoint in a
commit copies up to the whole WAL into the database and syncs it, on the event loop's thread. After
every this many events written (~15,000 WAL pages, ~60 MB, at ~1.5 pages per event) a passive
checkpoint runs on the ingestion connection's aiosqlite thread instead, beside the writes."""


@dataclass(eq=False)
class SqliteWriter:
    """One event loop's SQLite writing: its groups under the file lock, and the WAL checkpoints."""

    db: sqlite3.Connection | None = None
    file_lock: FileLock | None = None
    since_checkpoint: int = 0
    checkpoint: asyncio.Task[None] | None = None

    async def write(self, client: LoopSqliteClient, jobs: list[Job]) -> list[IngestResult | BaseException]:
        """Apply a group, holding the file lock around its transaction."""
        db = client.thread_connection()
        if db is not self.db or self.file_lock is None:  # first use, or a database opened anew
            db.execute("PRAGMA busy_timeout=0")  # `BEGIN IMMEDIATE` waits in the loop instead
            db.execute("PRAGMA wal_autocheckpoint=0")
            self.db, self.file_lock = db, FileLock.beside(db)
        await self.file_lock.acquire()
        try:
            outcomes = await sqlite_group(db, jobs, installed_hooks())
        finally:
            self.file_lock.release()
        self.since_checkpoint += sum(len(job.events) for job in jobs)
        if self.since_checkpoint >= CHECKPOINT_EVENTS and (self.checkpoint is None or self.checkpoint.done()):
            self.since_checkpoint = 0
            self.checkpoint = asyncio.ensure_future(client.execute_script("PRAGMA wal_checkpoint(PASSIVE)"))
            self.checkpoint.add_done_callback(_report_failure)
        return outcomes


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("WAL checkpoint failed: %s", task.exception())
