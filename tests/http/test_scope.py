"""Bot scope end to end (API.md sections 1 and 8, "Auth"): a caller scoped to bot A who names no bot sees
only bot A's numbers, on every read route over REST and GraphQL, in realtime pushes and in reports; an
empty `bot_ids` claim sees nothing; a bad credential next to a good one is a 401.

Data: the random data set of tests/dataset.py (three bots whose numbers differ), stored
as of its `NOW` with the request clock frozen there. Every answer is compared with the brute-force
reference filtered to the caller's bots, and that reference with the unscoped one, so an answer that
equals the reference cannot be the unscoped answer too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from app.auth import create_api_key
from app.config import get_settings
from tests.analytics import reference as ref
from tests.factories import bearer, token_for
from tests.http.analytics_calls import (
    BOT_A,
    BOT_B,
    BOT_C,
    NOW,
    READ_ROUTES,
    Filter,
    assert_nothing_seen,
    assert_same,
    expected,
    graphql_answer,
    load_data_set,
    rest_answer,
)
from tests.live_server import live_server

ONLY_A: Filter = (frozenset({BOT_A}), None)
EVERY: Filter = (None, None)
NOTHING: Filter = (frozenset(), None)
ADMIN = bearer(["admin"])
REPORTS = "/api/v1/analytics/reports"
UTC_ZONE = ZoneInfo("UTC")

RANGE_PARAMS: list[dict[str, str]] = [
    {"days": "30"},
    {
        "start_date": "2025-02-16",
        "end_date": "2025-03-12",
        "timezone": "America/New_York",
        "group_by": "week",
    },
    # `compare` (API.md section 9): the comparison, too, covers only the caller's bots.
    {"days": "14", "timezone": "America/New_York", "compare": "previous_period"},
]
REALTIME_PARAMS: list[dict[str, str]] = [
    {"window_minutes": "60"},
    {"window_minutes": "30", "timezone": "Asia/Kolkata"},
]


def params_for(route_params: str) -> list[dict[str, str]]:
    return REALTIME_PARAMS if route_params == "realtime" else RANGE_PARAMS


@dataclass
class World:
    reference: ref.Reference
    key_a: str
    """An API key of role analytics_admin created for bot A."""
    key_none: str
    """An API key of role analytics_viewer created for no bot."""


@pytest.fixture
async def world(db: str, monkeypatch: pytest.MonkeyPatch) -> World:
    reference = await load_data_set(monkeypatch)
    key_a, _ = await create_api_key("bot A", ["analytics_admin"], [BOT_A])
    key_none, _ = await create_api_key("no bot", ["analytics_viewer"], [])
    return World(reference, key_a, key_none)


def scoped_a(world: World, kind: str) -> dict[str, str]:
    if kind == "jwt":
        return bearer(["analytics_admin"], [BOT_A])
    return {"X-API-Key": world.key_a}


@pytest.mark.parametrize("kind", ["jwt", "api_key"])
async def test_a_scoped_caller_naming_no_bot_sees_only_its_bot_everywhere(
    client: httpx.AsyncClient, world: World, kind: str
) -> None:
    headers = scoped_a(world, kind)
    checked = 0
    for route in READ_ROUTES:
        for params in params_for(route.params):
            want = expected(world.reference, route, params, ONLY_A, NOW)
            everyone = expected(world.reference, route, params, EVERY, NOW)
            assert want != everyone, f"{route.name} {params}: the data set cannot tell the scope apart"
            where = f"{kind} {route.name} {params}"
            assert_same(await rest_answer(client, route, params, headers), want, f"REST {where}")
            assert_same(await graphql_answer(client, route, params, headers), want, f"GraphQL {where}")
            # The unscoped caller does see the other bots: the comparison above is not vacuous.
            assert_same(await rest_answer(client, route, params, ADMIN), everyone, f"admin {where}")
            checked += 1
    assert checked == 43


async def test_by_bot_lists_only_the_scoped_bots(client: httpx.AsyncClient, world: World) -> None:
    route = next(r for r in READ_ROUTES if r.name == "realtime/active")
    params = {"window_minutes": "60"}
    two = bearer(["analytics_viewer"], [BOT_A, BOT_C])
    answer = await rest_answer(client, route, params, two)
    assert_same(answer, expected(world.reference, route, params, (frozenset({BOT_A, BOT_C}), None), NOW))
    assert {b["bot_id"] for b in answer["by_bot"]} == {BOT_A, BOT_C}
    everyone = await rest_answer(client, route, params, ADMIN)
    assert {b["bot_id"] for b in everyone["by_bot"]} == {BOT_A, BOT_B, BOT_C}
    mine = await graphql_answer(client, route, params, scoped_a(world, "api_key"))
    assert [b["bot_id"] for b in mine["by_bot"]] == [BOT_A]


@pytest.mark.parametrize("kind", ["jwt", "api_key"])
async def test_an_empty_bot_scope_sees_nothing(client: httpx.AsyncClient, world: World, kind: str) -> None:
    headers = bearer(["analytics_viewer"], []) if kind == "jwt" else {"X-API-Key": world.key_none}
    for route in READ_ROUTES:
        for params in params_for(route.params):
            want = expected(world.reference, route, params, NOTHING, NOW)
            assert_nothing_seen(want)
            assert want != expected(world.reference, route, params, EVERY, NOW)
            where = f"{kind} {route.name} {params}"
            rest = await rest_answer(client, route, params, headers)
            assert_same(rest, want, f"REST {where}")
            assert_nothing_seen(rest, f"REST {where}")
            assert_same(await graphql_answer(client, route, params, headers), want, f"GraphQL {where}")
    # Naming a bot does not widen an empty scope.
    r = await client.get("/api/v1/analytics/usage", params={"bot_id": BOT_A}, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_permissions"


@pytest.mark.parametrize("bad", ["api_key", "bearer"])
async def test_an_invalid_credential_next_to_a_valid_one_is_401(
    client: httpx.AsyncClient, world: World, bad: str
) -> None:
    if bad == "api_key":
        headers = {"X-API-Key": "ba_" + "x" * 43, **ADMIN}
    else:
        headers = {"X-API-Key": world.key_a, **bearer(["admin"], _secret="another-secret-" + "y" * 40)}
    for route in READ_ROUTES:
        r = await client.get(route.full_path, headers=headers)
        assert r.status_code == 401, (route.name, r.text)
        body = r.json()
        assert body["error"] == "invalid_token", body
        assert set(body) <= {"error", "message", "details"}
    r = await client.post("/graphql", json={"query": "{ usage { totalConversations } }"}, headers=headers)
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert r.json().get("data") is None


# --------------------------------------------------------------------------- reports


async def _report(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    r = await client.post(REPORTS, json=body, headers=headers)
    assert r.status_code == 202, r.text
    report: dict[str, Any] = r.json()
    async with asyncio.timeout(60):
        while report["status"] not in ("completed", "failed"):
            await asyncio.sleep(0.05)
            got = await client.get(f"{REPORTS}/{report['id']}", headers=headers)
            assert got.status_code == 200, got.text
            report = got.json()
    assert report["status"] == "completed", report["error"]
    return report


@pytest.fixture
def report_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Report files go to the test's own directory (asked for before `client`, whose runner reads it)."""
    path = tmp_path / "reports"
    monkeypatch.setattr(get_settings(), "reports_dir", path)
    return path


@pytest.mark.parametrize("kind", ["jwt", "api_key"])
async def test_a_report_of_a_scoped_admin_covers_only_its_bot(
    report_files: Path, client: httpx.AsyncClient, world: World, kind: str
) -> None:
    headers = scoped_a(world, kind)
    params = RANGE_PARAMS[1]
    report = await _report(client, {"type": "full", "format": "json", **params}, headers)
    r = await client.get(report["download_url"], headers=headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    by_name = {route.name: route for route in READ_ROUTES}
    assert len(data) == 13
    for name, section in data.items():
        route = by_name[name]
        want = expected(world.reference, route, params, ONLY_A, NOW)
        assert want != expected(world.reference, route, params, EVERY, NOW), name
        assert_same(section, want, f"report {name}")
        assert_same(section, await rest_answer(client, route, params, headers), f"report vs REST {name}")


async def test_report_lists_show_only_the_reports_a_scoped_caller_may_see(
    report_files: Path, client: httpx.AsyncClient, world: World
) -> None:
    jwt_a = scoped_a(world, "jwt")
    key_a = scoped_a(world, "api_key")
    only_b = bearer(["analytics_admin"], [BOT_B])
    body = {"type": "usage", "format": "json", "days": 30}
    made = {
        "jwt_a": await _report(client, body, jwt_a),
        "key_a": await _report(client, body, key_a),
        "b": await _report(client, body, only_b),
        "all": await _report(client, body, ADMIN),
        "a_named": await _report(client, {**body, "bot_id": BOT_A}, ADMIN),
    }
    visible_to_a = {made[k]["id"] for k in ("jwt_a", "key_a", "a_named")}
    for headers in (jwt_a, key_a):
        listed = (await client.get(REPORTS, headers=headers)).json()
        assert {x["id"] for x in listed["data"]} == visible_to_a and listed["total"] == 3
        r = await client.post(
            "/graphql", json={"query": "{ reports { total data { id } } }"}, headers=headers
        )
        gql = r.json()["data"]["reports"]
        assert {x["id"] for x in gql["data"]} == visible_to_a and gql["total"] == 3
        for hidden in ("b", "all"):
            r = await client.get(f"{REPORTS}/{made[hidden]['id']}", headers=headers)
            assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert (await client.get(REPORTS, headers=ADMIN)).json()["total"] == 5
    empty = bearer(["analytics_admin"], [])
    listed = (await client.get(REPORTS, headers=empty)).json()
    assert listed["data"] == [] and listed["total"] == 0


# --------------------------------------------------------------------------- the subscription


@pytest.fixture(scope="module")
def scope_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server process on its own database (tests/live_server.py); yields its address and an API key
    for bot A."""
    with live_server(Path(tmp_path_factory.mktemp("scope-ws"))) as running:
        made = running.cli("apikey", "create", "--name", "a", "--role", "analytics_viewer", "--bot", BOT_A)
        key_a = made.strip().splitlines()[-1]
        yield running.address, key_a


def _live_events() -> list[dict[str, Any]]:
    """Bot A: one session; bot B: two sessions and more messages; all in the last few minutes."""
    now = datetime.now(UTC)
    users = [str(uuid.uuid4()) for _ in range(3)]
    out: list[dict[str, Any]] = []
    for bot, user, minutes, messages in (
        (BOT_A, users[0], 4, 1),
        (BOT_B, users[1], 6, 3),
        (BOT_B, users[2], 3, 2),
    ):
        base = {"conversation_id": str(uuid.uuid4()), "bot_id": bot, "user_id": user}
        t0 = now - timedelta(minutes=minutes)
        out.append(
            {"id": str(uuid.uuid4()), "type": "conversation_started", "timestamp": t0.isoformat(), **base}
        )
        for k in range(messages):
            ts = (t0 + timedelta(seconds=20 * (k + 1))).isoformat()
            out.append({"id": str(uuid.uuid4()), "type": "message", "role": "user", "timestamp": ts, **base})
    return out


async def _pushes(url: str, payload: dict[str, str], count: int = 2) -> list[dict[str, Any]]:
    query = (
        "subscription { realtime(intervalSeconds: 1, windowMinutes: 30) "
        "{ asOf windowMinutes activeSessions activeUsers messagesPerMinute conversationsStarted } }"
    )
    out: list[dict[str, Any]] = []
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        while len(out) < count:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert msg["type"] == "next", msg
            out.append(msg["payload"]["data"]["realtime"])
    return out


async def test_subscription_pushes_only_the_scoped_bots(scope_server: tuple[str, str]) -> None:
    address, key_a = scope_server
    events = _live_events()
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        r = await http.post("/api/v1/analytics/events", json={"events": events}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text
    reference = ref.Reference(events, ref.DEFAULT_TIMEOUT)
    url = f"ws://{address}/graphql"
    callers: list[tuple[str, dict[str, str], Filter]] = [
        ("jwt A", {"Authorization": "Bearer " + token_for(["analytics_viewer"], [BOT_A])}, ONLY_A),
        ("key A", {"X-API-Key": key_a}, ONLY_A),
        ("jwt []", {"Authorization": "Bearer " + token_for(["analytics_viewer"], [])}, NOTHING),
        ("unscoped", {"Authorization": "Bearer " + token_for(["analytics_viewer"])}, EVERY),
    ]
    for name, payload, f in callers:
        for push in await _pushes(url, payload):
            as_of = datetime.fromisoformat(push["asOf"])
            want = ref.realtime(reference, f, as_of, 30, UTC_ZONE, "UTC")
            assert want != ref.realtime(
                reference, EVERY if f != EVERY else ONLY_A, as_of, 30, UTC_ZONE, "UTC"
            )
            got = {
                "as_of": push["asOf"],
                "window_minutes": push["windowMinutes"],
                "active_sessions": push["activeSessions"],
                "active_users": push["activeUsers"],
                "messages_per_minute": push["messagesPerMinute"],
                "conversations_started": push["conversationsStarted"],
            }
            assert_same(got, want, name)
