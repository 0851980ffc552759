"""Every type, field, argument and enum value of the GraphQL schema has a description, as a client
sees it by introspection (built-in scalars and introspection types aside)."""

from __future__ import annotations

from typing import Any

from graphql import get_introspection_query

from graphql_schema.schema import schema

BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def _undescribed() -> list[str]:
    result = schema.execute_sync(get_introspection_query(descriptions=True))
    assert result.errors is None and result.data is not None
    missing: list[str] = []
    for t in result.data["__schema"]["types"]:
        name = t["name"]
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        if not t["description"]:
            missing.append(name)
        fields: list[dict[str, Any]] = (t["fields"] or []) + (t["inputFields"] or [])
        for f in fields:
            if not f["description"]:
                missing.append(f"{name}.{f['name']}")
            missing += [
                f"{name}.{f['name']}({a['name']})" for a in f.get("args") or [] if not a["description"]
            ]
        missing += [f"{name}.{v['name']}" for v in t["enumValues"] or [] if not v["description"]]
    return missing


def test_everything_in_the_schema_has_a_description() -> None:
    assert _undescribed() == []


def test_descriptions_say_what_null_means_and_the_range() -> None:
    sdl = schema.as_str()
    # Spot checks in the words of API.md section 5 and 6.
    assert "`null` when there is nothing to average" in sdl
    assert "bot messages alone do not make a user active" in sdl
    assert "Only this bot (UUID)." in sdl
