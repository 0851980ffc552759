"""The realtime subscription over graphql-transport-ws against a real server process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.typing import Subprotocol

from bench.common import free_port
from tests.conftest import token_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    db = Path(tmp_path_factory.mktemp("ws")) / "ws.sqlite3"
    env = {**os.environ, "ANALYTICS_DATABASE_URL": f"sqlite://{db}", "ANALYTICS_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("server did not start")
    yield f"ws://127.0.0.1:{port}/graphql"
    proc.terminate()
    proc.wait(10)


async def _session(
    url: str, payload: dict[str, str] | None, headers: dict[str, str] | None = None
) -> tuple[int | None, dict[str, Any] | None]:
    async with websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], additional_headers=headers
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        try:
            ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None, None
        assert ack["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription { realtime(intervalSeconds: 1) { asOf windowMinutes activeSessions } }"
                    },
                }
            )
        )
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        second = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert second["type"] == "next", second
        return None, msg


async def test_missing_credentials_close_4401(server: str) -> None:
    code, _ = await _session(server, None)
    assert code == 4401


async def test_bad_token_closes_4401(server: str) -> None:
    code, _ = await _session(server, {"Authorization": "Bearer " + token_for(["admin"], iss="elsewhere")})
    assert code == 4401


async def test_missing_role_closes_4403(server: str) -> None:
    code, _ = await _session(server, {"Authorization": "Bearer " + token_for(["analytics_ingest"])})
    assert code == 4403


async def test_viewer_receives_realtime_pushes(server: str) -> None:
    code, msg = await _session(server, {"Authorization": "Bearer " + token_for(["analytics_viewer"])})
    assert code is None and msg is not None
    assert msg["type"] == "next"
    assert msg["payload"]["data"]["realtime"]["windowMinutes"] == 5
    assert msg["payload"]["data"]["realtime"]["activeSessions"] == 0


async def test_upgrade_header_credentials_are_accepted(server: str) -> None:
    headers = {"Authorization": "Bearer " + token_for(["analytics_viewer"])}
    code, msg = await _session(server, None, headers)
    assert code is None and msg is not None and msg["type"] == "next"
