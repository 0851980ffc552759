"""The HTTP clients of `python -m bench load`: one interface over aiohttp (the default) and httpx.

The generator runs 32 clients in one event loop; what it spends per request is time the requests
wait in its loop before they are sent, and CPU taken from the server on a small machine. httpx
cost 2.0 ms of CPU per request here against aiohttp's 0.22 ms, and with it requests reached the
server up to ~400 ms after they were timed (p99; docs/performance.md, "What the tail was"), so
aiohttp is the default and httpx stays selectable (`--client httpx`) for comparison.

An `Answer` carries the time it was received and the server's `x-bench-t` stamps
(bench/load_server.py), so the client-side latency can be split into its parts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import httpx

from bench.load_server import TIMING_HEADER

__all__ = ["CLIENTS", "CLIENT_KEEP_ALIVE", "TRANSPORT_ERRORS", "Answer", "Client", "open_client"]

CLIENT_KEEP_ALIVE = 2.0
"""A kept-alive connection is reused only while it has been idle for less than this, well under
the server's keep-alive (ANALYTICS_HTTP_KEEP_ALIVE_SECONDS, 5 s): a request sent on a connection
idle for just under the server's timeout can meet its close (a ReadError of an earlier run)."""

TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError, asyncio.TimeoutError)
_STAMPS = TIMING_HEADER.decode()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    stamps: str | None  # the server's `x-bench-t`
    received: float  # time.perf_counter() when the whole body was in

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


Query = Mapping[str, str] | None


class Client:
    """What `bench load` asks of an HTTP client; `_send` is each library's."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Query = None,
        content: bytes | None = None,
        headers: Query = None,
    ) -> Answer:
        return await self._send(method, path, params, content, headers)

    async def _send(
        self, method: str, path: str, params: Query, content: bytes | None, headers: Query
    ) -> Answer:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class _Httpx(Client):
    def __init__(self, base_url: str, connections: int | None, timeout: float) -> None:
        limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=CLIENT_KEEP_ALIVE,
        )
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)

    async def _send(
        self, method: str, path: str, params: Query, content: bytes | None, headers: Query
    ) -> Answer:
        r = await self.client.request(method, path, params=params, content=content, headers=headers)
        return Answer(r.status_code, r.content, r.headers.get(_STAMPS), time.perf_counter())

    async def aclose(self) -> None:
        await self.client.aclose()


class _Aiohttp(Client):
    def __init__(self, base_url: str, connections: int | None, timeout: float) -> None:
        self.base_url = base_url
        connector = aiohttp.TCPConnector(limit=connections or 0, keepalive_timeout=CLIENT_KEEP_ALIVE)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), auto_decompress=False
        )

    async def _send(
        self, method: str, path: str, params: Query, content: bytes | None, headers: Query
    ) -> Answer:
        url = self.base_url + path
        async with self.session.request(method, url, params=params, data=content, headers=headers) as r:
            body = await r.read()
        return Answer(r.status, body, r.headers.get(_STAMPS), time.perf_counter())

    async def aclose(self) -> None:
        await self.session.close()


CLIENTS: dict[str, type[_Aiohttp] | type[_Httpx]] = {"aiohttp": _Aiohttp, "httpx": _Httpx}


def open_client(kind: str, base_url: str, connections: int | None = None, timeout: float = 60.0) -> Client:
    """A client of `kind` ("aiohttp" or "httpx"); create it inside the event loop it will run on."""
    return CLIENTS[kind](base_url, connections, timeout)
