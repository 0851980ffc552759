"""PostgreSQL's ingestion writer keeps its own connection (on its own thread): when the server drops
it (a restart, an administrator), the next group opens a new one instead of failing its batches."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.db import connection
from app.ingest import ingest_events
from app.ingest.postgres import postgres_writer
from tests.factories import ADMIN, conversation, count

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    os.environ.get("ANALYTICS_TEST_DB") != "postgres",
    reason="the writer's own connection is PostgreSQL's (SQLite writes on its ingest connection)",
)


async def test_a_batch_after_the_writers_connection_was_terminated_is_stored(db: str) -> None:
    first = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=2), 2)
    assert (await ingest_events(first, ADMIN, now=NOW)).accepted == len(first)
    writer = postgres_writer()
    assert writer.conn is not None
    backend = writer.conn.get_server_pid()
    await connection().execute_query_dict("SELECT pg_terminate_backend($1)", [backend])

    second = conversation(str(uuid.uuid4()), str(uuid.uuid4()), NOW - timedelta(hours=1), 3)
    result = await ingest_events(second, ADMIN, now=NOW)
    assert (result.accepted, result.duplicates) == (len(second), 0)
    assert await count("events") == len(first) + len(second)
    assert writer.conn is not None and writer.conn.get_server_pid() != backend
