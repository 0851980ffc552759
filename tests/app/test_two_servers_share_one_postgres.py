"""Two service processes on one PostgreSQL database, each ingesting its share of the same stream at
the same time, answer every route as the reference does (issue 14).

The stream is the shared data set (`tests/dataset.py`: late, out-of-order and resent events) plus
sessions near the data set's `NOW`. Each event goes to one server or to both (a duplicate delivered
twice, concurrently), so the same conversations and users are folded by both processes, batch
against batch. Afterwards every read route of both servers equals `tests/analytics/reference.py`.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.analytics import reference as ref
from tests.dataset import DATASET, NOW
from tests.factories import bearer, conversation
from tests.http.analytics_calls import READ_ROUTES, assert_same, expected, near_now_events
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.skipif(
    os.environ.get("ANALYTICS_TEST_DB") != "postgres",
    reason="several service processes on one database is a PostgreSQL property",
)

ADMIN = bearer(["admin"])
RANGE = {"start_date": "2025-02-08", "end_date": "2025-03-13"}
PARAMS: tuple[dict[str, str], ...] = (
    {**RANGE, "group_by": "day"},
    {**RANGE, "group_by": "week", "timezone": "America/Sao_Paulo"},
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    home = Path(tmp_path_factory.mktemp("two-servers"))
    with live_server(home / "a") as first:
        with live_server(home / "b", first.env["ANALYTICS_DATABASE_URL"]) as second:
            yield first, second


def _busy_users(rng: random.Random) -> list[dict[str, Any]]:
    """Three users with 60 short conversations each over three days (with the data set's bots):
    their activity chains gain slots on both sides of each other's, from both servers at once."""
    users = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(3)]
    events: list[dict[str, Any]] = []
    for user in users:
        for _ in range(60):
            start = NOW - timedelta(days=3) + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
            events += conversation(
                rng.choice(DATASET.bots[:2]), user, start, rng.randint(1, 3), rng.choice(["resolved", None])
            )
    return events


STREAM = [*DATASET.events, *near_now_events(), *_busy_users(random.Random(41))]
"""Every event the two servers get between them (each once, some twice)."""


def _shares(rng: random.Random) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """Every event of the stream (with the data set's resent duplicates), shuffled, for server A, B or
    both (one in five), in batches of 5 to 60 events."""
    stream = [e for batch in DATASET.batches for e in batch] + STREAM[len(DATASET.events) :]
    rng.shuffle(stream)
    mine: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    for e in stream:
        pick = rng.random()
        if pick < 0.2:
            mine[0].append(e)
            mine[1].append(e)
        else:
            mine[pick < 0.6].append(e)
    out: list[list[list[dict[str, Any]]]] = []
    for events in mine:
        batches: list[list[dict[str, Any]]] = []
        while events:
            size = rng.randint(5, 60)
            batches.append(events[:size])
            events = events[size:]
        out.append(batches)
    return out[0], out[1]


async def _send(address: str, batches: list[list[dict[str, Any]]]) -> int:
    """POST the batches over two connections at once; the events accepted."""
    accepted = 0

    async def sender(mine: list[list[dict[str, Any]]]) -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as client:
            for batch in mine:
                r = await client.post("/api/v1/analytics/events", json={"events": batch}, headers=ADMIN)
                assert r.status_code in (200, 201, 202), r.text
                accepted += r.json()["accepted"]

    await asyncio.gather(sender(batches[0::2]), sender(batches[1::2]))
    return accepted


def _without_as_of(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "as_of"}


async def test_two_servers_ingesting_overlapping_streams_answer_as_the_reference(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = servers
    share_a, share_b = _shares(random.Random(14))
    accepted = await asyncio.gather(_send(first.address, share_a), _send(second.address, share_b))
    assert sum(accepted) == len({e["id"] for e in STREAM})  # each event stored once, by one of them

    reference = ref.Reference(STREAM, ref.DEFAULT_TIMEOUT)
    for server in servers:
        async with httpx.AsyncClient(base_url=f"http://{server.address}", timeout=60) as client:
            for route in READ_ROUTES:
                for params in PARAMS if route.params == "filter" else ({"window_minutes": "60"},):
                    r = await client.get(route.full_path, params=params, headers=ADMIN)
                    assert r.status_code == 200, (route.name, r.text)
                    want = expected(reference, route, params, (None, None), datetime.now(UTC))
                    if route.params == "realtime":
                        assert_same(_without_as_of(r.json()), _without_as_of(want), route.name)
                    else:
                        assert_same(r.json(), want, f"{server.address} {route.name} {params}")
