"""Event ingestion (API.md section 4): validate a batch, then fold it into storage atomically.

The batch is validated in full before anything is written. Batches are written by one writer task
per event loop (group commit): batches that arrive while a group is being written queue up, and
the next group folds each of them in turn (a batch sees every id stored or accepted before it, and
one whose events conflict with a conversation's owner is refused alone, before anything is
written), then writes all the accepted ones in one transaction. The conversation state, the raw
events and the rollup tables change together; should the group's transaction fail, each of its
batches is retried in a transaction of its own, so a batch's outcome never depends on another's.
On PostgreSQL a group's transaction also takes transaction-scoped advisory locks on the
conversations and users it touches (in ascending order), so concurrent ingesters in several
processes neither lose nor double-count, and groups that share no conversation or user run at
once. On SQLite the writer runs on the thread of ingestion's own connection, a whole transaction
per call, beside the connections the API reads on.

On PostgreSQL each statement is a round trip (on the writer's own thread), so a group's transaction
is 7-9 of them: the BEGIN with the locks, one read of everything the fold needs, new users, one
INSERT of the new conversations and activity rows, one COPY of the events, one statement of the
other writes (sets of rows as one array per column; it sends back the relinked activity rows), the
recontact flags, the day-pair and outcome upserts, and the commit.

This module is the package's only public face; its modules, one concern each, are private:
`parse` (validation of an event and a batch), `fold` (conversation folding: a group's state),
`steps` (the statement shapes and how each database is sent them), `statements` (the SQL of a
group's transaction, as generators of statements), `event_rows` (the events' INSERTs),
`prefetch` (PostgreSQL's single read of a group), `group` (group commit: jobs, a group's
transaction body, settling callers), `writer` (the writer per event loop and the SQLite thread),
`postgres` (PostgreSQL's driver and writer thread), `events` (`NewEvent`, `IngestResult`) and
`hooks` (`IngestHooks`, the seam tests and benchmarks watch the writer through).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from app.analytics.buckets import to_us
from app.analytics.cache import note_data_changed
from app.auth import Principal
from app.db import dialect, ingest_connection
from app.errors import Forbidden
from app.ingest.events import IngestResult, NewEvent
from app.ingest.group import Job, lock_keys
from app.ingest.hooks import IngestHooks, install_hooks, installed_hooks
from app.ingest.parse import MAX_BATCH, parse_events
from app.ingest.writer import submit
from app.telemetry import INGESTED_EVENTS

__all__ = [
    "MAX_BATCH",
    "IngestHooks",
    "IngestResult",
    "NewEvent",
    "ingest_events",
    "install_hooks",
    "parse_events",
]


async def ingest_events(raw: Any, principal: Principal, now: datetime | None = None) -> IngestResult:
    """Validate and store a batch atomically; ids stored before (or repeated in the batch) are duplicates.

    The caller has checked the role (`analytics_ingest` or `admin`); `principal` is used for bot scope.
    """
    now_us = to_us(now or datetime.now(UTC))
    hooks = installed_hooks()
    if hooks is None:
        events = parse_events(raw, now_us)
    else:
        t = time.perf_counter()
        events = parse_events(raw, now_us)
        hooks.batch_parsed(len(events), time.perf_counter() - t)
    for e in events:
        if e.bot is not None and not principal.may_see_bot(e.bot):
            raise Forbidden(f"event {e.index}: bot_id {e.bot} is outside this credential's bot scope")
    seen: set[str] = set()
    unique: list[NewEvent] = []
    for e in events:
        if e.id not in seen:
            seen.add(e.id)
            unique.append(e)
    future = asyncio.get_running_loop().create_future()
    job = Job(unique, len(events) - len(unique), now_us, future, principal.bot_scope)
    if dialect(ingest_connection()) == "postgres":
        job.locks = frozenset(lock_keys(unique))
    submit(job)
    if hooks is not None:
        hooks.batch_queued(len(unique))
    result: IngestResult = await job.future
    if result.accepted:
        note_data_changed()  # cached answers of this process are stale now
        INGESTED_EVENTS.inc(result.accepted)
    return result
