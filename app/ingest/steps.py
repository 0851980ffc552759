"""The shape of a write: statements yielded by a generator (`Steps`) that receives each query's
rows, and the additive upsert the rollups share."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["IN_CHUNK", "Many", "Query", "Steps", "add_rows", "chunks", "marks", "query", "select_in"]

T = TypeVar("T")


def marks(n: int) -> str:
    return ",".join("?" * n)


@dataclass(slots=True, frozen=True)
class Query:
    """A statement whose rows (as dicts) the step that yielded it gets back."""

    text: str
    params: list[Any]


@dataclass(slots=True, frozen=True)
class Many:
    """A statement executed once per row of parameters (nothing comes back)."""

    text: str
    rows: Sequence[Sequence[Any]]


Steps = Generator[Query | Many, list[dict[str, Any]] | None, T]
"""The SQL of a write, as a generator of statements (``?`` placeholders) that receives each
query's rows: the same logic runs on PostgreSQL (each statement awaited through Tortoise) and on
SQLite (the whole transaction in one call on aiosqlite's thread: no hand-off per statement)."""


def add_rows(table: str, keys: tuple[str, ...], sums: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> Many:
    """Insert `rows` (`keys` then `sums`) into `table`, adding the sums to a row already there: the
    upsert every rollup takes (additive, so concurrent groups commute)."""
    updates = ", ".join(f"{col} = {table}.{col} + excluded.{col}" for col in sums)
    return Many(
        f"INSERT INTO {table} ({', '.join((*keys, *sums))}) VALUES ({marks(len(keys) + len(sums))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
        rows,
    )


IN_CHUNK = 4000
"""Values bound in one `IN (...)` list or multi-row VALUES (SQLite and PostgreSQL allow 32,766)."""


def chunks(items: list[Any], size: int = IN_CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def query(text: str, params: list[Any]) -> Steps[list[dict[str, Any]]]:
    rows = yield Query(text, params)
    assert rows is not None
    return rows


def select_in(text: str, values: list[Any]) -> Steps[list[dict[str, Any]]]:
    """The rows of `text` (a SELECT ending in `IN `) for every value, an IN list a chunk."""
    rows: list[dict[str, Any]] = []
    for chunk in chunks(values):
        rows += yield from query(f"{text}({marks(len(chunk))})", chunk)
    return rows
