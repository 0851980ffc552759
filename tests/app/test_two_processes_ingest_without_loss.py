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
from app.db import connection
from app.ingest import ingest_events
from tests.analytics import reference as ref
from tests.factories import bearer, clear_ingested, conversation, snapshot

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


HOLDER = """
import asyncio, json, sys, time
from datetime import datetime
from pathlib import Path
from app.auth import Principal
from app.db import init_db, close_db
from app.ingest import IngestHooks, ingest_events, install_hooks

class Hold(IngestHooks):
    def group_written(self, event_ids):
        # Inside the transaction, its rows written: hold it open until told to go on.
        Path(sys.argv[4]).touch()
        release = Path(sys.argv[4] + ".release")
        for _ in range(200):
            if release.exists():
                return
            time.sleep(0.05)

async def main(url, path, now, flag):
    await init_db(url, migrate=False)
    install_hooks(Hold())
    r = await ingest_events(json.load(open(path)), Principal("w", frozenset({"admin"})), now=datetime.fromisoformat(now))
    await close_db()
    print(json.dumps([r.accepted, r.duplicates]))

asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_users_activity_chain_stays_exact_when_two_processes_extend_it_at_once(
    db: str, tmp_path: Path, client: Any
) -> None:
    """A user active early on day 1 and late on day 2 with a bot; one process adds activity late
    on day 1 and holds its transaction open; meanwhile another adds activity early on day 2. The
    second must see the first's slot as its predecessor (it waits for the user's lock), or a
    range from the first's slot counts the user twice among its active users."""
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    day1 = datetime(2025, 2, 26, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    stored = conversation(bot, user, day1 + timedelta(hours=2), 1) + conversation(
        bot, user, day2 + timedelta(hours=20), 1
    )
    first = conversation(bot, user, day1 + timedelta(hours=20), 1)
    second = conversation(bot, user, day2 + timedelta(hours=2), 1)
    await ingest_events(stored, Principal("t", frozenset({"admin"})), now=NOW)
    (tmp_path / "first.json").write_text(json.dumps(first))
    (tmp_path / "second.json").write_text(json.dumps(second))
    flag = tmp_path / "holding"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, db, str(tmp_path / "first.json"), NOW.isoformat(), str(flag),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": REPO},
    )  # fmt: skip
    for _ in range(300):
        if flag.exists() or holder.returncode is not None:
            break
        await asyncio.sleep(0.05)
    assert flag.exists(), "the first process never wrote its group"
    other = asyncio.create_task(_run_worker(db, _batches(tmp_path / "second", [second])))
    for _ in range(300):  # until the second process waits for a lock the first one holds
        waiting = await connection().execute_query_dict(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        )
        if waiting[0]["n"] or other.done():
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(Path(str(flag) + ".release").touch)
    assert await other == (len(second), 0)
    _, err = await holder.communicate()
    assert holder.returncode == 0, err.decode()[-2000:]

    events = stored + first + second
    # From the slot of the first process's activity: the user's rows in range are that slot, the
    # second's and day 2's stored one, each pointing at the one before, so the user counts once.
    params = {"start_date": "2025-02-26T20:00:00Z", "end_date": "2025-02-27", "bot_id": bot}
    reference = ref.Reference(events, ref.DEFAULT_TIMEOUT)
    span = ref.resolve_range(NOW, start_date=params["start_date"], end_date=params["end_date"])
    for bots in (None, frozenset({bot})):  # the chain across bots and the bot's own
        r = await client.get(
            "/api/v1/analytics/usage",
            params={k: v for k, v in params.items() if bots or k != "bot_id"},
            headers=bearer(["admin"]),
        )
        assert r.status_code == 200, r.text
        want = ref.usage(reference, span, (bots, None), NOW)
        assert r.json()["active_users"] == want["active_users"] == 1


def _batches(stem: Path, batches: list[list[dict[str, Any]]]) -> Path:
    path = stem.with_suffix(".json")
    path.write_text(json.dumps(batches))
    return path


async def test_a_recontact_flag_stays_exact_when_an_end_and_the_next_conversation_arrive_at_once(
    db: str, tmp_path: Path
) -> None:
    """A stored conversation of a user with a bot; one process stores its end (an event that names
    no user) and holds its transaction open; meanwhile another stores the user's next conversation
    with that bot, 2 h after the end. Each transaction alone sees no recontact (the other's row is
    not committed): the second must wait for the user's lock, which the first takes for the
    conversation of its end event, so that it sees the end and flags the first conversation."""
    bot, user = str(uuid.uuid4()), str(uuid.uuid4())
    start = NOW - timedelta(days=2)
    stored = conversation(bot, user, start, 2, end=None)
    end_event = {
        "id": str(uuid.uuid4()),
        "type": "conversation_ended",
        "timestamp": (start + timedelta(minutes=10)).isoformat(),
        "conversation_id": stored[0]["conversation_id"],
        "resolution": "resolved",
    }
    later = conversation(bot, user, start + timedelta(hours=2, minutes=10), 1, end=None)
    await ingest_events(stored, Principal("t", frozenset({"admin"})), now=NOW)
    (tmp_path / "first.json").write_text(json.dumps([end_event]))
    flag = tmp_path / "holding"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, db, str(tmp_path / "first.json"), NOW.isoformat(), str(flag),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": REPO},
    )  # fmt: skip
    for _ in range(300):
        if flag.exists() or holder.returncode is not None:
            break
        await asyncio.sleep(0.05)
    assert flag.exists(), "the first process never wrote its group"
    other = asyncio.create_task(_run_worker(db, _batches(tmp_path / "second", [later])))
    for _ in range(300):  # until the second process waits for a lock the first one holds
        waiting = await connection().execute_query_dict(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        )
        if waiting[0]["n"] or other.done():
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(Path(str(flag) + ".release").touch)
    assert await other == (len(later), 0)
    _, err = await holder.communicate()
    assert holder.returncode == 0, err.decode()[-2000:]

    rows = await connection().execute_query_dict(
        "SELECT c.uuid AS uuid, c.recontacted AS flag FROM conversations c ORDER BY c.started_us"
    )
    assert [(r["uuid"], int(r["flag"])) for r in rows] == [
        (stored[0]["conversation_id"], 1),
        (later[0]["conversation_id"], 0),
    ]
    days = await connection().execute_query_dict(
        "SELECT SUM(resolved) AS resolved, SUM(recontacted) AS again FROM outcome_days"
    )
    assert (int(days[0]["resolved"]), int(days[0]["again"])) == (1, 1)
