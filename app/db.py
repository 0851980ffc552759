"""Database set-up: the Tortoise config, migrations, and the one place that knows SQL dialects."""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass
from typing import Any, Literal

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url

__all__ = [
    "Readers",
    "close_db",
    "connection",
    "database_url",
    "dialect",
    "ingest_connection",
    "init_db",
    "migrate_db",
    "numbered",
    "readers",
    "sql",
    "tortoise_config",
]

MODELS = ["app.models"]
_EXTRA_SQLITE_READERS = ("read2", "read3")
_PLACEHOLDER = re.compile(r"\?")


def _is_sqlite_file(url: str) -> bool:
    return url.startswith("sqlite://") and ":memory:" not in url


def _with_sqlite_pragmas(url: str) -> str:
    """WAL with synchronous=NORMAL (a commit is durable once the OS has it; an fsync per checkpoint),
    and ingestion-friendly sizes: checkpoints every ~80 MB of WAL instead of every 4 MB (each one
    syncs inside a commit; pages rewritten meanwhile are copied once), the WAL file kept at its size
    after a checkpoint (Tortoise's default truncates it to 16 KB, to be regrown by every write
    burst), and a 64 MB page cache (the hot index pages of a multi-GB file; the default is 2 MB)."""
    if not _is_sqlite_file(url):
        return url
    extra = (
        "journal_mode=WAL&synchronous=NORMAL&busy_timeout=15000&foreign_keys=OFF"
        "&wal_autocheckpoint=20000&journal_size_limit=134217728&cache_size=-65536"
    )
    return url + ("&" if "?" in url else "?") + extra


def _sqlite_connection(url: str, *, loop_reads: bool) -> dict[str, Any]:
    """A SQLite connection of this service's client (app/sqlite_client.py); `loop_reads`: an API
    reader, whose statements run on the event loop's thread when they are short."""
    credentials = expand_db_url(_with_sqlite_pragmas(url))["credentials"]
    return {"engine": "app.sqlite_client", "credentials": {**credentials, "loop_reads": loop_reads}}


def tortoise_config(url: str) -> dict[str, Any]:
    """The Tortoise config for a database URL (``sqlite://path`` or ``postgres://...``)."""
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("sqlite://") and not _is_sqlite_file(url):
        raise ValueError(
            "an in-memory SQLite database cannot be served: each connection would see a database "
            "of its own; give a file (sqlite:///path/analytics.sqlite3)"
        )
    sqlite = url.startswith("sqlite://")
    # "default", "side", "read2", "read3" (SQLite): the API's readers. A SQLite connection runs one
    # query at a time on its thread, so with one reader a slow query held every request of the
    # process behind it; `readers()` takes the least busy (PostgreSQL's pools hold several). "side"
    # also serves the independent parts of one answer (e.g. the distinct users beside the sums).
    # "reports": report generation's own connection, so a large report's reads run beside (not in
    # front of) API queries. "ingest" (SQLite): the writer's own connection (WAL: readers do not
    # block the writer).
    api: dict[str, Any]
    if sqlite:
        api = {
            name: _sqlite_connection(url, loop_reads=True)
            for name in ("default", "side", *_EXTRA_SQLITE_READERS)
        }
        api["ingest"] = _sqlite_connection(url, loop_reads=False)
        api["reports"] = _with_sqlite_pragmas(url)
    else:
        api = {"default": url, "side": url, "reports": url}
    return {
        "connections": api,
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
    if _is_sqlite_file(url):
        from pathlib import Path

        path = Path(url[len("sqlite://") :].split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)


async def migrate_db(url: str) -> None:
    """Apply Tortoise's built-in migrations (idempotent; keeps data)."""
    from tortoise.migrations.api import migrate

    _ensure_sqlite_dir(url)
    await migrate(config=tortoise_config(url))
    await Tortoise.close_connections()


_initialized_url: str | None = None


def database_url() -> str:
    """The URL `init_db` opened (the database this process actually uses)."""
    if _initialized_url is None:
        raise RuntimeError("the database is not initialised")
    return _initialized_url


async def init_db(url: str, *, migrate: bool = True) -> None:
    """Migrate (unless told not to), then open the connections for the app."""
    global _initialized_url
    _initialized_url = url
    _ensure_sqlite_dir(url)
    if migrate:
        await migrate_db(url)
    # Global fallback (as RegisterTortoise does): request and WebSocket tasks do not inherit the
    # lifespan task's context variables.
    from app.pg_client import with_pg_client  # PostgreSQL: asyncpg without per-use round trips

    await Tortoise.init(config=with_pg_client(tortoise_config(url)), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


def connection() -> BaseDBAsyncClient:
    """The "default" connection (the API's reader; migrations and tests use it too)."""
    conn: BaseDBAsyncClient = connections.get("default")
    return conn


def ingest_connection() -> BaseDBAsyncClient:
    """The connection ingestion writes on: "ingest" on SQLite, the "default" pool on PostgreSQL."""
    name = "ingest" if "ingest" in connections.db_config else "default"
    conn: BaseDBAsyncClient = connections.get(name)
    return conn


@dataclass(frozen=True)
class Readers:
    """The connections an analytics answer reads on, passed in by the caller: `main`, and `side` for
    the independent parts of one answer that run at the same time (e.g. the distinct users beside
    the sums, on two cores)."""

    main: BaseDBAsyncClient
    side: BaseDBAsyncClient


_api_readers = itertools.count()


def _queued(conn: BaseDBAsyncClient) -> int:
    """How many queries hold or wait for a SQLite connection (Tortoise runs one at a time on it,
    behind an asyncio lock); 0 for a pool, which has no such lock."""
    lock = getattr(conn, "_lock", None)
    if not isinstance(lock, asyncio.Lock) or not lock.locked():
        return 0
    return 1 + len(lock._waiters or ())


def readers(name: str = "default") -> Readers:
    """The readers of connection `name`: for "default", two of the API's readers ("default" and
    "side", plus "read2" and "read3" on a SQLite file): the two with the fewest queries running or
    waiting on them, the next ones in turn among equals. Taken in turn regardless of their queues,
    a request waited behind whatever slow query its connection ran while another stood idle (under
    load the waits differed 2-3x between connections; docs/performance.md). Any other connection
    (a report's "reports") serves both, so a report's reads stay on their own connection."""
    if name != "default":
        own: BaseDBAsyncClient = connections.get(name)
        return Readers(main=own, side=own)
    names = ["default", "side", *(n for n in _EXTRA_SQLITE_READERS if n in connections.db_config)]
    k = next(_api_readers) % len(names)
    turn: list[BaseDBAsyncClient] = [connections.get(n) for n in names[k:] + names[:k]]
    main, side = sorted(turn, key=_queued)[:2]  # stable: equals keep their turn
    return Readers(main=main, side=side)


def dialect(conn: BaseDBAsyncClient | None = None) -> Literal["sqlite", "postgres"]:
    name = (conn or connection()).capabilities.dialect
    return "postgres" if name.startswith("postgres") else "sqlite"


def sql(query: str, conn: BaseDBAsyncClient | None = None) -> str:
    """Write queries with ``?`` placeholders; PostgreSQL gets ``$1, $2, ...``."""
    return query if dialect(conn) == "sqlite" else numbered(query)


def numbered(query: str) -> str:
    """A query's ``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    counter = iter(range(1, 1_000_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", query)
