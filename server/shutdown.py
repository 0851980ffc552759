"""Serving with a graceful shutdown: in-flight requests finish, WebSockets close with 1001.

On SIGTERM or SIGINT uvicorn stops accepting connections, lets every HTTP request in flight finish
(an ingestion batch being received or written is answered and stored) for up to
`ANALYTICS_SHUTDOWN_TIMEOUT_SECONDS`, then runs the lifespan shutdown (report workers, database).
Its own WebSocket shutdown closes with 1012 (service restart); before that, `GracefulServer`
closes every open WebSocket with 1001 (going away), which tells a client to reconnect elsewhere.
`OpenWebSockets` is the ASGI middleware that knows the open sockets.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.logs import configure_logging

__all__ = ["GOING_AWAY", "GracefulServer", "OpenWebSockets", "TrackWebSockets", "serve"]

GOING_AWAY = 1001
_CLOSE_WAIT_SECONDS = 5.0


class OpenWebSockets:
    """The accepted WebSockets of this process (registered by `TrackWebSockets`), and its open event
    streams (server/stream.py): shutdown calls each one's closer."""

    def __init__(self) -> None:
        self.closers: dict[int, Callable[[], Awaitable[None]]] = {}

    def __len__(self) -> int:
        return len(self.closers)

    async def close_all(self) -> None:
        """Close every open WebSocket with 1001 (waits at most a few seconds for slow peers)."""
        closers = list(self.closers.values())
        if closers:
            await asyncio.wait(
                [asyncio.ensure_future(close()) for close in closers], timeout=_CLOSE_WAIT_SECONDS
            )


class TrackWebSockets:
    """ASGI middleware: registers each accepted WebSocket in `sockets`, so shutdown can close it."""

    def __init__(self, app: ASGIApp, sockets: OpenWebSockets) -> None:
        self.app = app
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        closed = False
        key = id(scope)

        async def guarded_send(message: Message) -> None:
            nonlocal closed
            if closed:
                return  # closed for shutdown: the application's late messages go nowhere
            if message["type"] == "websocket.close":
                closed = True
            await send(message)
            if message["type"] == "websocket.accept":
                self.sockets.closers[key] = close_going_away

        async def close_going_away() -> None:
            nonlocal closed
            if not closed:
                closed = True
                await send({"type": "websocket.close", "code": GOING_AWAY, "reason": "server shutting down"})

        try:
            await self.app(scope, receive, guarded_send)
        finally:
            self.sockets.closers.pop(key, None)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, closing the application's WebSockets with 1001 before its own shutdown."""

    def __init__(self, config: uvicorn.Config, sockets: OpenWebSockets) -> None:
        super().__init__(config)
        self.open_websockets = sockets

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the open ones are closed
        await self.open_websockets.close_all()
        await super().shutdown(sockets)


def serve(app: FastAPI, **kwargs: Any) -> None:
    """Like `uvicorn.run(app, **kwargs)`: logs configured by server/logs.py (uvicorn's access log is
    replaced by the middleware's), proxy headers applied by the app, the graceful shutdown above."""
    settings = app.state.settings
    configure_logging(settings)
    kwargs.setdefault("timeout_graceful_shutdown", settings.shutdown_timeout_seconds)
    config = uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False, **kwargs)
    server = GracefulServer(config, app.state.open_websockets)
    server.run()
    if not server.started:
        sys.exit(3)
