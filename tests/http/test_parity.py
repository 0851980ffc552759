"""REST and GraphQL give the same numbers for every route and parameter set (API.md section 6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType, get_named_type

from app.auth import Principal
from app.demo import DEMO_BOTS, demo_events
from app.ingest import ingest_events
from graphql_schema.schema import schema
from rest_shim.routes import ROUTES
from tests.conftest import bearer

ADMIN = bearer(["admin"])
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
BOT = DEMO_BOTS["support-bot"]
ANALYTICS_ROUTES = [r for r in ROUTES if r.method == "GET" and r.params in ("filter", "realtime")]

PARAM_SETS: list[dict[str, str]] = [
    {},
    {"days": "7", "group_by": "hour"},
    {"period": "month", "group_by": "week"},
    {"period": "year", "group_by": "month"},
    {"start_date": "2026-01-05", "end_date": "2026-02-20", "timezone": "Asia/Kolkata", "group_by": "week"},
    {"start_date": "2026-01-10T07:07:00", "timezone": "America/New_York", "bot_id": BOT},
    {"days": "30", "bot_id": BOT},
]


def _selection(type_: Any) -> str:
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType):
        return ""
    parts = []
    for name, f in named.fields.items():
        sub = _selection(f.type)
        parts.append(name + (" { " + sub + " }" if sub else ""))
    return " ".join(parts)


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {_CAMEL.sub("_", k).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _graphql_for(field: str, params: dict[str, str], realtime: bool) -> tuple[str, dict[str, Any]]:
    query_type = schema._schema.query_type
    assert query_type is not None
    sel = _selection(query_type.fields[field].type)
    if realtime:
        args = {"botId": params.get("bot_id"), "windowMinutes": 15}
        return (
            f"query($botId: String, $windowMinutes: Int) {{ {field}(botId: $botId, windowMinutes: $windowMinutes) {{ {sel} }} }}",
            args,
        )
    f: dict[str, Any] = {}
    for key, value in params.items():
        gql = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        f[gql] = int(value) if key == "days" else value.upper() if key in ("period", "group_by") else value
    return f"query($f: AnalyticsFilter) {{ {field}(filter: $f) {{ {sel} }} }}", {"f": f}


@pytest.fixture
async def loaded(db: str) -> None:
    now = datetime.now(UTC) - timedelta(days=1)
    loader = Principal(subject="t", roles=frozenset({"admin"}))
    batch: list[dict[str, Any]] = []
    for ev in demo_events(now=now, days=400, users=60, per_day=6, seed=3):
        batch.append(ev)
        if len(batch) == 1000:
            await ingest_events(batch, loader)
            batch = []
    if batch:
        await ingest_events(batch, loader)


@pytest.mark.parametrize(
    "params", PARAM_SETS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) or "defaults"
)
async def test_rest_and_graphql_agree_on_every_route(
    client: httpx.AsyncClient, loaded: None, params: dict[str, str]
) -> None:
    checked = 0
    for route in ANALYTICS_ROUTES:
        realtime = route.params == "realtime"
        use = dict(params)
        if route.name == "engagement/retention" and use.get("group_by") == "hour":
            use["group_by"] = "day"  # hour is a 400 there (tested elsewhere)
        rest_params = (
            {"bot_id": use["bot_id"], "window_minutes": "15"}
            if realtime and "bot_id" in use
            else ({"window_minutes": "15"} if realtime else use)
        )
        rest = await client.get(route.full_path, params=rest_params, headers=ADMIN)
        assert rest.status_code == 200, (route.name, rest.text)
        doc, variables = _graphql_for(route.field, use, realtime)
        gql = await client.post("/graphql", json={"query": doc, "variables": variables}, headers=ADMIN)
        body = gql.json()
        assert "errors" not in body, body
        ours = _snake(body["data"][route.field])
        if "group_by" in ours:
            ours["group_by"] = ours["group_by"].lower()
        theirs = rest.json()
        if realtime:  # `as_of` is each request's own clock
            ours.pop("as_of")
            theirs.pop("as_of")
        assert ours == theirs, route.name
        checked += 1
    assert checked == len(ANALYTICS_ROUTES) == 12


async def test_the_dataset_is_not_empty(client: httpx.AsyncClient, loaded: None) -> None:
    usage = (await client.get("/api/v1/analytics/usage", params={"days": "365"}, headers=ADMIN)).json()
    assert usage["total_conversations"] > 100 and usage["active_users"] > 10


def test_rest_documents_are_generated_from_the_current_schema() -> None:
    from rest_shim.documents import DOCUMENTS_DIR, expected_documents

    for name, text in expected_documents().items():
        assert (DOCUMENTS_DIR / f"{name}.graphql").read_text() == text, (
            f"run: python -m rest_shim.documents ({name})"
        )
