"""Graceful shutdown of `python -m server.cli serve` (server/shutdown.py): on SIGTERM an open
subscription is closed with 1001 and an ingestion batch in flight is answered and stored.

Each test runs its own server on a SQLite file, or with `ANALYTICS_TEST_DB=postgres` on a fresh
PostgreSQL database. No timings: the tests wait for what the server says (100 Continue, its log)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.typing import Subprotocol

from bench.common import free_port
from tests.factories import drop_postgres_database, fresh_postgres_database, token_for

POSTGRES = os.environ.get("ANALYTICS_TEST_DB", "sqlite") == "postgres"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    database_url: str

    def wait_for_log(self, text: str) -> None:
        deadline = time.monotonic() + 30
        while text not in self.log.read_text():
            if time.monotonic() > deadline:
                pytest.fail(f"the server never logged {text!r}:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    if POSTGRES:
        url = asyncio.run(fresh_postgres_database())
    else:
        url = f"sqlite://{tmp_path / 'shutdown.sqlite3'}"
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "ANALYTICS_DATABASE_URL": url,
        "ANALYTICS_PORT": str(port),
        "ANALYTICS_LOG_FORMAT": "text",
    }
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(proc, port, log, url)
    try:
        # Logged once the socket is bound (uvicorn logs "Application startup complete" before it binds:
        # a test connecting then was refused now and then on a loaded machine).
        server.wait_for_log("Uvicorn running on")
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if POSTGRES:
            asyncio.run(drop_postgres_database(url))


async def _exited_cleanly(server: Server) -> None:
    """uvicorn re-raises the signal once its shutdown is complete: the exit status is -SIGTERM,
    and the log says the lifespan shutdown (report workers, database) finished."""
    status = await asyncio.to_thread(server.proc.wait, 30)
    log = server.log.read_text()
    assert status in (0, -signal.SIGTERM), log[-3000:]
    assert "Application shutdown complete" in log, log[-3000:]


async def _metric(port: int, name: str) -> float:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        r = await c.get("/metrics", headers={"Authorization": "Bearer " + token_for(["admin"])})
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not in /metrics")


async def test_sigterm_closes_an_open_subscription_with_1001(server: Server) -> None:
    url = f"ws://127.0.0.1:{server.port}/graphql"
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        auth = {"Authorization": "Bearer " + token_for(["analytics_viewer"])}
        await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        query = "subscription { realtime(intervalSeconds: 1) { activeSessions } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "next"
        assert await _metric(server.port, "analytics_graphql_subscriptions") == 1
        assert await _metric(server.port, "analytics_websocket_connections") == 1

        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:  # pushes may still arrive before the close frame
                await asyncio.wait_for(ws.recv(), 15)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    await _exited_cleanly(server)


def _http_exchange(port: int, head: bytes, body: bytes, server: Server) -> bytes:
    """Send the head of a request, wait for `100 Continue` (the application is reading the body),
    SIGTERM the server, wait until it logs that it is shutting down, send the body; the response."""
    with socket.create_connection(("127.0.0.1", port), 30) as sock:
        sock.sendall(head)
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_log("Shutting down")
        sock.sendall(body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _count_sqlite(database_url: str, ids: list[str]) -> int:
    with sqlite3.connect(database_url.removeprefix("sqlite://")) as conn:
        marks = ",".join("?" * len(ids))
        row = conn.execute(f"SELECT COUNT(*) FROM events WHERE id IN ({marks})", ids).fetchone()
    return int(row[0])


async def _count_postgres(database_url: str, ids: list[str]) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return int(await conn.fetchval("SELECT COUNT(*) FROM events WHERE id::text = ANY($1::text[])", ids))
    finally:
        await conn.close()


def _events(n: int) -> Iterator[dict[str, str]]:
    conv, bot, user = (str(uuid.uuid4()) for _ in range(3))
    base = {"conversation_id": conv, "bot_id": bot, "user_id": user, "timestamp": "2026-01-05T10:00:00Z"}
    yield {"id": str(uuid.uuid4()), "type": "conversation_started", **base}
    for _ in range(n - 1):
        yield {"id": str(uuid.uuid4()), "type": "message", "role": "user", **base}


async def test_a_batch_in_flight_at_sigterm_is_acknowledged_and_stored(server: Server) -> None:
    events = list(_events(50))
    body = json.dumps({"events": events}).encode()
    head = (
        f"POST /api/v1/analytics/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token_for(['analytics_ingest'])}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    response = await asyncio.to_thread(_http_exchange, server.port, head, body, server)
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", response[:500]
    assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {"accepted": 50, "duplicates": 0}
    await _exited_cleanly(server)
    ids = [e["id"] for e in events]
    stored = (
        await _count_postgres(server.database_url, ids)
        if POSTGRES
        else _count_sqlite(server.database_url, ids)
    )
    assert stored == 50
