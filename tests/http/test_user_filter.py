"""`user_id` end to end (API.md section 3): every route that takes it answers for that end user only,
over REST and GraphQL, alone and inside a bot scope; with the query cache on, callers who differ in
scope or user get their own answers (the cache key holds both).

Data and clock as in test_scope.py; expected answers come from the brute-force reference.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from app.analytics import cache
from app.config import get_settings
from tests.analytics import reference as ref
from tests.factories import bearer
from tests.http.analytics_calls import (
    BOT_A,
    EVENTS,
    NOW,
    READ_ROUTES,
    Filter,
    assert_same,
    expected,
    graphql_answer,
    load_data_set,
    rest_answer,
)

ADMIN = bearer(["admin"])
USER_ROUTES = [r for r in READ_ROUTES if r.params in ("filter", "intents")]
"""The routes that take `user_id`: the ten range routes (realtime takes only `bot_id`)."""
assert len(USER_ROUTES) == 13
# The two end users with the most events: both talk to several bots.
_BUSIEST = [str(u) for u, _ in Counter(e.get("user_id") for e in EVENTS if e.get("user_id")).most_common(2)]
USER, OTHER_USER = _BUSIEST
PARAMS: list[dict[str, str]] = [
    {"days": "30"},
    {"start_date": "2025-02-03", "end_date": "2025-03-12", "timezone": "Asia/Kolkata", "group_by": "week"},
]


@pytest.fixture
async def reference(db: str, monkeypatch: pytest.MonkeyPatch) -> ref.Reference:
    return await load_data_set(monkeypatch)


async def test_user_id_filters_every_route_over_rest_and_graphql(
    client: httpx.AsyncClient, reference: ref.Reference
) -> None:
    scoped = bearer(["analytics_viewer"], [BOT_A])
    cases: list[tuple[str, dict[str, str], Filter]] = [
        ("admin", ADMIN, (None, USER)),
        ("admin", ADMIN, (None, OTHER_USER)),
        ("scoped to bot A", scoped, (frozenset({BOT_A}), USER)),
    ]
    for route in USER_ROUTES:
        for base in PARAMS:
            unfiltered = expected(reference, route, base, (None, None), NOW)
            for who, headers, f in cases:
                params = {**base, "user_id": str(f[1])}
                want = expected(reference, route, params, f, NOW)
                assert want != unfiltered, f"{route.name} {params}: the data set cannot tell the filter apart"
                where = f"{who} {route.name} {params}"
                assert_same(await rest_answer(client, route, params, headers), want, f"REST {where}")
                assert_same(await graphql_answer(client, route, params, headers), want, f"GraphQL {where}")
    # Both users' answers differ from each other, so neither can be the other's.
    assert USER is not None and OTHER_USER is not None
    for route in USER_ROUTES:
        a = expected(reference, route, {**PARAMS[0], "user_id": USER}, (None, USER), NOW)
        b = expected(reference, route, {**PARAMS[0], "user_id": OTHER_USER}, (None, OTHER_USER), NOW)
        assert a != b, route.name


async def test_the_query_cache_keeps_callers_apart(
    client: httpx.AsyncClient, reference: ref.Reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "query_cache_seconds", 300.0)
    cache.clear()
    callers: list[tuple[str, dict[str, str], Filter]] = [
        ("admin", ADMIN, (None, None)),
        ("bot A", bearer(["analytics_viewer"], [BOT_A]), (frozenset({BOT_A}), None)),
        ("no bot", bearer(["analytics_viewer"], []), (frozenset(), None)),
        ("admin, user", ADMIN, (None, USER)),
        ("admin, other user", ADMIN, (None, OTHER_USER)),
        ("bot A, user", bearer(["analytics_viewer"], [BOT_A]), (frozenset({BOT_A}), USER)),
    ]
    params = PARAMS[1]  # the whole data set: every user's first activity is in it (retention)
    # Twice round: the second round is answered from the cache (filled by the first).
    for round_ in (1, 2):
        for route in USER_ROUTES:
            answers = []
            for who, headers, f in callers:
                asked = {**params, "user_id": f[1]} if f[1] else params
                want = expected(reference, route, asked, f, NOW)
                where = f"round {round_} {who} {route.name}"
                assert_same(await rest_answer(client, route, asked, headers), want, f"REST {where}")
                assert_same(await graphql_answer(client, route, asked, headers), want, f"GraphQL {where}")
                answers.append(want)
            # Six different questions with six different answers.
            assert all(answers[i] != answers[j] for i in range(6) for j in range(i + 1, 6)), route.name
        # The cache was in use: one entry per question asked (a route, a scope, a user).
        assert len(cache._entries) == len(USER_ROUTES) * len(callers), round_
    cache.clear()
