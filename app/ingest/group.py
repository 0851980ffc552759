"""Group commit: the batches waiting for the writer (jobs), the body of a group's transaction and
how each batch's caller gets its own outcome.

A group takes queued batches until it holds MAX_GROUP_EVENTS events (at least one batch). Its
transaction finds the ids stored before, folds the batches in turn (each sees every id stored or
accepted before it; one that conflicts with a conversation's owner or the caller's bot scope is
refused alone, before anything is written), then writes the accepted ones together.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass

from app.errors import Forbidden, InvalidBody
from app.ingest.events import IngestResult, NewEvent
from app.ingest.fold import Group
from app.ingest.hooks import IngestHooks
from app.ingest.prefetch import read_group
from app.ingest.statements import existing_ids, load_conversations, write_group
from app.ingest.steps import Lock, Steps, select_in

MAX_GROUP_EVENTS = 8000
"""A group takes queued batches until it holds this many events (at least one batch)."""
MAX_GROUP_LOCKS = 2000
"""On PostgreSQL a group also stops growing at this many lock keys (at least one batch; one batch
has at most 2 x 1000): each is an entry of the server's shared lock table, whose default size is
64 x max_connections (6,400) for every process at once."""
LOCK_TAG = 0x6B07A11
"""The high bits of this service's advisory lock keys (apart from other users of the database)."""
_CONVERSATION_LOCK, _USER_LOCK = 1, 2


def _lock_key(kind: int, value: str) -> int:
    """A conversation's or user's advisory lock key: stable across processes (CRC-32 of the UUID;
    two UUIDs that share a key only wait for each other)."""
    return (LOCK_TAG << 36) | (kind << 32) | zlib.crc32(value.encode())


def lock_keys(events: list[NewEvent]) -> set[int]:
    """The advisory locks a batch's transaction takes on PostgreSQL (see `apply_group`)."""
    keys = {_lock_key(_CONVERSATION_LOCK, e.conversation) for e in events}
    keys.update(_lock_key(_USER_LOCK, e.user) for e in events if e.user is not None)
    return keys


@dataclass(eq=False)
class Job:
    """One batch waiting for the writer: its parsed events (ids unique) and its caller's future."""

    events: list[NewEvent]
    duplicates: int
    now_us: int
    future: asyncio.Future[IngestResult]
    bot_scope: frozenset[str] | None = None
    """The caller's bots (None: every bot): the batch may touch no conversation of another bot."""
    locks: frozenset[int] = frozenset()
    """Its advisory lock keys on PostgreSQL (worked out while the request is parsed)."""


def apply_group(
    jobs: list[Job], postgres: bool, hooks: IngestHooks | None = None
) -> Steps[list[IngestResult | BaseException]]:
    """Inside the group's transaction: find the ids stored before, fold the batches in turn (each
    refused alone if invalid), then write the accepted ones.

    On PostgreSQL the transaction first takes a transaction-scoped advisory lock on each
    conversation and each user its events name, all in one statement and in ascending key order
    (so two groups cannot deadlock: each waits only for keys above those it holds). Every
    read-modify-write of the transaction is covered by one of them: the ids stored before (an
    event's id comes with its conversation: a concurrent duplicate waits and then counts as one;
    the same id under another conversation fails the primary key and the batch is retried
    alone), a conversation's folded row and its old `conv_slots` contribution, the user's
    activity chains (`user_slots`, `user_slots_all`: a new slot's neighbours are read, then
    relinked) and first activity (`end_users`, `bot_users`; also commutative minima). The other
    writes commute without a lock: `message_slots` and `conv_slots` are additive upserts (rows in
    ascending key order, tables in a fixed order, so their row locks cannot deadlock either), and a
    new bot is an insert-or-nothing then a read. A conversation's user is fixed by its first event
    that names one; an end event names none, but the recontact flags of its conversation's user are
    recomputed (`outcome_rollups`), so the group also locks the users of the conversations such
    events touch (read before the locks: a stored conversation's user never changes; one that got
    its user meanwhile is locked after the load, late, which PostgreSQL's deadlock detection
    resolves by failing one group: its batches are retried alone).

    On PostgreSQL everything the fold needs is read in one statement after the lock (`prefetch`:
    the stored ids, the conversations, their bots and users and those the events name), so a
    group holds its locks for that read, the fold, two write statements and the commit."""
    if postgres:
        held = set().union(*(job.locks for job in jobs))
        held |= yield from _owner_locks(jobs)
        started = time.perf_counter()
        yield Lock(sorted(held))
        if hooks is not None:
            hooks.group_locked(len(held), time.perf_counter() - started)
    ids = list({e.id: None for job in jobs for e in job.events})
    known = None
    if postgres:  # one statement (a superset of conversations: those of stored events too)
        named = sorted({e.conversation for job in jobs for e in job.events})
        bots = sorted({e.bot for job in jobs for e in job.events if e.bot})
        users = sorted({e.user for job in jobs for e in job.events if e.user})
        stored, convs, known = yield from read_group(ids, named, bots, users)
        # A conversation that got its user from a group that committed after `_owner_locks` read it.
        late = {_lock_key(_USER_LOCK, c.user) for c in convs.values() if c.user is not None} - held
        if late:
            yield Lock(sorted(late))
    else:
        stored = yield from existing_ids(ids)
        conversations = sorted({e.conversation for job in jobs for e in job.events if e.id not in stored})
        convs = yield from load_conversations(conversations)
    group = Group(convs, stored)
    outcomes: list[IngestResult | BaseException] = []
    for job in jobs:
        try:
            outcomes.append(group.add(job))
        except (InvalidBody, Forbidden) as exc:
            outcomes.append(exc)
    if group.rows:
        yield from write_group(group, postgres, known)
        if hooks is not None:
            hooks.group_written([e.id for e, *_ in group.rows])
    return outcomes


def _owner_locks(jobs: list[Job]) -> Steps[set[int]]:
    """The user locks of the conversations that events naming no user touch (an end event): the
    recontact flags of that user's conversations are recomputed (`outcome_rollups`), so the group
    holds the user's lock like the groups that add conversations of that user. A stored
    conversation's user never changes, so it is read before the locks are taken (on PostgreSQL
    before the BEGIN, in a round trip of its own: `postgres.run_postgres_transaction`)."""
    unnamed = sorted({e.conversation for job in jobs for e in job.events if e.user is None})
    if not unnamed:
        return set()
    rows = yield from select_in(
        "SELECT u.uuid AS usr FROM conversations c JOIN end_users u ON u.id = c.user_id WHERE c.uuid",
        unnamed,
    )
    return {_lock_key(_USER_LOCK, str(r["usr"])) for r in rows}


def settle(jobs: list[Job], outcomes: list[IngestResult | BaseException]) -> None:
    """Hand each waiting caller its batch's outcome (on the event loop)."""
    for job, outcome in zip(jobs, outcomes, strict=True):
        if job.future.done():  # its caller was cancelled
            continue
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)
