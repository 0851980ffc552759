"""The service's PostgreSQL connections: Tortoise's asyncpg client with two protocol costs removed.

Measured under `python -m bench load --db postgres` (docs/performance.md, "PostgreSQL read path"),
a read statement cost ~0.5 ms of backend CPU but held its connection ~40 ms: on a busy 2-core
machine every network round trip waits for the backend to be scheduled and then for the worker's
event loop (its lag was 7 ms p50, 60 ms p99), and each statement took up to four of them:

- asyncpg's pool ran `Connection.reset()` at every release: `SELECT pg_advisory_unlock_all();
  CLOSE ALL; UNLISTEN *; RESET ALL;`, one more round trip and four commands per use. The service
  leaves no session state behind (advisory locks are transaction-scoped, `pg_advisory_xact_lock`;
  no LISTEN, cursors or session SETs), so `_QuietConnection` sends no reset query; an open
  transaction is still rolled back (asyncpg does that apart from the query).
- The analytics SQL inlines its integers (app/analytics/sqlparts.py), so the texts differ between
  questions, but the same question repeats its text for the day (76% of the load's statements were
  seen in the previous pass). asyncpg's default cache (100 statements, none over 15 KB) churned:
  each miss prepared (one round trip: parse, describe) and first closed an evicted statement (one
  more), then executed. `STATEMENT_CACHE` statements per connection keep a dashboard's set, so a
  repeated question is one round trip with its plan already made.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.config_generator import expand_db_url

__all__ = ["STATEMENT_CACHE", "PgClient", "client_class", "with_pg_client"]

STATEMENT_CACHE = 1024
"""Prepared statements per connection (asyncpg's default is 100)."""
MAX_CACHED_TEXT = 64 * 1024
"""The longest statement kept (asyncpg's default 15 KB left out the widest VALUES lists)."""


class _QuietConnection(asyncpg.connection.Connection):  # type: ignore[misc]
    """An asyncpg connection whose release to the pool sends nothing (see the module docstring)."""

    def get_reset_query(self) -> str:
        return ""


class PgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client on `_QuietConnection`s."""

    connection_class = _QuietConnection


client_class = PgClient
"""Tortoise finds an engine's client here (`"engine": "app.pg_client"`)."""


def with_pg_client(config: dict[str, Any]) -> dict[str, Any]:
    """A Tortoise config whose PostgreSQL connections use `PgClient` with the statement cache above
    (an explicit `statement_cache_size` or `max_cacheable_statement_size` in the URL wins); other
    connections (SQLite) unchanged."""
    connections: dict[str, Any] = {}
    for name, url in config["connections"].items():
        if isinstance(url, str) and url.startswith(("postgres://", "postgresql://")):
            info = expand_db_url(url)
            credentials = {
                "statement_cache_size": STATEMENT_CACHE,
                "max_cacheable_statement_size": MAX_CACHED_TEXT,
                **info["credentials"],
            }
            connections[name] = {"engine": "app.pg_client", "credentials": credentials}
        else:
            connections[name] = url
    return {**config, "connections": connections}
