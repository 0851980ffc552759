"""The writer: one per event loop, applying the queued batches group after group. On SQLite a
group's transaction runs on the event loop's thread (app/ingest/sqlite_writer.py), on ingestion's
own connection (`ingest`, beside the connections the API reads on). On PostgreSQL the groups
run on a thread with its own event loop and asyncpg connection (`postgres.PostgresWriter`), and a group's
transaction locks the conversations and users it touches (advisory locks, `group.apply_group`), so
groups of several processes run at once unless they share some.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from dataclasses import dataclass, field

from app.db import ingest_connection
from app.ingest.group import MAX_GROUP_EVENTS, MAX_GROUP_LOCKS, Job, settle
from app.ingest.hooks import installed_hooks
from app.ingest.postgres import postgres_writer
from app.ingest.sqlite_writer import SqliteWriter
from app.sqlite_client import LoopSqliteClient


@dataclass(eq=False)
class Writer:
    """The batches waiting in one event loop and the writer applying them, group after group, on
    the loop (SQLite: on the ingestion connection's `thread_connection()`, yielding to the loop's
    other work as `run_sqlite_transaction` says; PostgreSQL: handed to `PostgresWriter`)."""

    pending: deque[Job] = field(default_factory=deque)
    running: bool = False
    """A drain is scheduled or running (it empties `pending` before it stops)."""
    task: asyncio.Task[None] | None = None
    sqlite: SqliteWriter = field(default_factory=SqliteWriter)

    def submit(self, job: Job) -> None:
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

    async def drain(self) -> None:
        jobs: list[Job] = []
        try:
            while jobs := self.next_group():
                client = ingest_connection()
                if isinstance(client, LoopSqliteClient):
                    # Shielded: once taken, a group is written to its end (a cancelled caller's
                    # outcome is discarded by settle).
                    settle(jobs, await asyncio.shield(self.sqlite.write(client, jobs)))
                else:
                    settle(jobs, await postgres_writer().write(jobs, installed_hooks()))
            self.running = False
        except BaseException:
            # Only cancellation (the loop shutting down) gets here.
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
