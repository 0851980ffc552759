"""schema.graphql at the repository root is the schema the service serves (`make schema` writes it)."""

from __future__ import annotations

from pathlib import Path

from graphql_schema.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_graphql_is_the_current_schema() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.as_str() + "\n", "stale: run make schema"
