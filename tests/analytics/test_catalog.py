"""The metric catalog is the one list of analytics routes: each row has its REST route and its
GraphQL field, and that field's type is the row's answer type (docs/adding-a-metric.md)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType, get_named_type

from app.analytics import catalog
from graphql_schema.schema import schema
from rest_shim.routes import ROUTES

ALL: list[catalog.Metric[Any] | catalog.LiveMetric[Any]] = [*catalog.METRICS, *catalog.LIVE_METRICS]


def _query_field_type(field: str) -> str:
    query = schema._schema.query_type
    assert isinstance(query, GraphQLObjectType)
    named = get_named_type(query.fields[field].type)
    return str(named.name)


def test_every_metric_has_a_rest_route_whose_field_answers_with_its_type() -> None:
    routes = {r.name: r for r in ROUTES if r.method == "GET"}
    for metric in ALL:
        route = routes[metric.name]
        assert route.path == f"/{metric.name}"
        assert _query_field_type(route.field) == metric.answer_type.__name__, metric.name


def test_every_analytics_route_is_a_metric_of_the_catalog() -> None:
    names = {m.name for m in ALL}
    analytics = {r.name for r in ROUTES if r.method == "GET" and not r.name.startswith("reports")}
    assert analytics == names
