"""Database set-up: the Tortoise config, migrations, and the one place that knows SQL dialects."""

from __future__ import annotations

import re
from typing import Any, Literal

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient

__all__ = ["close_db", "connection", "dialect", "init_db", "migrate_db", "sql", "tortoise_config"]

MODELS = ["app.models"]
_PLACEHOLDER = re.compile(r"\?")


def _with_sqlite_pragmas(url: str) -> str:
    if not url.startswith("sqlite://") or ":memory:" in url:
        return url
    extra = "journal_mode=WAL&synchronous=NORMAL&busy_timeout=15000&foreign_keys=OFF"
    return url + ("&" if "?" in url else "?") + extra


def tortoise_config(url: str) -> dict[str, Any]:
    """The Tortoise config for a database URL (``sqlite://path`` or ``postgres://...``)."""
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    return {
        "connections": {"default": _with_sqlite_pragmas(url)},
        "apps": {
            "models": {
                "models": MODELS,
                "default_connection": "default",
                "migrations": "app.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite://") and ":memory:" not in url:
        from pathlib import Path

        path = Path(url[len("sqlite://") :].split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)


async def migrate_db(url: str) -> None:
    """Apply Tortoise's built-in migrations (idempotent; keeps data)."""
    from tortoise.migrations.api import migrate

    _ensure_sqlite_dir(url)
    await migrate(config=tortoise_config(url))
    await Tortoise.close_connections()


async def init_db(url: str, *, migrate: bool = True) -> None:
    """Migrate (unless told not to), then open the connections for the app."""
    _ensure_sqlite_dir(url)
    if migrate:
        await migrate_db(url)
    # Global fallback (as RegisterTortoise does): request and WebSocket tasks do not inherit the
    # lifespan task's context variables.
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


def connection() -> BaseDBAsyncClient:
    """The default connection (inside a transaction, use the transaction's own client)."""
    conn: BaseDBAsyncClient = connections.get("default")
    return conn


def dialect(conn: BaseDBAsyncClient | None = None) -> Literal["sqlite", "postgres"]:
    name = (conn or connection()).capabilities.dialect
    return "postgres" if name.startswith("postgres") else "sqlite"


def sql(query: str, conn: BaseDBAsyncClient | None = None) -> str:
    """Write queries with ``?`` placeholders; PostgreSQL gets ``$1, $2, ...``."""
    if dialect(conn) == "sqlite":
        return query
    counter = iter(range(1, 1_000_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", query)
