"""REST answers carry an enum's lowercase value because the field's GraphQL type is an enum, not
because of the key's name; GraphQL enums, OpenAPI enums and the core's closed sets agree."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from app import vocabulary
from graphql_schema.schema import schema
from rest_shim.executor import enum_paths, restore_enum_values
from tests.factories import bearer

REPORTER = bearer(["analytics_admin"])
VIEWER = bearer(["analytics_viewer"])
A = "/api/v1/analytics"

_COLOR = GraphQLEnumType("Color", {"RED": "red", "DARK_BLUE": "dark_blue"})
_ITEM: GraphQLObjectType = GraphQLObjectType(
    "Item",
    lambda: {
        "type": GraphQLField(GraphQLString),
        "status": GraphQLField(GraphQLString),
        "shade": GraphQLField(_COLOR),
        "tags": GraphQLField(GraphQLList(GraphQLNonNull(_COLOR))),
        "child": GraphQLField(_ITEM),
    },
)
_SCHEMA = GraphQLSchema(GraphQLObjectType("Query", {"items": GraphQLField(GraphQLList(_ITEM))}))
_DOCUMENT = "{ result: items { type status kind: shade tags child { type group: shade } } }"


def test_only_enum_typed_fields_are_found_aliases_and_nesting_included() -> None:
    assert enum_paths(_SCHEMA, _DOCUMENT) == {
        "result": {"kind": _COLOR, "tags": _COLOR, "child": {"group": _COLOR}}
    }


def test_enum_names_become_values_and_other_strings_stay_as_they_are() -> None:
    data = {
        "result": [
            {
                "type": "MESSAGE",
                "status": "COMPLETED",
                "kind": "DARK_BLUE",
                "tags": ["RED", "DARK_BLUE"],
                "child": {"type": "PDF", "group": "RED"},
            },
            {"type": None, "status": "X", "kind": None, "tags": [], "child": None},
        ]
    }
    assert restore_enum_values(data, enum_paths(_SCHEMA, _DOCUMENT)) == {
        "result": [
            {
                "type": "MESSAGE",
                "status": "COMPLETED",
                "kind": "dark_blue",
                "tags": ["red", "dark_blue"],
                "child": {"type": "PDF", "group": "red"},
            },
            {"type": None, "status": "X", "kind": None, "tags": [], "child": None},
        ]
    }


_CLOSED_SETS: list[type[StrEnum]] = [
    vocabulary.Period,
    vocabulary.GroupBy,
    vocabulary.ReportType,
    vocabulary.ReportFormat,
    vocabulary.ReportStatus,
    vocabulary.EventType,
    vocabulary.MessageRole,
    vocabulary.Resolution,
]


def test_graphql_enums_are_the_core_sets_names_upper_values_lower() -> None:
    for kind in _CLOSED_SETS:
        gql = schema._schema.type_map[kind.__name__]
        assert isinstance(gql, GraphQLEnumType)
        assert list(gql.values) == [m.name for m in kind]
        assert [v.value for v in gql.values.values()] == [m.value for m in kind]
        assert all(m.name == m.value.upper() for m in kind)


async def test_openapi_lists_the_enum_values(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    def resolved(schema: dict[str, Any]) -> Any:
        if "$ref" in schema:
            return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    listing = spec["paths"][A + "/reports"]["get"]["parameters"]
    enums = {p["name"]: resolved(p["schema"]).get("enum") for p in listing}
    assert enums["status"] == ["pending", "running", "completed", "failed"]
    assert enums["type"] == [
        "usage",
        "conversations",
        "engagement",
        "satisfaction",
        "retention",
        "insights",
        "full",
    ]
    body = resolved(
        spec["paths"][A + "/reports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert resolved(body["properties"]["format"])["enum"] == ["pdf", "csv", "json", "html"]
    assert resolved(body["properties"]["group_by"])["enum"] == ["hour", "day", "week", "month"]
    usage = {p["name"]: p["schema"] for p in spec["paths"][A + "/usage"]["get"]["parameters"]}
    assert resolved(usage["period"])["enum"] == ["today", "week", "month", "year"]
    assert usage["days"] == {"type": "integer", "minimum": 1, "maximum": 3660}
    retention = spec["paths"][A + "/engagement/retention"]["get"]["parameters"]
    group_by = next(p["schema"] for p in retention if p["name"] == "group_by")
    assert resolved(group_by)["enum"] == ["day", "week", "month"]


async def test_rest_answers_carry_lowercase_enum_values(client: httpx.AsyncClient) -> None:
    r = await client.post(
        A + "/reports",
        json={"type": "usage", "format": "csv", "period": "month", "group_by": "week"},
        headers=REPORTER,
    )
    assert r.status_code == 202, r.text
    report = r.json()
    assert (report["status"], report["type"], report["format"]) == ("pending", "usage", "csv")
    assert (report["parameters"]["period"], report["parameters"]["group_by"]) == ("month", "week")
    assert report["title"] == "Usage report"
    # The runner may have picked it up meanwhile: any status, but as a lowercase value.
    (listed,) = (await client.get(A + "/reports", params={"type": "usage"}, headers=REPORTER)).json()["data"]
    assert listed["status"] in ("pending", "running", "completed", "failed")
    assert (listed["type"], listed["format"]) == ("usage", "csv")
    volume = (
        await client.get(A + "/conversations/volume", params={"group_by": "hour"}, headers=VIEWER)
    ).json()
    assert volume["group_by"] == "hour"
