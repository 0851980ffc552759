"""The service's PostgreSQL pools (app/pg_client.py): no reset query at each release, a statement
cache that holds a dashboard's statements, and still no transaction left open across uses."""

from __future__ import annotations

import os

import pytest

from app.db import connection, tortoise_config
from app.pg_client import MAX_CACHED_TEXT, STATEMENT_CACHE, PgClient, with_pg_client

on_postgres = pytest.mark.skipif(
    os.environ.get("ANALYTICS_TEST_DB") != "postgres", reason="PostgreSQL's connection pools"
)


def test_postgres_connections_use_the_client_and_sqlite_ones_are_unchanged() -> None:
    pg = with_pg_client(tortoise_config("postgres://u@db.example:5432/a?maxsize=8"))
    for name in ("default", "side", "reports"):
        info = pg["connections"][name]
        assert info["engine"] == "app.pg_client"
        assert info["credentials"]["statement_cache_size"] == STATEMENT_CACHE
        assert info["credentials"]["max_cacheable_statement_size"] == MAX_CACHED_TEXT
        assert (info["credentials"]["host"], info["credentials"]["database"]) == ("db.example", "a")
        assert info["credentials"]["maxsize"] == "8"
    sqlite = tortoise_config("sqlite:///tmp/x.sqlite3")
    assert with_pg_client(sqlite) == sqlite


def test_a_cache_size_in_the_url_wins() -> None:
    pg = with_pg_client(tortoise_config("postgresql://u@h/a?statement_cache_size=0"))
    assert pg["connections"]["default"]["credentials"]["statement_cache_size"] == 0


@on_postgres
async def test_a_released_connection_keeps_its_statements_and_loses_its_transaction(db: str) -> None:
    conn = connection()
    assert isinstance(conn, PgClient)
    query = "SELECT 41 + 1 AS n -- test_postgres_connections"
    async with conn.acquire_connection() as raw:
        assert raw.get_reset_query() == ""
        await raw.execute("BEGIN")
        assert (await raw.fetch(query))[0]["n"] == 42
        assert raw.is_in_transaction()
        backend = raw.get_server_pid()
    async with conn.acquire_connection() as raw:  # the pool's last released connection (LIFO)
        assert raw.get_server_pid() == backend
        assert not raw.is_in_transaction()
        kept = "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1"
        assert await raw.fetchval(kept, query) == 1
