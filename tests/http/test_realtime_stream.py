"""GET /api/v1/analytics/realtime/stream (Server-Sent Events) read with a plain HTTP client (httpx)
against a real server process: the /realtime answer every interval, the credential checked at each
push, the same errors as /realtime before the stream starts, and a bound per credential."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import iso, token_for
from tests.live_server import LiveServer, live_server

A = "/api/v1/analytics"
STREAM = A + "/realtime/stream"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = Path(tmp_path_factory.mktemp("sse"))
    with live_server(home, extra_env={"ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CREDENTIAL": "2"}) as running:
        yield running


def _url(server: LiveServer, path: str) -> str:
    return f"http://{server.address}{path}"


def _events(response: httpx.Response, limit: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event in the stream, at most `limit`."""
    name, data, seen = "message", "", 0
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data += line.removeprefix("data: ")
        elif line == "" and data:
            yield name, json.loads(data)
            seen += 1
            if seen == limit:
                return
            name, data = "message", ""


def _ingest(server: LiveServer, events: list[dict[str, Any]]) -> None:
    r = httpx.post(
        _url(server, A + "/events"),
        json={"events": events},
        headers={"Authorization": "Bearer " + token_for(["admin"])},
    )
    assert r.status_code == 200, r.text


def _open_conversation(bot: str, at: datetime) -> list[dict[str, Any]]:
    conv, user = str(uuid.uuid4()), str(uuid.uuid4())
    base = {"conversation_id": conv, "bot_id": bot, "user_id": user}
    return [
        {"id": str(uuid.uuid4()), "type": "conversation_started", "timestamp": iso(at), **base},
        {"id": str(uuid.uuid4()), "type": "message", "role": "user", "timestamp": iso(at), **base},
    ]


def test_three_events_carry_the_realtime_answer(server: LiveServer) -> None:
    bot, other = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    # Two open conversations of `bot` a minute ago, one of another bot: the stream for `bot` sees 2.
    _ingest(
        server,
        _open_conversation(bot, now - timedelta(minutes=1))
        + _open_conversation(bot, now - timedelta(minutes=1))
        + _open_conversation(other, now - timedelta(minutes=1)),
    )
    headers = {"Authorization": "Bearer " + token_for(["analytics_viewer"])}
    params = {"interval_seconds": "1", "bot_id": bot, "window_minutes": "10", "timezone": "Europe/Berlin"}
    with httpx.stream("GET", _url(server, STREAM), params=params, headers=headers, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        got = list(_events(r, 3))
    assert [name for name, _data in got] == ["realtime"] * 3
    for _name, data in got:
        assert data["window_minutes"] == 10
        assert data["active_sessions"] == 2
        assert data["active_users"] == 2
        assert data["conversations_started"] == 2
        assert data["messages_per_minute"] == pytest.approx(2 / 10)
        assert data["as_of"].endswith(("+01:00", "+02:00"))  # written in the zone asked for
    stamps = [datetime.fromisoformat(data["as_of"]) for _name, data in got]
    assert stamps[0] < stamps[1] < stamps[2]  # a new answer each interval, not one repeated


@pytest.mark.parametrize("value", ["0", "61", "x", "1.5", "-1", ""])
def test_a_bad_interval_is_a_400_naming_it(server: LiveServer, value: str) -> None:
    r = httpx.get(
        _url(server, STREAM),
        params={"interval_seconds": value},
        headers={"Authorization": "Bearer " + token_for(["analytics_viewer"])},
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_parameter"
    assert r.json()["details"] == [{"field": "interval_seconds"}]


def test_the_realtime_errors_come_before_the_stream(server: LiveServer) -> None:
    viewer = {"Authorization": "Bearer " + token_for(["analytics_viewer"])}
    bad_window = httpx.get(_url(server, STREAM), params={"window_minutes": "61"}, headers=viewer)
    assert (bad_window.status_code, bad_window.json()["details"]) == (400, [{"field": "window_minutes"}])
    assert httpx.get(_url(server, STREAM)).json()["error"] == "missing_token"
    ingest_only = {"Authorization": "Bearer " + token_for(["analytics_ingest"])}
    assert httpx.get(_url(server, STREAM), headers=ingest_only).status_code == 403
    scoped = {"Authorization": "Bearer " + token_for(["analytics_viewer"], [str(uuid.uuid4())])}
    outside = httpx.get(_url(server, STREAM), params={"bot_id": str(uuid.uuid4())}, headers=scoped)
    assert outside.status_code == 403
    assert outside.json()["error"] == "insufficient_permissions"


def test_an_expiring_token_ends_the_stream_with_an_error_event(server: LiveServer) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    headers = {"Authorization": "Bearer " + token_for(["analytics_viewer"], exp=expires)}
    with httpx.stream(
        "GET", _url(server, STREAM), params={"interval_seconds": "1"}, headers=headers, timeout=10
    ) as r:
        assert r.status_code == 200
        got = list(_events(r, 10))  # ends by itself
    names = [name for name, _data in got]
    assert names[0] == "realtime" and names[-1] == "error"
    assert set(names[:-1]) == {"realtime"}
    assert got[-1][1]["error"] == "invalid_token"


def test_a_revoked_key_ends_the_stream_with_an_error_event(server: LiveServer) -> None:
    key = (
        server.cli("apikey", "create", "--name", "sse", "--role", "analytics_viewer").strip().splitlines()[-1]
    )
    key_id = server.cli("apikey", "list").splitlines()[-1].split("\t")[0]
    with httpx.stream(
        "GET", _url(server, STREAM), params={"interval_seconds": "1"}, headers={"X-API-Key": key}, timeout=10
    ) as r:
        assert r.status_code == 200
        events = _events(r, 20)
        assert next(events)[0] == "realtime"
        server.cli("apikey", "revoke", key_id)
        rest = list(events)
    assert rest[-1][0] == "error" and rest[-1][1]["error"] == "invalid_token"


def test_streams_per_credential_are_bounded_and_released(server: LiveServer) -> None:
    headers = {"Authorization": "Bearer " + token_for(["analytics_viewer"], sub="bounded")}
    url, params = _url(server, STREAM), {"interval_seconds": "60"}
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", url, params=params, headers=headers) as first:
            with client.stream("GET", url, params=params, headers=headers) as second:
                assert (first.status_code, second.status_code) == (200, 200)
                third = client.get(url, params=params, headers=headers)
                assert third.status_code == 429
                assert third.json()["error"] == "rate_limited"
        # Both closed by the client: the server lets the credential open streams again.
        deadline = time.monotonic() + 10
        while True:
            with client.stream("GET", url, params=params, headers=headers) as again:
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.2)
        assert again.status_code == 200


def test_the_stream_is_in_openapi(server: LiveServer) -> None:
    spec = httpx.get(_url(server, "/openapi.json")).json()
    operation = spec["paths"][STREAM]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"interval_seconds", "window_minutes", "bot_id", "timezone"} <= names
    assert "text/event-stream" in operation["responses"]["200"]["content"]
