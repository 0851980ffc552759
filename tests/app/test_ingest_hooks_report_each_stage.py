"""`IngestHooks`, the seam tests and benchmarks watch ingestion through: what each callback is told,
in which order, and that nothing is called once they are removed."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.db import connection, dialect
from app.ingest import IngestHooks, IngestResult, ingest_events, install_hooks
from tests.factories import ADMIN, conversation

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class _Spy:
    """A stand-in for the SQLite connection that notes each statement."""

    def __init__(self, db: sqlite3.Connection, statements: list[str]) -> None:
        self.db, self.statements = db, statements

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def execute(self, text: str, *args: Any) -> sqlite3.Cursor:
        self.statements.append(text)
        return self.db.execute(text, *args)

    def executemany(self, text: str, *args: Any) -> sqlite3.Cursor:
        self.statements.append(text)
        return self.db.executemany(text, *args)


class _Log(IngestHooks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.statements: list[str] = []

    def batch_parsed(self, events: int, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append(("parsed", events))

    def batch_queued(self, events: int) -> None:
        self.calls.append(("queued", events))

    def group_started(self, batches: int) -> None:
        self.calls.append(("started", batches))

    def group_written(self, event_ids: list[str]) -> None:
        self.calls.append(("written", sorted(event_ids)))

    def group_ended(self, batches: int) -> None:
        self.calls.append(("ended", batches))

    def sqlite_connection(self, db: sqlite3.Connection) -> sqlite3.Connection:
        return _Spy(db, self.statements)  # type: ignore[return-value]


async def test_hooks_follow_a_batch_from_validation_to_its_group(db: str) -> None:
    events = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=1), 3)
    log = _Log()
    previous = install_hooks(log)
    try:
        result = await ingest_events([*events, events[0]], ADMIN, now=NOW)  # one id sent twice
    finally:
        assert install_hooks(previous) is log
    assert result == IngestResult(accepted=len(events), duplicates=1)
    assert log.calls == [
        ("parsed", len(events) + 1),
        ("queued", len(events)),
        ("started", 1),
        ("written", sorted(e["id"] for e in events)),
        ("ended", 1),
    ]
    if dialect(connection()) == "sqlite":
        assert log.statements[0] == "BEGIN IMMEDIATE"
        assert log.statements[-1] == "COMMIT"
        assert [s for s in log.statements if s.startswith("INSERT INTO events")]
    else:  # statements are awaited through Tortoise there
        assert log.statements == []

    # Removed, they hear nothing more.
    more = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(minutes=5), 1)
    calls, statements = list(log.calls), list(log.statements)
    assert (await ingest_events(more, ADMIN, now=NOW)).accepted == len(more)
    assert (log.calls, log.statements) == (calls, statements)
