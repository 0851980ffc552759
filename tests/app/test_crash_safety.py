"""Crash safety: the real server is SIGKILLed while clients ingest batches with ids, then restarted.

Four clients post batches (50 to 200 events with ids; some batches resend events acknowledged
before) to `python -m server.cli serve`, which has a database of its own (a SQLite file, or with
`ANALYTICS_TEST_DB=postgres` a fresh PostgreSQL database). Three times, once the clients have had
some batches acknowledged, the server's process group is SIGKILLed; a batch whose answer was lost
is retried after the restart (after the last kill, only every other one: the rest are never
acknowledged). Then:
- after each kill, with the server down: every batch sent and not acknowledged is stored whole or
  not at all (its own events: all present or all absent);
- at the end: the stored ids are exactly those of the acknowledged batches and of the unacknowledged
  ones that were stored whole, each id once; every acknowledgement counts its whole batch;
- the numbers the restarted server answers on every range route are the reference's for the stored
  events (tests/analytics/reference.py), so the derived tables hold each stored event once.
The data lies in January 2025, long before any `now`: no answer depends on the clock.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common import free_port
from rest_shim.routes import ROUTES
from tests.analytics import reference as ref
from tests.factories import assert_same, drop_postgres_database, fresh_postgres_database, token_for

EVENTS = "/api/v1/analytics/events"
CLIENTS = 4
KILLS = 3
ACKS_BEFORE_KILL = 6
"""Batches acknowledged in a cycle before its kill (then a random 0 to 0.2 s more)."""
DATA_START = datetime(2025, 1, 6, tzinfo=UTC)
BOTS = [str(uuid.UUID(int=k, version=4)) for k in (11, 12, 13)]
USERS = [str(uuid.UUID(int=100 + k, version=4)) for k in range(40)]
RANGE_ROUTES = [r for r in ROUTES if r.method == "GET" and r.params in ("filter", "intents")]


@dataclass
class Batch:
    key: int
    events: list[dict[str, Any]]
    own: list[str]
    """The ids first sent in this batch (the others resend acknowledged events)."""
    sends: int = 0
    answer: dict[str, int] | None = None
    abandoned: bool = False


@dataclass
class Conversation:
    id: str
    bot: str
    user: str
    t0: datetime


@dataclass
class Run:
    """What the clients and the test share."""

    rng: random.Random
    batches: list[Batch] = field(default_factory=list)
    acknowledged: list[Batch] = field(default_factory=list)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    stop_new: bool = False
    abandon: set[int] = field(default_factory=set)
    acked_this_cycle: int = 0

    def new_batch(self, convs: list[Conversation]) -> Batch:
        rng = self.rng
        size = rng.randint(50, 200)
        events: list[dict[str, Any]] = []
        while len(events) < size:
            if not convs or rng.random() < 0.5:
                t0 = DATA_START + timedelta(seconds=rng.randint(0, 6 * 86400))
                convs.append(Conversation(_uuid(rng), rng.choice(BOTS), rng.choice(USERS), t0))
                conv = convs[-1]
                if rng.random() < 0.9:
                    events.append(_event(rng, conv, "conversation_started", conv.t0))
            else:
                conv = rng.choice(convs)
            for _ in range(rng.randint(1, 6)):
                t = conv.t0 + timedelta(seconds=rng.randint(-60, 7200), microseconds=rng.randint(0, 999_999))
                events.append(_event(rng, conv, rng.choice(["message", "message", "end", "rating"]), t))
        own = [e["id"] for e in events]
        if self.acknowledged and rng.random() < 0.4:  # a retry of some events acknowledged before
            earlier = rng.choice(self.acknowledged)
            events += rng.sample(earlier.events, min(5, len(earlier.events)))
            rng.shuffle(events)
        batch = Batch(len(self.batches), events, own)
        self.batches.append(batch)
        return batch


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _event(rng: random.Random, conv: Conversation, kind: str, t: datetime) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "id": _uuid(rng),
        "timestamp": t.isoformat(),
        "conversation_id": conv.id,
        "bot_id": conv.bot,
        "user_id": conv.user,
    }
    if kind == "conversation_started":
        ev.update(type=kind, channel=rng.choice(["web", "teams", "whatsapp"]))
    elif kind == "message":
        ev.update(type=kind, role=rng.choice(["user", "bot"]), fallback=rng.random() < 0.2)
    elif kind == "end":
        ev.update(type="conversation_ended", resolution=rng.choice(["resolved", "escalated", "abandoned"]))
    else:
        ev.update(type="satisfaction", score=rng.randint(1, 5))
    return ev


# --------------------------------------------------------------------------- the server and its database


class Server:
    """`python -m server.cli serve` in a process group of its own, on one port across restarts."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: list[float] = []

    def spawn(self) -> None:
        env = {**os.environ, "ANALYTICS_DATABASE_URL": self.url, "ANALYTICS_PORT": str(self.port)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def start(self) -> None:
        t0 = time.monotonic()
        self.spawn()
        assert self.proc is not None
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=self.base, timeout=1) as c:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await c.get("/health")).status_code == 200:
                        self.startup_seconds.append(time.monotonic() - t0)
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        self.kill()
        pytest.fail("the server did not start: " + self.log.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the server's process group (the one this test started) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


async def stored(url: str, ids: list[str]) -> dict[str, int]:
    """How many rows of `events` hold each of `ids` (read straight from the database)."""
    out: dict[str, int] = {}
    chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
    if url.startswith("sqlite://"):
        with closing(sqlite3.connect(url.removeprefix("sqlite://"))) as conn:
            for chunk in chunks:
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT id, COUNT(*) FROM events WHERE id IN ({marks}) GROUP BY id", chunk
                ).fetchall()
                out.update({str(i): int(n) for i, n in rows})
        return out
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        for chunk in chunks:
            rows = await conn.fetch("SELECT id, COUNT(*) FROM events WHERE id = ANY($1) GROUP BY id", chunk)
            out.update({str(r[0]): int(r[1]) for r in rows})
    finally:
        await conn.close()
    return out


async def count_events(url: str) -> int:
    if url.startswith("sqlite://"):
        with closing(sqlite3.connect(url.removeprefix("sqlite://"))) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return int(await conn.fetchval("SELECT COUNT(*) FROM events"))
    finally:
        await conn.close()


async def settle(url: str) -> None:
    """PostgreSQL: wait until the killed server's sessions are gone (a COMMIT already sent may still
    finish after the kill; an open transaction is rolled back). SQLite: the file is final at once."""
    if url.startswith("sqlite://"):
        return
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            others = await conn.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'",
                name,
            )
            if others == 0:
                return
            await asyncio.sleep(0.05)
        pytest.fail("the killed server's PostgreSQL sessions did not end")
    finally:
        await conn.close()


# --------------------------------------------------------------------------- the clients


async def client(run: Run, base: str) -> None:
    """Post batches one after another; a batch without an answer is sent again once the server is
    back (unless the test abandons it), and a new one follows each answer until told to stop."""
    headers = {"Authorization": "Bearer " + token_for(["analytics_ingest"])}
    convs: list[Conversation] = []
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(20, connect=2)) as http:
        while not run.stop_new:
            batch = run.new_batch(convs)
            while batch.answer is None:
                await run.up.wait()
                if batch.key in run.abandon:
                    batch.abandoned = True
                    return
                batch.sends += 1
                try:
                    r = await http.post(EVENTS, json={"events": batch.events}, headers=headers)
                except httpx.TransportError:
                    continue  # killed: `up` is clear until the next server answers (or it was slow)
                assert r.status_code == 200, r.text
                batch.answer = r.json()
                run.acknowledged.append(batch)
                run.acked_this_cycle += 1


# --------------------------------------------------------------------------- the test


async def assert_whole_or_absent(url: str, batches: list[Batch]) -> int:
    """Each batch's own events are all stored or none is; returns how many batches were stored."""
    counts = await stored(url, [i for b in batches for i in b.own])
    whole = 0
    for b in batches:
        present = sum(1 for i in b.own if i in counts)
        assert present in (0, len(b.own)), f"batch {b.key}: {present} of {len(b.own)} events stored"
        whole += present == len(b.own)
    return whole


@pytest.fixture
async def database(tmp_path: Path) -> Any:
    if os.environ.get("ANALYTICS_TEST_DB", "sqlite") == "postgres":
        try:
            url = await fresh_postgres_database()
        except Exception as exc:  # any failure to reach the server fails the run
            pytest.fail(f"ANALYTICS_TEST_DB=postgres but PostgreSQL is unreachable: {exc!r}")
        yield url
        await drop_postgres_database(url)
    else:
        yield f"sqlite://{tmp_path / 'crash.sqlite3'}"


async def test_acknowledged_events_survive_sigkills_exactly_once(database: str, tmp_path: Path) -> None:
    url = database
    run = Run(random.Random(20251128))
    server = Server(url, tmp_path / "server.log")
    in_flight_at_kills = stored_unanswered = 0
    try:
        await server.start()
        run.up.set()
        clients = [asyncio.create_task(client(run, server.base)) for _ in range(CLIENTS)]
        for kill in range(KILLS):
            deadline = time.monotonic() + 30
            while run.acked_this_cycle < ACKS_BEFORE_KILL:
                assert time.monotonic() < deadline, "the clients got no answers"
                assert not any(c.done() for c in clients), [c.exception() for c in clients if c.done()]
                await asyncio.sleep(0.01)
            await asyncio.sleep(run.rng.uniform(0, 0.2))
            run.up.clear()
            server.kill()
            await settle(url)
            unanswered = [b for b in run.batches if b.sends and b.answer is None]
            in_flight_at_kills += len(unanswered)
            stored_unanswered += await assert_whole_or_absent(url, unanswered)
            if kill == KILLS - 1:  # the last restart: no new batches; every other unanswered one is dropped
                run.stop_new = True
                run.abandon = {b.key for b in unanswered[::2]}
            await server.start()
            run.acked_this_cycle = 0
            run.up.set()
        await asyncio.wait_for(asyncio.gather(*clients), 60)

        assert in_flight_at_kills > 0  # the kills did hit batches in flight
        never = [b for b in run.batches if b.answer is None]
        assert all(b.abandoned and b.key in run.abandon for b in never)
        for b in run.acknowledged:
            assert b.answer is not None
            assert b.answer["accepted"] + b.answer["duplicates"] == len(b.events), (b.key, b.answer)
        stored_whole = await assert_whole_or_absent(url, never)

        # Exactly the acknowledged events, and the unacknowledged batches stored whole, each id once.
        sent = {e["id"]: e for b in run.batches for e in b.events}
        expected = {e["id"] for b in run.acknowledged for e in b.events}
        counts = await stored(url, list(sent))
        whole_never = [b for b in never if b.own[0] in counts]
        assert len(whole_never) == stored_whole
        expected |= {i for b in whole_never for i in b.own}
        assert set(counts) == expected
        assert set(counts.values()) == {1}
        assert await count_events(url) == len(expected)
        # Each event was accepted once: by the first answer that stored it, or by a batch whose
        # answer was lost (then its retry counted it as a duplicate).
        accepted = sum(b.answer["accepted"] for b in run.acknowledged if b.answer is not None)
        assert accepted <= len(expected)

        # The derived tables count each stored event once: every range route is the reference's.
        loaded = ref.Reference(sent[i] for i in sorted(expected))
        viewer = {"Authorization": "Bearer " + token_for(["analytics_viewer"])}
        now = datetime.now(UTC)
        param_sets: list[dict[str, str]] = [
            {"start_date": "2025-01-05", "end_date": "2025-01-14"},
            {
                "start_date": "2025-01-08T10:07:00",
                "end_date": "2025-01-10T18:00:00",
                "timezone": "America/New_York",
                "group_by": "hour",
                "bot_id": BOTS[0],
            },
        ]
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            for params in param_sets:
                bots = frozenset({params["bot_id"]}) if "bot_id" in params else None
                range_params = {k: v for k, v in params.items() if k != "bot_id"}
                for route in RANGE_ROUTES:
                    use = dict(range_params)
                    if route.name == "engagement/retention" and use.get("group_by") == "hour":
                        use["group_by"] = "day"
                    r = await http.get(route.full_path, params={**params, **use}, headers=viewer)
                    assert r.status_code == 200, r.text
                    rr = ref.resolve_range(
                        now,
                        default_group_by="week" if route.name == "engagement/retention" else "day",
                        **use,
                    )
                    expected_answer = ref.ROUTES[route.name](loaded, rr, (bots, None), now)
                    assert_same(r.json(), expected_answer, f"{route.name} {params}")
        usage = ref.usage(loaded, ref.resolve_range(now, **param_sets[0]), (None, None), now)
        assert usage["total_messages"] > 1000 and usage["total_conversations"] > 100
        print(
            f"crash safety: {KILLS} SIGKILLs, {len(run.batches)} batches, {len(expected)} events stored,"
            f" {in_flight_at_kills} batches unanswered at the kills ({stored_unanswered} of them stored"
            f" whole), {len(never)} never answered ({len(whole_never)} stored whole);"
            f" server starts: {', '.join(f'{t:.1f}' for t in server.startup_seconds)} s"
        )
    finally:
        run.stop_new = True
        server.kill()
