"""The SQLite client of the service's connections (Tortoise engine `app.sqlite_client`): besides
Tortoise's connection (aiosqlite: one thread per connection, each statement handed to it and its
rows handed back), a plain `sqlite3` connection per thread that runs statements on the calling
thread, the event loop's own.

Why: under load the event loop holds the interpreter most of the time, and every hand-off to and
from a connection's thread waited for it (up to `sys.getswitchinterval()` each way, several
statements per answer). `python -m bench load` on SQLite (40 s, 32 clients, 2 workers; 2026-12-08,
docs/performance.md): reads and ingestion's groups on the loop's thread took p99 from 369 to 224 ms
and writer groups from p50 25 to 9.5 ms.

- API readers (`loop_reads`): `execute_query_dict` runs a statement on the loop's thread for at most
  `READ_SLICE_S`; one that needs longer is interrupted and run again on the connection's thread, so a
  heavy statement on a large database holds up the loop's other requests for at most that long, and
  its shape (the text without literals) goes straight to the thread for `SLOW_MEMORY_S` after. The
  connection is `query_only`, one per thread for all the readers.
- Ingestion's connection: `thread_connection()` is the writer's (app/ingest/writer.py), which yields
  to the loop between statements.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import IntegrityError, OperationalError

__all__ = ["READ_SLICE_S", "SLOW_MEMORY_S", "LoopSqliteClient", "client_class"]

READ_SLICE_S = 0.010
"""The longest a read statement runs on the event loop's thread before it is moved to the
connection's own thread (10 ms: the answers of the load benchmark's mix take 1-5 ms per statement;
on 10M messages the heavy ones take 20-700 ms and are moved after 10)."""
SLOW_MEMORY_S = 300.0
"""A statement that needed more than a slice marks its shape (its text without literals): for this
long, statements of that shape go straight to the connection's thread, without a slice lost first.
A shape covers every range and bot of an answer's statement: one slow variant (90 days) sends the
quick ones (1 day) to the thread too, as every statement went before."""
_SLOW_SHAPES = 1024
_slow: dict[int, float] = {}
_TUPLES = re.compile(r"(?:\([ ,]*\)[ ,]*)+")
"""Literal tuples and lists, emptied of their literals (`VALUES (1, 2), (3, 4)`, `IN (5, 6)`): one
shape, however long."""
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_connections: dict[tuple[str, int, bool], sqlite3.Connection] = {}
"""Per (file, thread, API reader or not): the thread's own connection."""
_connections_lock = threading.Lock()
_loop = threading.local()
"""Per thread (event loop): `spent`, the seconds of statements run on it since the loop's last turn,
and `armed`, whether a `_reset` is scheduled for that turn."""
_ON_ITS_THREAD = (sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_READONLY)
"""Run on the connection's thread instead: a long statement, or one that writes (migrations, tests)."""
_PROGRESS_STEPS = 20_000
"""SQLite calls the deadline check every this many virtual-machine steps (~0.1-0.5 ms)."""


class LoopSqliteClient(SqliteClient):
    """Tortoise's SQLite client with statements run on the calling thread where that is quicker."""

    def __init__(self, file_path: str, loop_reads: bool = False, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self.loop_reads = bool(loop_reads)

    def thread_connection(self) -> sqlite3.Connection:
        """This thread's own connection to the database (opened on first use, with the client's
        pragmas; `query_only` for the API's readers), in autocommit mode. The API's readers share
        one per thread: each connection keeps its own page cache (up to `cache_size`, 64 MB)."""
        key = (self.filename, threading.get_ident(), self.loop_reads)
        db = _connections.get(key)
        if db is None:
            db = sqlite3.connect(self.filename, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            for pragma, value in self.pragmas.items():
                db.execute(f"PRAGMA {pragma}={value}")
            if self.loop_reads:
                db.execute("PRAGMA query_only=1")
            with _connections_lock:
                _connections[key] = db
        return db

    async def _on_loop(self, query: str, values: list[Any] | None) -> list[sqlite3.Row] | None:
        """The rows of a read statement run on this thread for at most `READ_SLICE_S`; None when it
        must run on the connection's thread instead (not an API reader, too long, or a write).
        Statements on the loop do not suspend the request that runs them: once this thread has
        spent `READ_SLICE_S` in them since the loop's last turn, the loop gets a turn first."""
        if not self.loop_reads:
            return None
        if _slow and _slow.get(_shape(query), 0.0) > time.monotonic():
            return None  # it needed longer than a slice lately
        if getattr(_loop, "spent", 0.0) >= READ_SLICE_S:
            await asyncio.sleep(0)  # the loop's turn (its `_reset` runs first)
        if not getattr(_loop, "armed", False):  # count from now until the loop's next turn
            _loop.armed = True
            asyncio.get_running_loop().call_soon(_reset)
        started = time.perf_counter()
        try:
            rows = self._run(query, values)
            if rows is None:
                _slow[_shape(query)] = time.monotonic() + SLOW_MEMORY_S
                while len(_slow) > _SLOW_SHAPES:
                    del _slow[next(iter(_slow))]
            return rows
        finally:
            _loop.spent = getattr(_loop, "spent", 0.0) + time.perf_counter() - started

    def _run(self, query: str, values: list[Any] | None) -> list[sqlite3.Row] | None:
        db = self.thread_connection()
        deadline = time.perf_counter() + READ_SLICE_S
        db.set_progress_handler(_past(deadline), _PROGRESS_STEPS)
        try:
            return db.execute(query.replace("\x00", "'||CHAR(0)||'"), values or ()).fetchall()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) in _ON_ITS_THREAD:
                return None
            raise OperationalError(exc) from exc
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        finally:
            db.set_progress_handler(None, 0)

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        rows = await self._on_loop(query, values)
        if rows is None:
            return list(await super().execute_query_dict(query, values))
        return [dict(row) for row in rows]

    async def execute_query(
        self, query: str, values: list[Any] | None = None
    ) -> tuple[int, Sequence[dict[str, Any]]]:
        """The ORM's reads (`Model.filter(...)`) come here."""
        rows = await self._on_loop(query, values)
        if rows is None:
            return cast(tuple[int, Sequence[dict[str, Any]]], await super().execute_query(query, values))
        return len(rows), cast(Sequence[dict[str, Any]], rows)

    async def close(self) -> None:
        """Close Tortoise's connection and every thread's connection to this file (Tortoise closes
        all of a database's clients together; a later use opens them again)."""
        with _connections_lock:
            mine = [key for key in _connections if key[0] == self.filename]
            closing = [_connections.pop(key) for key in mine]
        for db in closing:
            db.close()
        await super().close()


def _shape(query: str) -> int:
    """A statement's text without its literals (two regular expressions over it: computed only while
    some shape is marked slow, or once a statement was moved)."""
    return hash(_TUPLES.sub("()", _LITERALS.sub("", query)))


def _reset() -> None:
    """The loop has had a turn: the time spent in statements on its thread counts from zero."""
    _loop.spent = 0.0
    _loop.armed = False


def _past(deadline: float) -> Callable[[], bool]:
    """A progress handler that interrupts the statement once `deadline` has passed."""
    clock = time.perf_counter
    return lambda: clock() > deadline


client_class = LoopSqliteClient
