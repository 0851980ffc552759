"""Rate limits per client address and per credential (server/ratelimit.py, README "Security")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from starlette.types import Message, Receive, Scope, Send

from app.config import Settings, get_settings
from server.app import create_app
from server.ratelimit import RateLimitMiddleware
from tests.factories import bearer, token_for

USAGE = "/api/v1/analytics/usage"
VIEWER = bearer(["analytics_viewer"])

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def _settings(**overrides: Any) -> Settings:
    return get_settings().model_copy(update=overrides)


@pytest.fixture
def limited_client(db: str) -> ClientFactory:
    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(_settings(**overrides), manage_database=False)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield c

    return make


def _assert_rate_limited(r: httpx.Response) -> None:
    assert r.status_code == 429
    body = r.json()
    assert body["error"] == "rate_limited"
    assert body["details"] == []
    assert "retry" in body["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert ";r=0;" in r.headers["ratelimit"]
    assert r.headers["x-request-id"]


async def test_an_address_over_its_limit_gets_429_and_another_address_is_counted_apart(
    limited_client: ClientFactory,
) -> None:
    async with limited_client(rate_limit_enabled=True, rate_limit_per_address_per_minute=3) as c:
        remaining = []
        for _ in range(3):
            r = await c.get(USAGE, headers=VIEWER)
            assert r.status_code == 200
            assert '"address-minute";q=3;w=60' in r.headers["ratelimit-policy"]
            remaining.append(r.headers["ratelimit"])
        assert remaining == [
            '"address-minute";r=2;t=60',
            '"address-minute";r=1;t=60',
            '"address-minute";r=0;t=60',
        ]
        _assert_rate_limited(await c.get(USAGE, headers=VIEWER))
        # Unauthenticated and GraphQL requests count against the same address.
        _assert_rate_limited(await c.get(USAGE))
        _assert_rate_limited(await c.post("/graphql", json={"query": "{ __typename }"}, headers=VIEWER))
        # Behind the trusted proxy (the test client's 127.0.0.1), X-Forwarded-For names the client.
        other = await c.get(USAGE, headers={**VIEWER, "X-Forwarded-For": "203.0.113.7"})
        assert other.status_code == 200
        assert other.headers["ratelimit"] == '"address-minute";r=2;t=60'


async def test_a_credential_over_its_limit_gets_429_and_another_credential_is_counted_apart(
    limited_client: ClientFactory,
) -> None:
    async with limited_client(rate_limit_enabled=True, rate_limit_per_credential_per_minute=2) as c:
        first = bearer(["analytics_viewer"])
        for _ in range(2):
            assert (await c.get(USAGE, headers=first)).status_code == 200
        _assert_rate_limited(await c.get(USAGE, headers=first))
        # The same credential from another address is still over its limit.
        _assert_rate_limited(await c.get(USAGE, headers={**first, "X-Forwarded-For": "203.0.113.8"}))
        second = {"Authorization": "Bearer " + token_for(["analytics_viewer"], sub="other")}
        r = await c.get(USAGE, headers=second)
        assert r.status_code == 200
        assert '"credential-minute";q=2;w=60' in r.headers["ratelimit-policy"]


async def test_the_burst_limit_applies_per_second(limited_client: ClientFactory) -> None:
    async with limited_client(rate_limit_enabled=True, rate_limit_burst_per_second=2) as c:
        statuses = [(await c.get(USAGE, headers=VIEWER)).status_code for _ in range(3)]
        # Three requests well within one second on a 2-per-second burst: the third is refused
        # (if the machine were so slow that a second passed, the third would pass: never a false 429).
        assert statuses[:2] == [200, 200]
        assert statuses[2] in (200, 429)
        if statuses[2] == 429:
            r = await c.get(USAGE, headers=VIEWER)
            assert r.headers["retry-after"] == "1"


async def test_health_is_exempt(limited_client: ClientFactory) -> None:
    async with limited_client(rate_limit_enabled=True, rate_limit_per_address_per_minute=1) as c:
        for _ in range(4):
            r = await c.get("/health")
            assert r.status_code == 200
            assert "ratelimit" not in r.headers


async def test_rate_limits_are_off_by_default_outside_production(limited_client: ClientFactory) -> None:
    assert get_settings().env == "test"
    async with limited_client(
        rate_limit_per_address_per_minute=1, rate_limit_per_credential_per_minute=1
    ) as c:
        for _ in range(5):
            r = await c.get(USAGE, headers=VIEWER)
            assert r.status_code == 200
            assert "ratelimit" not in r.headers


def test_rate_limits_are_on_by_default_in_production() -> None:
    prod = Settings(env="production", jwt_secret="p" * 40)
    assert prod.rate_limits_on
    assert not Settings(env="development").rate_limits_on
    assert not Settings(env="production", jwt_secret="p" * 40, rate_limit_enabled=False).rate_limits_on


async def test_websocket_connection_attempts_are_counted() -> None:
    """At the ASGI level (the HTTP clients here speak no WebSocket): the second attempt from one
    address is denied with an HTTP 429 and the contract body; the inner app never sees it."""
    seen: list[str] = []

    async def accept(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"][0])
        await send({"type": "websocket.accept"})

    middleware = RateLimitMiddleware(accept, _settings(rate_limit_per_address_per_minute=1))

    async def attempt(address: str) -> list[Message]:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "websocket.connect"}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "websocket",
            "path": "/graphql",
            "headers": [],
            "client": (address, 50000),
            "extensions": {"websocket.http.response": {}},
        }
        await middleware(scope, receive, send)
        return sent

    assert [m["type"] for m in await attempt("198.51.100.1")] == ["websocket.accept"]
    denied = await attempt("198.51.100.1")
    assert denied[0]["type"] == "websocket.http.response.start"
    assert denied[0]["status"] == 429
    assert dict(denied[0]["headers"])[b"retry-after"]
    assert orjson.loads(denied[1]["body"])["error"] == "rate_limited"
    assert [m["type"] for m in await attempt("198.51.100.2")] == ["websocket.accept"]
    assert seen == ["198.51.100.1", "198.51.100.2"]
