"""Bounded request heads for `serve`: uvicorn's httptools protocol with a size limit, a count limit and
a deadline on the request line and headers (uvicorn offers none of the three for httptools).

- More than `max_headers` header lines, or a head (request line and headers) over `max_head_bytes`:
  431 and the connection is closed. The size is counted while the head arrives, so a 10 MB header is
  refused after its first `max_head_bytes`, not read whole.
- A head not complete `head_timeout` seconds after the connection opened (or after its first byte on
  a kept-alive connection): the connection is closed (slowloris). Idle kept-alive connections close
  after uvicorn's `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeadLimits", "bounded_protocol"]


class HeadLimits:
    """The limits one server applies (from Settings)."""

    def __init__(self, max_head_bytes: int, max_headers: int, head_timeout: float) -> None:
        self.max_head_bytes = max_head_bytes
        self.max_headers = max_headers
        self.head_timeout = head_timeout


class _HeadTooLarge(Exception):
    pass


def _response_431(reason: str) -> bytes:
    body = reason.encode("ascii")
    return b"".join(
        [
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    limits: HeadLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._pending = 0
        self._head_timer: asyncio.TimerHandle | None = None

    # -- the deadline

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    # -- the size and the count

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            raise _HeadTooLarge(f"more than {self.limits.max_headers} header lines")
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_head_bytes:
            raise _HeadTooLarge(f"request head larger than {self.limits.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._pending = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0
        self._pending = 0

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            # The parser buffers an incomplete header line itself: count the bytes it may hold.
            self._pending += len(data)
        try:
            self._feed_guarded(data)
        except _HeadTooLarge as exc:
            self._refuse(str(exc))
            return
        if self._in_head and self._pending > self.limits.max_head_bytes and not self.transport.is_closing():
            self._refuse(f"request head larger than {self.limits.max_head_bytes} bytes")

    def _feed_guarded(self, data: bytes) -> None:
        """The base class's feed, with a limit raised in a parser callback re-raised as itself."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                raise exc.__context__ from None
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)

    def _refuse(self, reason: str) -> None:
        self.logger.warning("refused a request: %s", reason)
        self.transport.write(_response_431(reason))
        self.transport.close()


def bounded_protocol(limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
    """A protocol class for `uvicorn.run(http=...)` applying `limits`."""
    return type("BoundedHttpTools", (BoundedHttpToolsProtocol,), {"limits": limits})
