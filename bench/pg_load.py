"""The bulk-loaded data set in PostgreSQL: the cached SQLite file of `bench.bulk_load` copied table by
table with COPY into a database made by the app's migrations, cached under a name derived from the
file's name (parameters and schema fingerprint) and the time its data ends.

    python -m bench.pg_load [--conversations 400000 ...]     # load (or find) the cached database

A run never writes the cached database: `run_copy` clones it (`CREATE DATABASE ... TEMPLATE`) for
one benchmark run, as `bulk_load.copy_db` copies the SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench import pg
from bench.bulk_load import cached_db
from bench.datagen import Params

TABLES = (
    "bots",
    "end_users",
    "bot_users",
    "conversations",
    "events",
    "message_slots",
    "conv_slots",
    "user_slots",
    "user_slots_all",
    "model_slots",
    "latency_slots",
    "intent_slots",
    "intent_convs",
    "intent_days",
    "outcome_days",
    "model_days",
    "latency_days",
    "latency_day_bands",
    "message_days",
    "conv_days",
    "user_day_pairs",
    "user_day_pairs_all",
)
BOOLEAN_COLUMNS = {("events", "fallback")}
CHUNK = 50_000


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def cached_name(sqlite_path: Path, meta: dict[str, Any]) -> str:
    tables = ",".join(TABLES)  # a copy made with fewer tables is not this one
    digest = hashlib.sha256(f"{sqlite_path.name}-{meta['end_us']}-{tables}".encode()).hexdigest()[:16]
    return f"bench_data_{digest}"


async def _exists(name: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(_dsn(pg.ADMIN_URL))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
    finally:
        await conn.close()
    conn = await asyncpg.connect(_dsn(pg.url_of(name)))
    try:
        return bool(await conn.fetchval("SELECT to_regclass('bench_dataset') IS NOT NULL"))
    finally:
        await conn.close()


async def _copy(sqlite_path: Path, url: str) -> dict[str, int]:
    import asyncpg

    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    conn = await asyncpg.connect(_dsn(url))
    counts: dict[str, int] = {}
    try:
        for table in TABLES:
            columns = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]
            indexes = await conn.fetch(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = $1 AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                table,
            )
            for ix in indexes:  # secondary indexes are built once, after the rows are in
                await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
            booleans = [i for i, col in enumerate(columns) if (table, col) in BOOLEAN_COLUMNS]
            cursor = src.execute(f'SELECT {", ".join(columns)} FROM "{table}"')
            n = 0
            while rows := cursor.fetchmany(CHUNK):
                if booleans:
                    rows = [
                        tuple(bool(v) if i in booleans and v is not None else v for i, v in enumerate(r))
                        for r in rows
                    ]
                await conn.copy_records_to_table(table, records=rows, columns=columns)
                n += len(rows)
            for ix in indexes:
                await conn.execute(ix["indexdef"])
            if "id" in columns and table != "events":
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                    f'FROM "{table}"'
                )
            counts[table] = n
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CREATE TABLE bench_dataset (source text)")
        await conn.execute("INSERT INTO bench_dataset VALUES ($1)", sqlite_path.name)
    finally:
        await conn.close()
        src.close()
    return counts


def cached_pg(sqlite_path: Path, meta: dict[str, Any]) -> tuple[str, bool]:
    """The URL of the cached PostgreSQL copy of `sqlite_path`, loaded unless it exists; and
    whether it was cached."""
    from app.db import migrate_db

    name = cached_name(sqlite_path, meta)
    url = pg.url_of(name)
    if asyncio.run(_exists(name)):
        return url, True
    pg.drop_database(url)
    asyncio.run(pg._admin(f'CREATE DATABASE "{name}"'))
    t = time.perf_counter()
    asyncio.run(migrate_db(url))
    counts = asyncio.run(_copy(sqlite_path, url))
    print(
        f"  loaded PostgreSQL {name} with COPY in {time.perf_counter() - t:.0f} s "
        f"({', '.join(f'{t} {n:,}' for t, n in counts.items())})"
    )
    return url, False


def run_copy(url: str) -> str:
    """A copy of the cached database for one run (it is not written); its URL."""
    name = url.rsplit("/", 1)[1]
    run = f"bench_run_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg._admin(f'CREATE DATABASE "{run}" TEMPLATE "{name}"'))
    return pg.url_of(run)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pg_load", description=__doc__.split("\n\n")[0])
    Params.add_arguments(p)
    a = p.parse_args(argv)
    path, meta = cached_db(Params.from_args(a))
    url, cached = cached_pg(path, meta)
    print(f"{url} ({'cached' if cached else 'loaded'}; {meta['events']:,} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
