"""On a SQLite file, a request reads on the connections with the shortest queues (not the next in
turn, which made it wait behind a slow query while another reader stood idle), and the ingestion
writers of every process take one file lock around each group (not SQLite's polling busy handler)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import pytest
from tortoise import connections

from app.db import dialect, readers
from app.ingest.sqlite_writer import FileLock

pytestmark = pytest.mark.skipif(
    os.environ.get("ANALYTICS_TEST_DB") == "postgres",
    reason="SQLite's reader connections and its writers' lock (PostgreSQL has pools and row locks)",
)


async def test_a_reader_busy_with_a_query_is_not_handed_out_while_others_are_idle(db: str) -> None:
    assert dialect() == "sqlite"
    busy = connections.get("default")
    async with busy.acquire_connection():  # holds its lock, as a running query does
        picked = [readers() for _ in range(8)]
    assert all(busy not in (r.main, r.side) for r in picked)
    assert all(r.main is not r.side for r in picked)
    # the idle ones are still taken in turn: each of the three serves as `main`
    assert len({id(r.main) for r in picked}) == 3


async def test_with_every_reader_idle_they_are_taken_in_turn(db: str) -> None:
    mains = [readers().main for _ in range(8)]
    assert len({id(m) for m in mains}) == 4


def test_the_writers_file_lock_shuts_out_a_second_holder_until_released(tmp_path: Path) -> None:
    first = FileLock.beside(sqlite3.connect(tmp_path / "analytics.sqlite3"))
    second = FileLock.beside(sqlite3.connect(tmp_path / "analytics.sqlite3"))
    assert first.fd is not None and second.fd is not None
    assert (tmp_path / "analytics.sqlite3-ingest.lock").is_file()
    with first:
        with pytest.raises(BlockingIOError):
            fcntl.flock(second.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(second.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the first let go
    fcntl.flock(second.fd, fcntl.LOCK_UN)


def test_an_in_memory_database_takes_no_file_lock() -> None:
    lock = FileLock.beside(sqlite3.connect(":memory:"))
    assert lock.fd is None
    with lock:  # a no-op
        pass
