"""REST and GraphQL give the same numbers for every route and parameter set (API.md section 6)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.auth import Principal
from app.demo import DEMO_BOTS, demo_events
from app.ingest import ingest_events
from graphql_schema.schema import schema
from rest_shim.routes import ROUTES
from tests.analytics import reference as ref
from tests.factories import assert_same, bearer
from tests.factories import graphql_selection as _selection
from tests.factories import snake_keys as _snake

ADMIN = bearer(["admin"])
BOT = DEMO_BOTS["support-bot"]
OTHER_BOT = DEMO_BOTS["sales-bot"]
ANALYTICS_ROUTES = [r for r in ROUTES if r.method == "GET" and r.params in ("filter", "intents", "realtime")]
# The demo data: 400 days up to this instant, so every fixed range below has data in it.
DATA_END = datetime(2025, 6, 30, 12, tzinfo=UTC)

PARAM_SETS: list[dict[str, str]] = [
    {"start_date": "2025-06-01", "end_date": "2025-06-29"},
    {"start_date": "2025-06-01", "end_date": "2025-06-29", "compare": "previous_period"},
    {
        "start_date": "2025-03-01",
        "end_date": "2025-03-31",
        "timezone": "Europe/Berlin",
        "compare": "previous_year",
    },
    {
        "start_date": "2025-05-01",
        "end_date": "2025-06-29",
        "group_by": "week",
        "compare": "previous_year",
        "bot_id": BOT,
    },
    {"start_date": "2025-06-20", "end_date": "2025-06-26", "group_by": "hour"},
    {"start_date": "2025-05-01", "end_date": "2025-06-29", "timezone": "Europe/Berlin", "group_by": "week"},
    {"start_date": "2025-02-15", "end_date": "2025-06-29", "group_by": "month"},
    {"start_date": "2025-01-05", "end_date": "2025-02-20", "timezone": "Asia/Kolkata", "group_by": "week"},
    {
        "start_date": "2025-03-01T07:07:00",
        "end_date": "2025-04-02T18:30:00",
        "timezone": "America/New_York",
        "bot_id": BOT,
    },
    {"start_date": "2025-06-01", "end_date": "2025-06-29", "bot_id": BOT},
]


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
        f[gql] = (
            int(value)
            if key == "days"
            else value.upper()
            if key in ("period", "group_by", "compare")
            else value
        )
    return f"query($f: AnalyticsFilter) {{ {field}(filter: $f) {{ {sel} }} }}", {"f": f}


@dataclass
class Loaded:
    reference: ref.Reference
    recent: dict[str | None, int]
    """Active sessions in the realtime window, in all and per bot (hand-counted)."""


def _recent_events() -> list[dict[str, Any]]:
    """Three conversations one to three minutes old (two of BOT for one user, one of OTHER_BOT)."""
    now = datetime.now(UTC)
    user = str(uuid.uuid4())
    out: list[dict[str, Any]] = []
    for minutes, bot in ((3, BOT), (2, BOT), (1, OTHER_BOT)):
        base = {"conversation_id": str(uuid.uuid4()), "bot_id": bot, "user_id": user}
        t = (now - timedelta(minutes=minutes)).isoformat()
        out.append({"id": str(uuid.uuid4()), "type": "conversation_started", "timestamp": t, **base})
        out.append({"id": str(uuid.uuid4()), "type": "message", "role": "user", "timestamp": t, **base})
    return out


@pytest.fixture
async def loaded(db: str) -> Loaded:
    loader = Principal(subject="t", roles=frozenset({"admin"}))
    events = list(demo_events(now=DATA_END, days=400, users=60, per_day=6, seed=3))
    for i in range(0, len(events), 1000):
        await ingest_events(events[i : i + 1000], loader)
    await ingest_events(_recent_events(), loader)
    return Loaded(ref.Reference(events, timedelta(minutes=30)), {None: 3, BOT: 2})


@pytest.mark.parametrize(
    "params", PARAM_SETS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) or "defaults"
)
async def test_rest_and_graphql_agree_on_every_route(
    client: httpx.AsyncClient, loaded: Loaded, params: dict[str, str]
) -> None:
    """Same answer over REST and GraphQL, and that answer is the reference's (non-zero: data in range)."""
    checked = 0
    bots = frozenset({params["bot_id"]}) if "bot_id" in params else None
    range_params = {k: v for k, v in params.items() if k not in ("bot_id", "compare")}
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
            assert theirs["active_sessions"] == loaded.recent[params.get("bot_id")], route.name
        else:
            rr = ref.resolve_range(
                datetime.now(UTC),
                default_group_by="week" if route.name == "engagement/retention" else "day",
                **{k: v for k, v in use.items() if k not in ("bot_id", "compare")},
            )
            expected = ref.ROUTES[route.name](
                loaded.reference, rr, (bots, None), datetime.now(UTC), use.get("compare")
            )
            assert_same(theirs, expected, route.name)
        assert ours == theirs, route.name
        checked += 1
    assert checked == len(ANALYTICS_ROUTES) == 15
    # Not 0 == 0: the range holds data (for the reference, hence for both APIs).
    usage = ref.usage(
        loaded.reference,
        ref.resolve_range(datetime.now(UTC), **range_params),
        (bots, None),
        datetime.now(UTC),
    )
    assert usage["total_conversations"] > 0 and usage["total_messages"] > 0 and usage["active_users"] > 0


async def test_the_dataset_is_not_empty(client: httpx.AsyncClient, loaded: Loaded) -> None:
    usage = (
        await client.get(
            "/api/v1/analytics/usage",
            params={"start_date": "2024-07-01", "end_date": "2025-06-29"},
            headers=ADMIN,
        )
    ).json()
    assert usage["total_conversations"] > 100 and usage["active_users"] > 10
    realtime = (await client.get("/api/v1/analytics/realtime/active", headers=ADMIN)).json()
    assert realtime["active_sessions"] == 3
    assert realtime["by_bot"] == [
        {"bot_id": BOT, "active_sessions": 2},
        {"bot_id": OTHER_BOT, "active_sessions": 1},
    ]


def test_rest_documents_are_generated_from_the_current_schema() -> None:
    from rest_shim.documents import DOCUMENTS_DIR, expected_documents

    for name, text in expected_documents().items():
        assert (DOCUMENTS_DIR / f"{name}.graphql").read_text() == text, (
            f"run: python -m rest_shim.documents ({name})"
        )
