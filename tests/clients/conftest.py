"""A live server for the third-party client suites: `python -m server.cli serve` in a subprocess.

Its database is a SQLite file, or with `ANALYTICS_TEST_DB=postgres` a fresh PostgreSQL database of
its own (as tests/http/test_subscriptions.py does). A small data set of the last days is ingested
through `POST /events` before the clients run, so the answers have numbers in them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common import free_port
from tests.factories import drop_postgres_database, fresh_postgres_database, token_for
from tests.live_server import stop


@dataclass(frozen=True)
class Live:
    base_url: str
    admin: str
    viewer: str

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + (token or self.admin)}


def small_data_set(now: datetime) -> list[dict[str, Any]]:
    """Three bots' conversations over the last 5 days: starts, messages, ends and ratings."""
    bots = [str(uuid.uuid4()) for _ in range(3)]
    events: list[dict[str, Any]] = []
    for i in range(12):
        bot, user, conv = bots[i % 3], str(uuid.uuid4()), str(uuid.uuid4())
        start = now - timedelta(days=i % 5, hours=i, minutes=10)
        base = {"conversation_id": conv, "bot_id": bot, "user_id": user}

        def at(minutes: int, start: datetime = start) -> str:
            return (start + timedelta(minutes=minutes)).isoformat()

        events += [
            {**base, "type": "conversation_started", "timestamp": at(0), "channel": ["web", "teams"][i % 2]},
            {**base, "type": "message", "role": "user", "timestamp": at(1), "intent": "greet"},
            {**base, "type": "message", "role": "bot", "timestamp": at(2), "fallback": i % 4 == 0},
        ]
        if i % 3:
            resolution = ["resolved", "escalated", "abandoned"][i % 3]
            events.append(
                {**base, "type": "conversation_ended", "timestamp": at(5), "resolution": resolution}
            )
            events.append({**base, "type": "satisfaction", "timestamp": at(6), "score": 1 + i % 5})
    return events


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    port = free_port()
    postgres = os.environ.get("ANALYTICS_TEST_DB", "sqlite") == "postgres"
    tmp = Path(tmp_path_factory.mktemp("live"))
    if postgres:
        try:
            url = asyncio.run(fresh_postgres_database())
        except Exception as exc:  # any failure to reach the server fails the run
            pytest.fail(f"ANALYTICS_TEST_DB=postgres but PostgreSQL is unreachable: {exc!r}")
    else:
        url = f"sqlite://{tmp / 'live.sqlite3'}"
    env = {
        **os.environ,
        "ANALYTICS_DATABASE_URL": url,
        "ANALYTICS_PORT": str(port),
        "ANALYTICS_REPORTS_DIR": str(tmp / "reports"),
        "ANALYTICS_LOG_LEVEL": "WARNING",
    }
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start")
        now = datetime.now(UTC)
        posted = httpx.post(
            base + "/api/v1/analytics/events",
            json={"events": small_data_set(now)},
            headers={"Authorization": "Bearer " + token_for(["analytics_ingest"])},
        )
        assert posted.status_code == 200, posted.text
        yield Live(
            base,
            admin=token_for(["admin"], exp=now + timedelta(hours=2)),
            viewer=token_for(["analytics_viewer"], exp=now + timedelta(hours=2)),
        )
    finally:
        stop(proc)
        log.close()
        if postgres:
            asyncio.run(drop_postgres_database(url))


@pytest.fixture(scope="session")
def spec(live: Live) -> dict[str, Any]:
    r = httpx.get(live.base_url + "/openapi.json")
    assert r.status_code == 200
    out: dict[str, Any] = r.json()
    return out
