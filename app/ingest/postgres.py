"""PostgreSQL's writer: a group's transaction driven on an asyncpg connection (`run_postgres_transaction`),
on a thread of its own with its own event loop (`PostgresWriter`), one group at a time per process;
the transaction locks the conversations and users it touches (advisory locks, `group.apply_group`),
so groups of several processes run at once unless they share some.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, TypeVar

import asyncpg
import orjson
from tortoise.backends.base.config_generator import expand_db_url

from app.db import database_url, numbered
from app.ingest.events import IngestResult
from app.ingest.group import Job, apply_group
from app.ingest.hooks import IngestHooks
from app.ingest.steps import AnyOf, Copy, Inserts, Lock, Many, Query, Rows, Steps, Writes

T = TypeVar("T")


async def _postgres_step(
    con: asyncpg.Connection, step: Query | Many | AnyOf | Rows | Writes | Inserts
) -> list[dict[str, Any]] | None:
    """Send one step on asyncpg's connection; the rows it returns."""
    if isinstance(step, Copy):
        if step.rows:
            await con.copy_records_to_table(step.table, records=step.rows, columns=step.columns)
        return None
    if isinstance(step, Many):
        await con.executemany(numbered(step.text), step.rows)
        return None
    if isinstance(step, Writes):
        read: list[dict[str, Any]] = []
        for part in step.postgres():
            rows = await _postgres_step(con, part if isinstance(part, Many) else Query(*part))
            read += ({**orjson.loads(r["j"]), "part": r["part"]} for r in rows or () if "j" in r)
        return read
    if isinstance(step, Inserts):
        if not any(part.rows for part in step.steps):
            return []
        text, params = step.postgres()
        rows = await con.fetch(numbered(text), *params)
        return [{**orjson.loads(r["j"]), "part": r["part"]} for r in rows]
    if isinstance(step, Query):
        text, params = step.text, step.params
    elif not (step.values if isinstance(step, AnyOf) else step.rows):
        return []
    else:
        text, params = step.postgres()
    return [dict(r) for r in await con.fetch(numbered(text), *params)]


async def run_postgres_transaction(con: asyncpg.Connection, steps: Steps[T]) -> T:
    """Drive `steps` in one transaction on an asyncpg connection, a round trip per statement. A
    first `Lock` step goes with the BEGIN, in one round trip; a later one (keys found by a read) is
    a statement. `AnyOf` reads before the first `Lock` (the users to lock, `group._owner_locks`)
    run before the BEGIN, on their own: a round trip fewer than a BEGIN of their own."""
    result: list[dict[str, Any]] | None = None
    begun = False
    try:
        while True:
            try:
                step = steps.send(result)
            except StopIteration as stop:
                value: T = stop.value
                break
            if not begun and isinstance(step, AnyOf):
                result = await _postgres_step(con, step)
                continue
            if not begun:
                begun = True
                await con.execute(f"BEGIN; {step.text()}" if isinstance(step, Lock) else "BEGIN")
                if isinstance(step, Lock):
                    result = None
                    continue
            if isinstance(step, Lock):  # locks found by a read inside the transaction
                await con.execute(step.text())
                result = None
                continue
            result = await _postgres_step(con, step)
        if begun:
            await con.execute("COMMIT")
        return value
    except BaseException:
        if begun and not con.is_closed():
            with contextlib.suppress(Exception):  # a broken connection is replaced
                await con.execute("ROLLBACK")
        raise


DEADLOCK_RETRIES = 3
"""A lone batch whose transaction PostgreSQL aborted as a deadlock victim is tried again this often
(its locks are taken in order, so only an event id repeated under another conversation, or a
new bot, can close a cycle; the database breaks it after `deadlock_timeout`)."""


def _is_deadlock(exc: BaseException) -> bool:
    """PostgreSQL aborted the transaction to break a deadlock (SQLSTATE 40P01, or 40001)."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) in ("40P01", "40001"):
            return True
        seen = seen.__cause__ or seen.__context__
    return "deadlock detected" in str(exc)


_CUSTOM_PLANS = {"plan_cache_mode": "force_custom_plan"}
CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. a terminated connection that has not noticed yet
    OSError,
)


class PostgresWriter:
    """PostgreSQL groups on a thread of their own, with its own event loop and one asyncpg
    connection, one group at a time per process (as SQLite's writer has its own thread).

    On the API's event loop each of a group's ~15 statements waited for a turn of a loop busy with
    the requests in flight, while the group held its advisory locks: under load a group took up to
    ~430 ms (p50, one worker), PostgreSQL saw the transaction `idle in transaction` most of that
    time, and the other process's groups waited for the locks (docs/performance.md). Here each
    answer is read as soon as this thread gets the interpreter."""

    def __init__(self, url: str) -> None:
        credentials = expand_db_url(url)["credentials"]
        self.params = {
            k: credentials[k]
            for k in ("host", "port", "user", "password", "database")
            if credentials.get(k) is not None
        }
        self.conn: asyncpg.Connection | None = None
        self.loop = asyncio.new_event_loop()
        self.lock: asyncio.Lock | None = None  # made on the thread's loop
        threading.Thread(target=self.loop.run_forever, name="ingest-postgres", daemon=True).start()

    async def write(self, jobs: list[Job], hooks: IngestHooks | None) -> list[IngestResult | BaseException]:
        """Apply a group (on the writer's thread); from any event loop."""
        done = asyncio.run_coroutine_threadsafe(self._serialized(jobs, hooks), self.loop)
        return await asyncio.wrap_future(done)

    async def _serialized(
        self, jobs: list[Job], hooks: IngestHooks | None
    ) -> list[IngestResult | BaseException]:
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:  # one connection: one group at a time
            return await self.group(jobs, hooks)

    async def group(
        self, jobs: list[Job], hooks: IngestHooks | None, attempt: int = 0
    ) -> list[IngestResult | BaseException]:
        """`sqlite_group` for PostgreSQL, on the writer's thread (hooks may block it)."""
        try:
            if hooks is not None:
                hooks.group_started(len(jobs))
            try:
                if self.conn is None or self.conn.is_closed():
                    # Custom plans: a generic plan of the prefetch's `= ANY($n)` took 200-600 ms
                    self.conn = await asyncpg.connect(**self.params, server_settings=_CUSTOM_PLANS)
                return await run_postgres_transaction(self.conn, apply_group(jobs, True, hooks))
            finally:
                if hooks is not None:
                    hooks.group_ended(len(jobs))
        except Exception as exc:
            if attempt == 0 and isinstance(exc, CONNECTION_LOST) and self.conn is not None:
                self.conn.terminate()  # the server restarted or dropped it: a new one, once
                self.conn = None
                return await self.group(jobs, hooks, attempt + 1)
            if len(jobs) == 1:
                if attempt < DEADLOCK_RETRIES and _is_deadlock(exc):
                    return await self.group(jobs, hooks, attempt + 1)
                return [exc]
            return [outcome for job in jobs for outcome in await self.group([job], hooks)]


_postgres_writers: dict[str, PostgresWriter] = {}


def postgres_writer() -> PostgresWriter:
    """This process's PostgreSQL writer for the database `init_db` opened (started on first use)."""
    url = database_url()
    writer = _postgres_writers.get(url)
    if writer is None:
        writer = _postgres_writers[url] = PostgresWriter(url)
    return writer
