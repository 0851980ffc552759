"""SQL fragments shared by the analytics queries: the resolved filter and VALUES lists of bounds.

Every value spliced into SQL text here is a Python `int` (row ids, microseconds, slot numbers) that
went through `int()`, never client text, so inlining it is safe; it also keeps a 10,000-bucket
series under every placeholder limit and gives PostgreSQL typed `bigint` literals in VALUES lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["USER_ACTIVITY", "Filter", "values_cte"]

USER_ACTIVITY = "({e}.type = 'conversation_started' OR ({e}.type = 'message' AND {e}.role = 'user'))"
"""An event that makes its user active (API.md section 5): a start or the user's own message."""


@dataclass(frozen=True)
class Filter:
    """A scope resolved to row ids: `bots` None = every bot; `empty` = the caller sees nothing."""

    bots: tuple[int, ...] | None
    user: int | None
    empty: bool = False

    def bot(self, alias: str) -> str:
        """The condition on `alias.bot_id` (rows of no bot never count, also for every bot)."""
        if self.empty:
            return "1 = 0"
        if self.bots is None:
            return f"{alias}.bot_id IS NOT NULL"
        if len(self.bots) == 1:
            return f"{alias}.bot_id = {int(self.bots[0])}"
        return f"{alias}.bot_id IN ({', '.join(str(int(b)) for b in self.bots)})"

    def user_and(self, alias: str, column: str = "user_id") -> str:
        """` AND alias.user_id = n` under a user filter, else nothing."""
        return "" if self.user is None else f" AND {alias}.{column} = {int(self.user)}"

    def where(self, alias: str) -> str:
        """Bot and user conditions on a table with `bot_id` and `user_id` columns."""
        return self.bot(alias) + self.user_and(alias)


def values_cte(name: str, columns: Sequence[str], rows: Iterable[Sequence[int]]) -> str:
    """`name(c1, c2) AS (VALUES (1, 2), ...)` from integer rows (at least one row)."""
    body = ", ".join("(" + ", ".join(str(int(v)) for v in row) + ")" for row in rows)
    if not body:
        raise ValueError("a VALUES list needs at least one row")
    return f"{name}({', '.join(columns)}) AS (VALUES {body})"
