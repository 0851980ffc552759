"""The shape of a write: statements yielded by a generator (`Steps`) that receives each query's
rows, and the additive upsert the rollups share.

Most statements are written once for both databases; the two that take sets of values are
rendered by the driver for its database: `AnyOf` (a lookup by many keys) and `Rows` (an INSERT
of many rows). SQLite binds them as IN lists and executes an INSERT per row (in-process calls
are cheap); PostgreSQL gets each as one statement taking one array per column (`= ANY`,
`unnest`), a single round trip with a constant text (so asyncpg's prepared statement is reused)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "AnyOf",
    "Copy",
    "Many",
    "Query",
    "Rows",
    "Steps",
    "Writes",
    "add_rows",
    "chunks",
    "insert",
    "marks",
    "pending",
    "query",
    "select_in",
    "unnest",
    "unnest_source",
]

T = TypeVar("T")

IN_CHUNK = 4000
"""Values bound in one `IN (...)` list or multi-row VALUES on SQLite (it allows 32,766)."""


def marks(n: int) -> str:
    return ",".join("?" * n)


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> list[Sequence[T]]:
    """`items` in slices of at most `size` (the bound parameters one statement takes)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


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


@dataclass(slots=True, frozen=True)
class Copy(Many):
    """PostgreSQL: `rows` (every column of `columns`, in order) sent by COPY into `table`; `text`
    is the equivalent INSERT (one execution per row). For the 2,000 events of a group, binary COPY
    took 20-29 ms where one INSERT over `unnest` of an array per column took 34-57 ms (the same rows,
    fresh database, medians of 30; the events' three indexes and WAL are in both)."""

    table: str = ""
    columns: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class AnyOf:
    """The rows of `text`, a SELECT whose WHERE ends with a column, where that column is one of
    `values`: `IN (?, ...)` a chunk at a time on SQLite, `= ANY(?::text[])` once on PostgreSQL
    (`array`: the array's element type, `int8` for an integer column)."""

    text: str
    values: list[Any]
    array: str = "text"

    def sqlite(self) -> list[tuple[str, list[str]]]:
        return [(f"{self.text} IN ({marks(len(chunk))})", list(chunk)) for chunk in chunks(self.values)]

    def postgres(self) -> tuple[str, list[Any]]:
        return f"{self.text} = ANY(?::{self.array}[])", [self.values]


@dataclass(slots=True, frozen=True)
class Rows:
    """`INSERT INTO table (columns) <rows> tail`. SQLite: one execution per row, or with `returning`
    (the tail ends in RETURNING) multi-row VALUES a chunk at a time, their rows back; PostgreSQL:
    one statement over `unnest` of one array per column, its rows back when `returning`."""

    table: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]
    tail: str = ""
    returning: bool = False
    order: tuple[str, ...] = ()
    """PostgreSQL: the columns whose order the rows are written in (an upsert's key: concurrent
    transactions then lock the rows they share in the same order)."""

    def _head(self) -> str:
        return f"INSERT INTO {self.table} ({', '.join(self.columns)}) "

    def sqlite(self) -> list[tuple[str, list[Any]]]:
        """Without `returning`: the statement for `executemany` over `rows` (one item)."""
        one = f"({marks(len(self.columns))})"
        if not self.returning:
            return [(f"{self._head()}VALUES {one} {self.tail}", list(self.rows))]
        parts = chunks(self.rows, IN_CHUNK // len(self.columns))
        return [
            (
                f"{self._head()}VALUES {','.join([one] * len(chunk))} {self.tail}",
                [v for r in chunk for v in r],
            )
            for chunk in parts
        ]

    def postgres(self) -> tuple[str, list[Any]]:
        source, params = unnest(self.columns, self.rows)
        order = f" ORDER BY {', '.join(self.order)}" if self.order else ""
        return f"{self._head()}SELECT * FROM {source}{order} {self.tail}", params


@dataclass(slots=True, frozen=True)
class Writes:
    """Statements in this order, whose rows nobody reads but those of `reads`. SQLite runs them one
    after the other (and sends back nothing); PostgreSQL sends each run of them that are not `Many`
    as one statement, each an item of a data-modifying WITH (one round trip; one snapshot, so none
    may read what another writes), and sends back the RETURNING rows of the steps whose indexes are
    in `reads`, each with its index as `part` (as `Inserts`)."""

    steps: tuple[Query | Many | Rows, ...]
    reads: tuple[int, ...] = ()

    def postgres(self) -> list[Many | tuple[str, list[Any]]]:
        """The statements; one that sends rows back selects `part` and `j` (the row as JSON)."""
        out: list[Many | tuple[str, list[Any]]] = []
        run: list[tuple[int, str, list[Any]]] = []
        for index, step in (*enumerate(self.steps), (-1, None)):
            if isinstance(step, Query | Rows):
                if not isinstance(step, Rows) or step.rows:
                    text, params = (step.text, step.params) if isinstance(step, Query) else step.postgres()
                    run.append((index, text, params))
                continue
            read = [(i, k) for i, (k, _, _) in enumerate(run) if k in self.reads]
            if len(run) == 1 and not read:
                out.append(run[0][1:])
            elif run:
                items = ", ".join(f"w{i} AS ({text})" for i, (_, text, _) in enumerate(run))
                tail = " UNION ALL ".join(
                    f"SELECT {k} AS part, row_to_json(w{i})::text AS j FROM w{i}" for i, k in read
                )
                out.append((f"WITH {items} {tail or 'SELECT 1'}", [p for *_, params in run for p in params]))
            run = []
            if step is not None:
                out.append(step)
        return out


@dataclass(slots=True, frozen=True)
class Inserts:
    """INSERTs with RETURNING (`Rows`), whose rows come back each with its step's index as `part`:
    SQLite runs them one after the other; PostgreSQL sends them as one statement (data-modifying
    WITH items; one snapshot, so none may read what another writes), its rows as JSON."""

    steps: tuple[Rows, ...]

    def postgres(self) -> tuple[str, list[Any]]:
        items: list[str] = []
        selects: list[str] = []
        params: list[Any] = []
        for i, step in enumerate(self.steps):
            if step.rows:
                text, values = step.postgres()
                items.append(f"i{i} AS ({text})")
                selects.append(f"SELECT {i} AS part, row_to_json(i{i})::text AS j FROM i{i}")
                params += values
        return f"WITH {', '.join(items)} {' UNION ALL '.join(selects)}", params


@dataclass(slots=True, frozen=True)
class Lock:
    """PostgreSQL: transaction-scoped advisory locks on `keys`, taken in ascending order. As a
    transaction's first step the driver sends it with the BEGIN, in one round trip (so the keys are
    written into the text: they are integers)."""

    keys: list[int]

    def text(self) -> str:
        keys = ",".join(str(int(k)) for k in self.keys)
        return (
            "SELECT count(pg_advisory_xact_lock(s.k)) AS n "
            f"FROM (SELECT k FROM unnest('{{{keys}}}'::bigint[]) AS k ORDER BY k) s"
        )


Steps = Generator[Query | Many | AnyOf | Rows | Writes | Inserts | Lock, list[dict[str, Any]] | None, T]
"""The SQL of a write, as a generator of statements (``?`` placeholders) that receives each
query's rows: the same logic runs on PostgreSQL (each statement awaited through Tortoise) and on
SQLite (the whole transaction in one call on aiosqlite's thread: no hand-off per statement)."""

_PG_TEXT = frozenset(
    {"id", "uuid", "type", "role", "intent", "channel", "resolution", "comment", "model", "reason"}
    | {"start_event_id", "end_event_id", "rating_event_id"}
)
_PG_OTHER = {"cost": "float8", "fallback": "bool"}


def unnest(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """PostgreSQL: `rows` as a FROM item named `r` with these column names, and its parameters
    (one array per column). A column's array type follows its name: the service's text columns
    (`id` is the events' key), `cost` and `fallback`, integers otherwise (an INSERT or UPDATE
    casts bigint to a narrower integer column)."""
    return unnest_source(columns), [list(col) for col in zip(*rows, strict=True)]


def unnest_source(columns: Sequence[str]) -> str:
    """`unnest`'s FROM item alone (see `unnest`): its parameters are one array per column."""
    types = ["text" if c in _PG_TEXT else _PG_OTHER.get(c, "int8") for c in columns]
    arrays = ", ".join(f"?::{t}[]" for t in types)
    return f"unnest({arrays}) AS r({', '.join(columns)})"


def add_rows(table: str, keys: tuple[str, ...], sums: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> Rows:
    """Insert `rows` (`keys` then `sums`, one row per key) into `table`, adding the sums to a row
    already there: the upsert every rollup takes (additive, so concurrent groups commute; on
    PostgreSQL in key order, so they take the row locks they share in the same order)."""
    updates = ", ".join(f"{col} = {table}.{col} + excluded.{col}" for col in sums)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    return Rows(table, (*keys, *sums), rows, conflict, order=keys)


def pending(steps: Steps[None]) -> list[Query | Many | Rows]:
    """The statements of `steps`, which reads no rows back (to send them together as `Writes`)."""
    out: list[Query | Many | Rows] = []
    for step in steps:
        assert isinstance(step, Query | Many | Rows)
        out.append(step)
    return out


def query(text: str, params: list[Any]) -> Steps[list[dict[str, Any]]]:
    rows = yield Query(text, params)
    assert rows is not None
    return rows


def select_in(text: str, values: list[Any], array: str = "text") -> Steps[list[dict[str, Any]]]:
    """The rows of `text` (a SELECT whose WHERE ends with a column) for every value (`AnyOf`)."""
    rows = yield AnyOf(text, values, array)
    assert rows is not None
    return rows


def insert(step: Rows) -> Steps[list[dict[str, Any]]]:
    """An INSERT's RETURNING rows."""
    rows = yield step
    assert rows is not None
    return rows
