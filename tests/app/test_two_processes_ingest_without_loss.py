"""Several processes ingesting into one PostgreSQL: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.auth import Principal
from app.ingest import ingest_events
from tests.factories import clear_ingested, conversation, snapshot

REPO = str(Path(__file__).resolve().parents[2])
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    os.environ.get("ANALYTICS_TEST_DB") != "postgres",
    reason="multi-process ingestion is a PostgreSQL property",
)

WORKER = """
import asyncio, json, sys
from datetime import datetime
from app.auth import Principal
from app.db import init_db, close_db
from app.ingest import ingest_events

async def main(url, path, now):
    await init_db(url, migrate=False)
    batches = json.load(open(path))
    accepted = duplicates = 0
    for batch in batches:
        r = await ingest_events(batch, Principal("w", frozenset({"admin"})), now=datetime.fromisoformat(now))
        accepted += r.accepted
        duplicates += r.duplicates
    await close_db()
    print(json.dumps([accepted, duplicates]))

asyncio.run(main(*sys.argv[1:]))
"""


async def _run_worker(url: str, path: Path) -> tuple[int, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        url,
        str(path),
        NOW.isoformat(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    accepted, duplicates = json.loads(out.decode().strip().splitlines()[-1])
    return int(accepted), int(duplicates)


async def test_two_processes_with_overlapping_batches(db: str, tmp_path: Path) -> None:
    rng = random.Random(5)
    bots = [str(uuid.uuid4()) for _ in range(2)]
    users = [str(uuid.uuid4()) for _ in range(6)]
    events: list[dict[str, Any]] = []
    for _ in range(60):
        start = NOW - timedelta(days=rng.randint(0, 5), minutes=rng.randint(0, 1000))
        events += conversation(
            rng.choice(bots),
            rng.choice(users),
            start,
            rng.randint(1, 6),
            end=rng.choice(["resolved", None]),
            score=rng.choice([None, 4]),
        )
    # Each worker sends every event once, in its own shuffled order and batching: every event is
    # delivered twice in all, concurrently.
    paths = []
    for seed in (1, 2):
        mine = events[:]
        random.Random(seed).shuffle(mine)
        size = 25 + seed * 10
        path = tmp_path / f"w{seed}.json"
        path.write_text(json.dumps([mine[i : i + size] for i in range(0, len(mine), size)]))
        paths.append(path)
    results = await asyncio.gather(*(_run_worker(db, p) for p in paths))
    assert sum(a for a, _ in results) == len(events)
    assert sum(d for _, d in results) == len(events)
    concurrent = await snapshot()

    await clear_ingested()
    for i in range(0, len(events), 500):
        await ingest_events(events[i : i + 500], Principal("t", frozenset({"admin"})), now=NOW)
    assert await snapshot() == concurrent
