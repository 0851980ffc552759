"""Log lines (server/logs.py): the request id on every line, JSON or text, secrets never written,
long values cut."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.config import get_settings
from server.logs import log_handler, request_id
from tests.factories import token_for

API = "/api/v1/analytics"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    """Every log line of the process, as the configured handler writes it (JSON here)."""
    stream = io.StringIO()
    settings = get_settings().model_copy(update={"log_format": "json", "log_max_value_chars": 200})
    handler = log_handler(settings, stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream, handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_each_request_logs_one_json_line_with_its_request_id(
    client: httpx.AsyncClient, captured: tuple[io.StringIO, logging.Handler]
) -> None:
    stream, _ = captured
    token = token_for(["analytics_viewer"])
    r = await client.get(f"{API}/usage", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    access = [line for line in _lines(stream) if line["logger"] == "bot_analytics.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == r.headers["x-request-id"]
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["route"] == f"{API}/usage" and line["path"] == f"{API}/usage"
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")
    assert token not in stream.getvalue()


async def test_long_values_are_cut(
    client: httpx.AsyncClient, captured: tuple[io.StringIO, logging.Handler]
) -> None:
    stream, _ = captured
    long_id = "x" * 60_000  # httpx refuses URLs over 64 KiB
    path = f"{API}/no-such-route/{long_id}"
    r = await client.get(path, headers={"Authorization": "Bearer " + token_for(["admin"])})
    assert r.status_code == 404
    text = stream.getvalue()
    assert long_id not in text
    line = next(line for line in _lines(stream) if line["logger"] == "bot_analytics.access")
    assert line["route"] is None
    assert line["path"] == path[:200] + f"…[cut {len(path) - 200} chars]"
    assert len(text) < 5_000


def test_secrets_are_redacted_in_messages_extras_and_tracebacks(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, _ = captured
    jwt = token_for(["admin"])
    api_key = "ba_" + "k" * 43
    log = logging.getLogger("bot_analytics.test")
    token = request_id.set("rid-123")
    try:
        log.warning("headers: Authorization: Bearer %s, X-API-Key: %s", jwt, api_key)
        log.warning(
            "scope headers %s",
            [(b"authorization", f"Bearer {jwt}".encode()), (b"x-api-key", api_key.encode())],
        )
        log.warning(
            "connection params", extra={"params": {"Authorization": "Bearer abc.def", "x-api-key": api_key}}
        )
        try:
            raise ValueError(f"bad key {api_key}")
        except ValueError:
            log.exception("failed with token=%s", "opaque-secret-value")
    finally:
        request_id.reset(token)
    log.warning("outside any request")
    text = stream.getvalue()
    for secret in (jwt, jwt.split(".")[1], api_key, "abc.def", "opaque-secret-value"):
        assert secret not in text, secret
    lines = _lines(stream)
    assert [line["request_id"] for line in lines] == ["rid-123"] * 4 + [None]
    assert lines[0]["message"] == "headers: Authorization: [REDACTED], X-API-Key: [REDACTED]"
    assert "[REDACTED]" in lines[2]["params"]
    assert "ValueError: bad key [REDACTED]" in lines[3]["exception"]


def test_text_lines_carry_the_request_id_and_redact_too() -> None:
    stream = io.StringIO()
    handler = log_handler(get_settings().model_copy(update={"log_format": "text"}), stream)
    log = logging.getLogger("bot_analytics.test.text")
    log.addHandler(handler)
    log.propagate = False
    token = request_id.set("rid-9")
    try:
        log.warning("X-API-Key=%s", "ba_" + "q" * 40)
    finally:
        request_id.reset(token)
        log.removeHandler(handler)
        log.propagate = True
    assert stream.getvalue() == "WARNING: bot_analytics.test.text: [rid-9] X-API-Key=[REDACTED]\n"


def test_json_is_the_default_in_production_only() -> None:
    from app.config import Settings

    assert Settings(env="production", jwt_secret="p" * 40).json_logs
    assert not Settings(env="development").json_logs
    assert Settings(env="development", log_format="json").json_logs
    assert not Settings(env="production", jwt_secret="p" * 40, log_format="text").json_logs
