"""Helpers for the end-to-end scope, filter and boundary tests (test_scope, test_user_filter,
test_boundaries): a frozen request clock, every analytics read route over REST and over GraphQL, and
the brute-force reference's answer for the same question.

A REST or GraphQL answer is compared with `tests/analytics/reference.py`, never with another answer of
the service, so a scope or filter bug that reaches both APIs still fails.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.analytics.catalog import METRICS
from app.analytics.zones import parse_timezone
from app.auth import Principal
from app.ingest import ingest_events
from graphql_schema.schema import schema
from rest_shim.routes import ROUTES, Route
from tests.analytics import reference as ref
from tests.dataset import DATASET, NOW
from tests.factories import graphql_selection as _selection
from tests.factories import snake_keys as _snake

__all__ = [
    "BOT_A",
    "BOT_B",
    "BOT_C",
    "EVENTS",
    "NOW",
    "READ_ROUTES",
    "Filter",
    "assert_nothing_seen",
    "assert_same",
    "expected",
    "freeze_clock",
    "graphql_answer",
    "integral_tokens",
    "load_data_set",
    "rest_answer",
]

READ_ROUTES: tuple[Route, ...] = tuple(
    r for r in ROUTES if r.method == "GET" and r.params in ("filter", "intents", "realtime")
)
"""The fifteen analytics read routes of API.md sections 6 and 9 (thirteen range routes, two realtime ones)."""
assert len(READ_ROUTES) == 15

Filter = tuple[frozenset[str] | None, str | None]
BOT_A, BOT_B, BOT_C = DATASET.bots
_RANGE_KEYS = ("start_date", "end_date", "days", "period", "group_by", "timezone")


# --------------------------------------------------------------------------- the clock


def freeze_clock(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    """Every request's `now` (the GraphQL context's clock, which REST shares) becomes `now`.

    The tests check the frozen clock took effect: the realtime answers' `as_of` is compared with the
    reference's, which is `now`.
    """
    import graphql_schema.context as context

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)

    monkeypatch.setattr(context, "datetime", Frozen)


# --------------------------------------------------------------------------- the data


def near_now_events() -> list[dict[str, Any]]:
    """Sessions in the last hour for every bot, so that realtime answers tell the bots apart too."""
    out: list[dict[str, Any]] = []
    for n, (bot, minutes) in enumerate(((BOT_A, 1), (BOT_B, 4), (BOT_B, 12), (BOT_B, 25), (BOT_C, 20))):
        base = {
            "conversation_id": str(uuid.UUID(int=0xC0 << 64 | n, version=4)),
            "bot_id": bot,
            "user_id": str(uuid.UUID(int=0xD0 << 64 | n, version=4)),
        }
        t0 = NOW - timedelta(minutes=minutes + 2)
        out.append({"type": "conversation_started", "timestamp": t0.isoformat(), **base})
        for k in range(n + 1):
            ts = (t0 + timedelta(seconds=30 * k)).isoformat()
            out.append({"type": "message", "role": "user", "timestamp": ts, **base})
        out.append(
            {
                "type": "message",
                "role": "bot",
                "timestamp": (NOW - timedelta(minutes=minutes)).isoformat(),
                **base,
            }
        )
    for i, ev in enumerate(out):
        ev["id"] = str(uuid.UUID(int=0xE0 << 64 | i, version=4))
    return out


EVENTS = [*DATASET.events, *near_now_events()]


async def load_data_set(monkeypatch: pytest.MonkeyPatch) -> ref.Reference:
    """Store `EVENTS` as of `NOW`, freeze the request clock there, and return the reference for them."""
    freeze_clock(monkeypatch, NOW)
    loader = Principal(subject="t", roles=frozenset({"admin"}))
    for batch in DATASET.batches:
        await ingest_events(batch, loader, now=NOW)
    await ingest_events(near_now_events(), loader, now=NOW)
    return ref.Reference(EVENTS, ref.DEFAULT_TIMEOUT)


# --------------------------------------------------------------------------- calls


async def rest_answer(
    client: httpx.AsyncClient, route: Route, params: dict[str, str], headers: dict[str, str]
) -> dict[str, Any]:
    """The REST answer (status 200 asserted)."""
    r = await client.get(route.full_path, params=params, headers=headers)
    assert r.status_code == 200, (route.name, params, r.text)
    body: dict[str, Any] = r.json()
    return body


def integral_tokens(value: Any) -> Any:
    """GraphQL carries token sums as `Float` (API.md section 9), REST as integers: the GraphQL answer
    with each `tokens` float (a whole number) as the integer REST writes."""
    if isinstance(value, list):
        return [integral_tokens(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "tokens" and isinstance(v, float):
                assert v.is_integer(), v
                out[k] = int(v)
            else:
                out[k] = v if k == "change" else integral_tokens(v)
        return out
    return value


def _camel(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def graphql_document(route: Route, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A dashboard's query for `route`'s field, every leaf selected, with the REST parameters as variables."""
    query_type = schema._schema.query_type
    assert query_type is not None
    sel = _selection(query_type.fields[route.field].type)
    if route.params == "realtime":
        variables: dict[str, Any] = {
            _camel(k): int(v) if k == "window_minutes" else v for k, v in params.items()
        }
        decl = ", ".join(f"${_camel(k)}: {'Int' if k == 'window_minutes' else 'String'}" for k in params)
        args = ", ".join(f"{_camel(k)}: ${_camel(k)}" for k in params)
        head = f"query({decl}) {{ {route.field}({args})" if params else f"{{ {route.field}"
        return f"{head} {{ {sel} }} }}", variables
    f: dict[str, Any] = {}
    for key, value in params.items():
        f[_camel(key)] = (
            int(value)
            if key == "days"
            else value.upper()
            if key in ("period", "group_by", "compare")
            else value
        )
    return f"query($f: AnalyticsFilter) {{ {route.field}(filter: $f) {{ {sel} }} }}", {"f": f}


async def graphql_answer(
    client: httpx.AsyncClient, route: Route, params: dict[str, str], headers: dict[str, str]
) -> dict[str, Any]:
    """The GraphQL answer with REST's keys (snake_case, `group_by` lowercase); no errors asserted."""
    doc, variables = graphql_document(route, params)
    r = await client.post("/graphql", json={"query": doc, "variables": variables}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errors" not in body, (route.name, params, body)
    answer: dict[str, Any] = integral_tokens(_snake(body["data"][route.field]))
    if isinstance(answer.get("group_by"), str):
        answer["group_by"] = answer["group_by"].lower()
    return answer


# --------------------------------------------------------------------------- the reference


def expected(
    reference: ref.Reference, route: Route, params: dict[str, str], f: Filter, now: datetime
) -> dict[str, Any]:
    """The reference's answer to `route` with REST parameters `params`, for bots and user `f`."""
    if route.params == "realtime":
        tz, tz_name = parse_timezone(params.get("timezone"))
        window = int(params.get("window_minutes", "5"))
        fn = ref.realtime if route.name == "realtime" else ref.active_sessions
        return fn(reference, f, now, window, tz, tz_name)
    # The reference resolves the range itself; only the route's defaults come from its options.
    options = next(m for m in METRICS if m.name == route.name).range_options
    r = ref.resolve_range(
        now,
        **{k: params[k] for k in _RANGE_KEYS if k in params},
        default=options.default,
        default_group_by=options.default_group_by,
    )
    return ref.ROUTES[route.name](reference, r, f, now, params.get("compare") or None)


def assert_same(actual: Any, want: Any, path: str = "$") -> None:
    """Equal JSON (key order aside), floats to 1e-9 relative; an int stays an int, a float a float."""
    if isinstance(want, dict):
        assert isinstance(actual, dict), path
        assert sorted(actual) == sorted(want), f"{path}: keys {sorted(actual)} != {sorted(want)}"
        for key in want:
            assert_same(actual[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(actual, list), path
        assert len(actual) == len(want), f"{path}: {len(actual)} items != {len(want)}: {actual} vs {want}"
        for i, (a, e) in enumerate(zip(actual, want, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(want, float):
        assert type(actual) is float, f"{path}: {actual!r} is not a float"
        assert actual == pytest.approx(want, rel=1e-9, abs=1e-9), f"{path}: {actual} != {want}"
    else:
        assert type(actual) is type(want), f"{path}: {actual!r} ({type(actual)}) vs {want!r}"
        assert actual == want, f"{path}: {actual!r} != {want!r}"


# Keys that describe the question or a bucket, not something counted.
_NOT_COUNTS = {"window_minutes", "period", "score", "min_seconds", "max_seconds"}


def assert_nothing_seen(answer: Any, path: str = "$") -> None:
    """Every count is 0, every average null or 0, every per-bot or per-channel list empty."""
    if isinstance(answer, dict):
        for key, value in answer.items():
            if key in _NOT_COUNTS or key == "range":
                continue
            if key in ("by_bot", "by_channel"):
                assert value == [], f"{path}.{key}: {value}"
            assert_nothing_seen(value, f"{path}.{key}")
    elif isinstance(answer, list):
        for i, value in enumerate(answer):
            assert_nothing_seen(value, f"{path}[{i}]")
    elif isinstance(answer, int | float) and not isinstance(answer, bool):
        assert answer == 0, f"{path}: {answer}"
