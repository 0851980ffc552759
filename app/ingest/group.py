"""Group commit: the batches waiting for the writer (jobs), the body of a group's transaction and
how each batch's caller gets its own outcome.

A group takes queued batches until it holds MAX_GROUP_EVENTS events (at least one batch). Its
transaction finds the ids stored before, folds the batches in turn (each sees every id stored or
accepted before it; one that conflicts with a conversation's owner or the caller's bot scope is
refused alone, before anything is written), then writes the accepted ones together.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.errors import Forbidden, InvalidBody
from app.ingest.events import IngestResult, NewEvent
from app.ingest.fold import Group
from app.ingest.hooks import IngestHooks
from app.ingest.statements import Query, Steps, existing_ids, load_conversations, write_group

MAX_GROUP_EVENTS = 8000
"""A group takes queued batches until it holds this many events (at least one batch)."""
INGEST_LOCK_KEY = 0x6B07A11
"""The PostgreSQL advisory lock that serialises groups from every process."""


@dataclass(eq=False)
class Job:
    """One batch waiting for the writer: its parsed events (ids unique) and its caller's future."""

    events: list[NewEvent]
    duplicates: int
    now_us: int
    future: asyncio.Future[IngestResult]
    bot_scope: frozenset[str] | None = None
    """The caller's bots (None: every bot): the batch may touch no conversation of another bot."""


def apply_group(
    jobs: list[Job], postgres: bool, hooks: IngestHooks | None = None
) -> Steps[list[IngestResult | BaseException]]:
    """Inside the group's transaction: find the ids stored before, fold the batches in turn (each
    refused alone if invalid), then write the accepted ones."""
    if postgres:
        yield Query("SELECT pg_advisory_xact_lock(?)", [INGEST_LOCK_KEY])
    stored = yield from existing_ids(list({e.id: None for job in jobs for e in job.events}))
    conversations = sorted({e.conversation for job in jobs for e in job.events if e.id not in stored})
    group = Group((yield from load_conversations(conversations)), stored)
    outcomes: list[IngestResult | BaseException] = []
    for job in jobs:
        try:
            outcomes.append(group.add(job))
        except (InvalidBody, Forbidden) as exc:
            outcomes.append(exc)
    if group.rows:
        yield from write_group(group)
        if hooks is not None:
            hooks.group_written([e.id for e, *_ in group.rows])
    return outcomes


def settle(jobs: list[Job], outcomes: list[IngestResult | BaseException]) -> None:
    """Hand each waiting caller its batch's outcome (on the event loop)."""
    for job, outcome in zip(jobs, outcomes, strict=True):
        if job.future.done():  # its caller was cancelled
            continue
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)
