"""Issue 10's reproductions of items 4, 5, 8 and 12 (WebSocket upgrade), replayed against a real
`bot-analytics serve` process with small limits: credentials checked again while a socket is open,
subscription caps, clients that do not read, and bounded request heads (docs/decisions.md).

The server uses a SQLite file, or with `ANALYTICS_TEST_DB=postgres` a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from bench.common import free_port
from tests.factories import drop_postgres_database, fresh_postgres_database, token_for
from tests.live_server import stop

PER_CONNECTION = 3
PER_CREDENTIAL = 5
MAX_HEADERS = 50
MAX_HEAD_BYTES = 8192
SETTINGS = {
    "ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION": str(PER_CONNECTION),
    "ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CREDENTIAL": str(PER_CREDENTIAL),
    "ANALYTICS_WS_PING_SECONDS": "2",
    "ANALYTICS_WS_SEND_TIMEOUT_SECONDS": "2",
    "ANALYTICS_HTTP_MAX_HEADERS": str(MAX_HEADERS),
    "ANALYTICS_HTTP_MAX_HEADER_BYTES": str(MAX_HEAD_BYTES),
    "ANALYTICS_HTTP_HEADER_TIMEOUT_SECONDS": "1",
}
SUBSCRIPTION = "subscription { realtime(intervalSeconds: 1) { windowMinutes } }"


class Server:
    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.env = env
        self.ws = f"ws://127.0.0.1:{port}/graphql"

    def cli(self, *args: str) -> str:
        """Run `bot-analytics ...` against the server's database."""
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    postgres = os.environ.get("ANALYTICS_TEST_DB", "sqlite") == "postgres"
    if postgres:
        try:
            url = asyncio.run(fresh_postgres_database())
        except Exception as exc:  # any failure to reach the server fails the run
            pytest.fail(f"ANALYTICS_TEST_DB=postgres but PostgreSQL is unreachable: {exc!r}")
    else:
        url = f"sqlite://{Path(tmp_path_factory.mktemp('hardening')) / 'h.sqlite3'}"
    env = {**os.environ, **SETTINGS, "ANALYTICS_DATABASE_URL": url, "ANALYTICS_PORT": str(port)}
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
    yield Server(port, env)
    stop(proc)
    if postgres:
        asyncio.run(drop_postgres_database(url))


def _connect(server: Server, headers: Any = None) -> Any:
    return websockets.connect(
        server.ws, subprotocols=[Subprotocol("graphql-transport-ws")], additional_headers=headers
    )


async def _init(ws: ClientConnection, payload: dict[str, str]) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def _subscribe(ws: ClientConnection, op_id: str, query: str = SUBSCRIPTION) -> None:
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))


async def _until_closed(ws: ClientConnection, seconds: float = 30) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes the socket: its close code and the messages received before."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic())))
    except websockets.ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), messages
    raise AssertionError(f"the socket was still open after {seconds} s: {messages[-3:]}")


async def _next_for(ws: ClientConnection, op_id: str) -> dict[str, Any]:
    """The next message for operation `op_id` (others are skipped)."""
    while True:
        msg = dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        if msg.get("id") == op_id:
            return msg


# --------------------------------------------------------------------------- item 4: credentials


async def test_a_jwt_that_expires_on_an_open_socket_closes_it_with_4401(server: Server) -> None:
    exp = int(time.time()) + 3
    async with _connect(server) as ws:
        ack = await _init(ws, {"Authorization": "Bearer " + token_for(["analytics_viewer"], exp=exp)})
        assert ack["type"] == "connection_ack"
        await _subscribe(ws, "1")
        code, messages = await _until_closed(ws)
    assert code == 4401
    assert messages and all(m["type"] == "next" for m in messages)
    # Nothing was pushed once the token had expired (the pushes are one a second: a handful at most).
    assert len(messages) <= 4, messages


async def test_a_new_operation_after_the_jwt_expired_closes_the_socket_with_4401(server: Server) -> None:
    exp = int(time.time()) + 2
    async with _connect(server) as ws:
        ack = await _init(ws, {"Authorization": "Bearer " + token_for(["analytics_viewer"], exp=exp)})
        assert ack["type"] == "connection_ack"
        await asyncio.sleep(max(0.0, exp + 0.5 - time.time()))
        await _subscribe(ws, "late", "{ realtime { windowMinutes } }")
        code, messages = await _until_closed(ws)
    assert code == 4401
    assert messages == []


async def test_a_revoked_api_key_on_an_open_socket_closes_it_with_4401(server: Server) -> None:
    out = server.cli("apikey", "create", "--name", "dashboard", "--role", "analytics_viewer")
    key_id = re.search(r"created key ([0-9]+)", out)
    assert key_id is not None, out
    plain = out.strip().splitlines()[-1]
    async with _connect(server) as ws:
        assert (await _init(ws, {"X-API-Key": plain}))["type"] == "connection_ack"
        await _subscribe(ws, "1")
        assert (await _next_for(ws, "1"))["type"] == "next"
        # In a thread: the client must keep answering the server's pings meanwhile.
        await asyncio.to_thread(server.cli, "apikey", "revoke", key_id.group(1))
        code, _ = await _until_closed(ws)
    assert code == 4401
    # The key no longer opens a socket either.
    async with _connect(server) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _init(ws, {"X-API-Key": plain})
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


# --------------------------------------------------------------------------- item 5: subscription caps


async def test_subscriptions_per_connection_are_capped(server: Server) -> None:
    auth = {"Authorization": "Bearer " + token_for(["analytics_viewer"], sub="per-connection")}
    async with _connect(server) as ws:
        assert (await _init(ws, auth))["type"] == "connection_ack"
        for i in range(1, PER_CONNECTION + 1):
            await _subscribe(ws, str(i))
            assert (await _next_for(ws, str(i)))["type"] == "next"
        await _subscribe(ws, "extra")
        refused = await _next_for(ws, "extra")
        assert refused["type"] == "error"
        assert refused["payload"][0]["message"] == f"at most {PER_CONNECTION} operations per connection"
        assert refused["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        # The socket stays open and keeps pushing; a completed subscription frees its place.
        assert (await _next_for(ws, "1"))["type"] == "next"
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await _subscribe(ws, "again")
        assert (await _next_for(ws, "again"))["type"] == "next"


async def test_subscriptions_per_credential_are_capped_across_connections(server: Server) -> None:
    token = token_for(["analytics_viewer"], sub="per-credential")
    auth = {"Authorization": "Bearer " + token}
    async with _connect(server) as first, _connect(server) as second:
        for ws in (first, second):
            assert (await _init(ws, auth))["type"] == "connection_ack"
        for i in range(PER_CONNECTION):
            await _subscribe(first, f"a{i}")
            assert (await _next_for(first, f"a{i}"))["type"] == "next"
        for i in range(PER_CREDENTIAL - PER_CONNECTION):
            await _subscribe(second, f"b{i}")
            assert (await _next_for(second, f"b{i}"))["type"] == "next"
        await _subscribe(second, "over")
        refused = await _next_for(second, "over")
        assert refused["type"] == "error"
        assert refused["payload"][0]["message"] == f"at most {PER_CREDENTIAL} subscriptions per credential"
        # Another credential is not affected.
        async with _connect(server) as other:
            other_auth = {"Authorization": "Bearer " + token_for(["analytics_viewer"], sub="someone-else")}
            assert (await _init(other, other_auth))["type"] == "connection_ack"
            await _subscribe(other, "x")
            assert (await _next_for(other, "x"))["type"] == "next"
        await first.close()
        # The closed connection's subscriptions are released (once the server has seen the close).
        for attempt in range(20):
            await _subscribe(second, f"retry{attempt}")
            if (await _next_for(second, f"retry{attempt}"))["type"] == "next":
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("the subscriptions of a closed connection were not released")


async def test_a_client_that_does_not_read_is_closed(server: Server) -> None:
    """The client stops reading after one queued message (and answers no ping): the server closes the
    socket (keepalive timeout, 1011, or the send timeout, 1008) instead of holding it for ever."""
    auth = {"Authorization": "Bearer " + token_for(["analytics_viewer"], sub="slow")}
    async with websockets.connect(
        server.ws,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        max_queue=1,
        ping_interval=None,
    ) as ws:
        assert (await _init(ws, auth))["type"] == "connection_ack"
        for i in range(PER_CONNECTION):
            await _subscribe(ws, str(i))
        await asyncio.sleep(8)  # not reading: pushes and pings pile up
        code, _ = await _until_closed(ws)
    assert code in (1011, 1008), code


# --------------------------------------------------------------------------- item 12: the upgrade


async def test_two_authorization_headers_on_the_upgrade_close_4401(server: Server) -> None:
    headers = [
        ("Authorization", "Bearer " + token_for(["analytics_viewer"])),
        ("Authorization", "Bearer " + token_for(["admin"])),
    ]
    async with _connect(server, headers) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _init(ws, {})
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # Each alone is accepted.
    async with _connect(server, headers[:1]) as ws:
        assert (await _init(ws, {}))["type"] == "connection_ack"


# --------------------------------------------------------------------------- item 8: request heads


def _exchange(server: Server, head: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, then read until the server closes or `timeout` passes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout) as s:
        try:
            s.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass  # a timeout is not caught: the server did not close
        return b"".join(chunks)


def _request(headers: list[tuple[str, str]]) -> bytes:
    lines = [b"GET /health HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [f"{k}: {v}".encode() for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_a_request_within_the_header_limits_is_answered(server: Server) -> None:
    headers = [(f"X-H{i}", "v" * 100) for i in range(MAX_HEADERS - 3)]
    answer = _exchange(server, _request(headers))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_too_many_header_lines_are_431(server: Server) -> None:
    answer = _exchange(server, _request([(f"X-H{i}", "v") for i in range(MAX_HEADERS + 1)]))
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_header_larger_than_the_limit_is_431(server: Server) -> None:
    answer = _exchange(server, _request([("X-Big", "v" * (MAX_HEAD_BYTES + 1))]))
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_10_mb_header_is_refused_before_it_is_read(server: Server) -> None:
    """The head never ends: the server answers 431 after the limit and closes, without the rest."""
    with socket.create_connection(("127.0.0.1", server.port), 10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 10 * 1024 * 1024:
                s.sendall(b"v" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = s.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert sent < 10 * 1024 * 1024, "the server read a 10 MB header"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_head_that_never_ends_is_closed(server: Server) -> None:
    """Slowloris: a request line, then nothing. The server closes the connection after its header
    timeout (1 s here); the socket's own timeout (10 s) only stops a broken test."""
    answer = _exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n")
    assert answer == b""
    with socket.create_connection(("127.0.0.1", server.port), 10) as s:
        assert s.recv(1) == b""  # a connection that sends nothing at all is closed too
