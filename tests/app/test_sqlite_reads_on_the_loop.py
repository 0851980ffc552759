"""SQLite: the API's readers run a short statement on the event loop's own thread and move a long
one to the connection's thread, with the same rows either way; a write through a reader still
works; an in-memory database is refused with a message that says why."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tortoise import connections
from tortoise.backends.sqlite.client import SqliteClient

from app import sqlite_client
from app.db import dialect, readers, tortoise_config
from app.sqlite_client import LoopSqliteClient

LONG = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
    "SELECT count(*) AS n, sum(x) AS total FROM c"
)


@pytest.fixture
def on_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements that went to a connection's own thread (Tortoise's aiosqlite path)."""
    seen: list[str] = []
    original = SqliteClient.execute_query_dict

    async def spy(self: SqliteClient, query: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        seen.append(query)
        return list(await original(self, query, values))

    monkeypatch.setattr(SqliteClient, "execute_query_dict", spy)
    return seen


@pytest.fixture(autouse=True)
def no_slow_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no statement shape marked slow."""
    monkeypatch.setattr(sqlite_client, "_slow", {})


@pytest.fixture
def sqlite_only(db: str) -> str:
    if dialect() != "sqlite":
        pytest.skip("SQLite's readers only")
    return db


async def test_a_short_read_runs_on_the_loop_and_a_long_one_on_its_thread(
    sqlite_only: str, on_threads: list[str]
) -> None:
    reader = readers().main
    assert isinstance(reader, LoopSqliteClient) and reader.loop_reads
    assert await reader.execute_query_dict("SELECT 6 * 7 AS answer") == [{"answer": 42}]
    assert on_threads == []

    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.002)

    watch = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    try:
        started = time.perf_counter()
        rows = await reader.execute_query_dict(LONG)
        took = time.perf_counter() - started
    finally:
        watch.cancel()
    assert rows == [{"n": 3_000_000, "total": 3_000_000 * 3_000_001 // 2}]
    assert on_threads == [LONG]  # interrupted on the loop, answered on the thread
    during = [t for t in ticks if started <= t <= started + took]
    assert len(during) > 1, "the loop did not run while the long statement ran"


async def test_a_shape_once_slow_goes_straight_to_its_thread(
    sqlite_only: str, on_threads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same statement with other literals loses no slice on the loop: its shape was slow."""
    tried_on_loop: list[str] = []
    run = LoopSqliteClient._run

    def spy(self: LoopSqliteClient, query: str, values: list[Any] | None) -> Any:
        tried_on_loop.append(query)
        return run(self, query, values)

    monkeypatch.setattr(LoopSqliteClient, "_run", spy)
    reader = readers().main
    other = LONG.replace("3000000", "2900000")
    assert (await reader.execute_query_dict(LONG))[0]["n"] == 3_000_000
    assert (await reader.execute_query_dict(other))[0]["n"] == 2_900_000
    assert tried_on_loop == [LONG]
    assert on_threads == [LONG, other]
    monkeypatch.setattr(sqlite_client, "SLOW_MEMORY_S", 0.0)  # forgotten: tried on the loop again
    sqlite_client._slow.clear()
    assert (await reader.execute_query_dict(other))[0]["n"] == 2_900_000
    assert tried_on_loop == [LONG, other]


async def test_the_slice_on_the_loop_is_bounded(
    sqlite_only: str, on_threads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a larger slice the same statement finishes on the loop: the interruption is the slice's."""
    monkeypatch.setattr(sqlite_client, "READ_SLICE_S", 60.0)
    assert (await readers().main.execute_query_dict(LONG))[0]["n"] == 3_000_000
    assert on_threads == []


async def test_a_write_through_a_reader_goes_to_its_thread(sqlite_only: str, on_threads: list[str]) -> None:
    conn = connections.get("default")
    await conn.execute_script("CREATE TABLE IF NOT EXISTS loop_probe (x INTEGER)")
    try:
        inserted = await conn.execute_query_dict("INSERT INTO loop_probe (x) VALUES (5) RETURNING x")
        assert inserted == [{"x": 5}]
        assert len(on_threads) == 1  # refused by the loop's query_only connection, then run there
        assert await conn.execute_query_dict("SELECT x FROM loop_probe") == [{"x": 5}]
    finally:
        await conn.execute_script("DROP TABLE loop_probe")


def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory SQLite database cannot be served"):
        tortoise_config("sqlite://:memory:")


async def test_statements_on_the_loop_give_it_a_turn_every_slice(
    sqlite_only: str, on_threads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One request running many short statements does not keep the loop from its other requests."""
    monkeypatch.setattr(sqlite_client, "_past", lambda deadline: lambda: False)  # none is moved
    reader = readers().main
    short = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) SELECT count(*) AS n FROM c"
    statements = 400
    order: list[str] = []

    async def request() -> None:
        for _ in range(statements):
            assert await reader.execute_query_dict(short) == [{"n": 500}]
            order.append("statement")

    async def other_request() -> None:
        while order.count("statement") < statements:
            order.append("turn")
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(request(), other_request())
    took = time.perf_counter() - started
    assert on_threads == []  # each ran on the loop: the turns are the slices'
    first, last = order.index("statement"), len(order) - 1 - order[::-1].index("statement")
    slices = int(took / sqlite_client.READ_SLICE_S)
    assert slices >= 2, f"{statements} statements took {took * 1000:.1f} ms: too fast to need a turn"
    assert order[first:last].count("turn") >= slices // 2
