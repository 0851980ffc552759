"""Rate limits per client address and per credential (README "Security").

Counting is done by the `limits` package (moving windows in its asyncio in-memory storage), so
limits are per process. Every HTTP request and every WebSocket connection attempt counts, except
`/health`. A request counts against two keys:

- its client address (`scope["client"]`, which `ProxyHeadersMiddleware` has already set from
  `X-Forwarded-For` when the peer is a trusted proxy), always;
- its credential (a hash of the `X-API-Key` or `Authorization` value, never the value itself), when
  one is sent. Counting happens before authentication, so a bad credential costs no database look-up;
  rotating made-up credentials does not escape the address limit.

Each key has a per-minute quota and a per-second burst quota. Over any of them the answer is 429
`rate_limited` with `Retry-After`; every counted answer carries `RateLimit-Policy` and `RateLimit`
(draft-ietf-httpapi-ratelimit-headers-10). A WebSocket attempt over the limit is denied with an HTTP
429 where the server supports the denial-response extension (uvicorn does), else closed with 1008.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import orjson
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import AppError

__all__ = ["EXEMPT_PATHS", "RateLimitMiddleware", "RateLimited"]

EXEMPT_PATHS = frozenset({"/health"})


class RateLimited(AppError):
    """429: too many requests for this address or credential (API.md section 2 style body)."""

    status = 429
    code = "rate_limited"
    graphql_code = "RATE_LIMITED"

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": []}


@dataclass(frozen=True)
class _Policy:
    name: str  # the policy's name in the headers, e.g. "address-minute"
    key: str  # "address" or "credential"
    item: RateLimitItem

    @property
    def window_seconds(self) -> int:
        return int(self.item.get_expiry())


@dataclass(frozen=True)
class _Outcome:
    policy: _Policy
    remaining: int
    reset_seconds: int


class RateLimitMiddleware:
    """ASGI middleware counting requests per address and per credential; see the module docstring."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.policies = (
            _Policy(
                "address-minute",
                "address",
                RateLimitItemPerMinute(settings.rate_limit_per_address_per_minute),
            ),
            _Policy("address-burst", "address", RateLimitItemPerSecond(settings.rate_limit_burst_per_second)),
            _Policy(
                "credential-minute",
                "credential",
                RateLimitItemPerMinute(settings.rate_limit_per_credential_per_minute),
            ),
            _Policy(
                "credential-burst", "credential", RateLimitItemPerSecond(settings.rate_limit_burst_per_second)
            ),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        keys = _keys(scope)
        applicable = [p for p in self.policies if p.key in keys]
        allowed = True
        for policy in applicable:
            if not await self.limiter.test(policy.item, policy.key, keys[policy.key]):
                allowed = False
        if allowed:
            for policy in applicable:
                await self.limiter.hit(policy.item, policy.key, keys[policy.key])
        outcomes = [await self._outcome(p, keys[p.key]) for p in applicable]
        headers = _headers(outcomes)
        if not allowed:
            retry_after = max([o.reset_seconds for o in outcomes if o.remaining == 0] or [1])
            headers.append((b"retry-after", str(retry_after).encode()))
            scope.setdefault("state", {})["rejected_reason"] = "rate_limited"
            await _deny(scope, send, headers, retry_after)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _outcome(self, policy: _Policy, identifier: str) -> _Outcome:
        stats = await self.limiter.get_window_stats(policy.item, policy.key, identifier)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return _Outcome(policy, max(0, stats.remaining), min(reset, policy.window_seconds))


def _keys(scope: Scope) -> dict[str, str]:
    client = scope.get("client")
    keys = {"address": client[0] if client else "unknown"}
    credential = b""
    for name, value in scope.get("headers", []):
        if name in (b"x-api-key", b"authorization"):
            credential += name + b"\0" + value + b"\0"
    if credential:
        keys["credential"] = hashlib.sha256(credential).hexdigest()[:32]
    return keys


def _headers(outcomes: list[_Outcome]) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Policy` lists every policy that applies; `RateLimit` the one closest to its limit."""
    if not outcomes:
        return []
    policy = ", ".join(
        f'"{o.policy.name}";q={o.policy.item.amount};w={o.policy.window_seconds}' for o in outcomes
    )
    tightest = min(outcomes, key=lambda o: (o.remaining / o.policy.item.amount, -o.reset_seconds))
    current = f'"{tightest.policy.name}";r={tightest.remaining};t={tightest.reset_seconds}'
    return [(b"ratelimit-policy", policy.encode()), (b"ratelimit", current.encode())]


async def _deny(scope: Scope, send: Send, headers: list[tuple[bytes, bytes]], retry_after: int) -> None:
    error = RateLimited(f"rate limit exceeded: retry after {retry_after} s")
    body = orjson.dumps(error.body())
    response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 429, "headers": response_headers + headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {"type": "websocket.http.response.start", "status": 429, "headers": response_headers + headers}
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": "rate limited"})
