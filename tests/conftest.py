"""Test fixtures: one database per test session (SQLite file or PostgreSQL), emptied before each test.

`ANALYTICS_TEST_DB=postgres` runs the suite on PostgreSQL (`ANALYTICS_TEST_PG_URL`, default
the local `test` database's server). An unreachable PostgreSQL then fails every database test
(never a skip: `make test-postgres` with the server down must not pass).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

os.environ.setdefault("ANALYTICS_ENV", "test")
# Tests see every write at once; the cache has its own tests (tests/analytics/test_cache.py).
os.environ.setdefault("ANALYTICS_QUERY_CACHE_SECONDS", "0")
# PostgreSQL plans stay put within a test (an ANALYZE between two requests can change the order in
# which a float SUM adds, and its last bits); the keeper has its own tests (test_postgres_statistics).
os.environ.setdefault("ANALYTICS_PG_ANALYZE_SECONDS", "0")
os.environ.setdefault("ANALYTICS_JWT_SECRET", "test-secret-" + "x" * 40)

from app.config import get_settings
from app.db import close_db, connection, init_db
from tests.factories import INGESTED_TABLES, drop_postgres_database, fresh_postgres_database

TABLES = (
    *INGESTED_TABLES,
    "api_keys",
    "reports",
)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    kind = os.environ.get("ANALYTICS_TEST_DB", "sqlite")
    if kind == "postgres":
        try:
            url = await fresh_postgres_database()
        except Exception as exc:  # any failure to reach the server fails the run
            pytest.fail(f"ANALYTICS_TEST_DB=postgres but PostgreSQL is unreachable: {exc!r}")
        await init_db(url)
        yield url
        await close_db()
        await drop_postgres_database(url)
    else:
        path = Path(tmp_path_factory.mktemp("db")) / "analytics.sqlite3"
        url = f"sqlite://{path}"
        await init_db(url)
        yield url
        await close_db()


@pytest_asyncio.fixture(loop_scope="session")
async def db(database_url: str) -> AsyncIterator[str]:
    """An empty database for one test."""
    conn = connection()
    for table in TABLES:
        await conn.execute_script(f"DELETE FROM {table}")
    yield database_url


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    return get_settings()


@pytest_asyncio.fixture(loop_scope="session")
async def client(db: str):  # type: ignore[no-untyped-def]
    """An HTTP client against the whole app (lifespan run, database already set up)."""
    import httpx
    from asgi_lifespan import LifespanManager

    from server.app import create_app

    app = create_app(get_settings(), manage_database=False)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c
