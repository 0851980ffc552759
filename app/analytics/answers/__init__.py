"""Answers: the typed results of API.md section 6's analytics routes, one module per area (mirroring
`graphql_schema/usage.py`, `conversations.py`, `engagement.py`, `realtime.py`).

Each answer function takes the connections to read on (`app.db.Readers`) and a frozen question
(`Question` for the range routes, `LiveQuestion` for the realtime ones) holding every input,
`now` and the session timeout included, and returns a frozen dataclass. GraphQL registers these
very classes as its types; reports and JSON report payloads use `rest_dict(answer)`, the REST
shape (snake_case keys, enum values as their lowercase strings).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from app.analytics.ranges import ResolvedRange
from app.analytics.scope import Scope
from app.analytics.zones import format_datetime
from app.vocabulary import Compare

__all__ = ["US", "LiveQuestion", "Question", "RangeEcho", "range_echo", "ratio", "rest_dict"]

US = 1_000_000
"""Microseconds per second."""


@dataclass(frozen=True)
class Question:
    """A range route's inputs: the resolved range, what it covers, the instant it is asked at (which
    decides whether a quiet conversation is active or abandoned), the session timeout, and the range
    to compare with (API.md section 9; only the metrics marked `comparable` read it)."""

    range: ResolvedRange
    scope: Scope
    now: datetime
    session_timeout_us: int
    limit: int | None = None
    """How many entries a ranked list keeps (`/intents`); None: the route's default."""
    compare: Compare | None = None


@dataclass(frozen=True)
class LiveQuestion:
    """A realtime route's inputs: the window `(now - window_minutes, now]`, the zone `as_of` is
    written in, what it covers and the session timeout."""

    scope: Scope
    now: datetime
    window_minutes: int
    tz: ZoneInfo
    tz_name: str
    session_timeout_us: int


@dataclass(frozen=True)
class RangeEcho:
    """The `range` every (non-realtime) answer carries, in the range's zone."""

    start: str
    end: str
    timezone: str


def range_echo(r: ResolvedRange) -> RangeEcho:
    """The echo of a resolved range."""
    return RangeEcho(
        start=format_datetime(r.start, r.tz, r.tz_name),
        end=format_datetime(r.end, r.tz, r.tz_name),
        timezone=r.tz_name,
    )


def ratio(num: float, den: float) -> float | None:
    """`num / den`, None when there is nothing to divide by."""
    return None if not den else num / den


def rest_dict(answer: Any) -> Any:
    """An answer in its REST shape: dataclasses as dicts in field order, tuples as lists, enums as
    their values (the shape reports and JSON report payloads carry)."""
    if is_dataclass(answer) and not isinstance(answer, type):
        return {f.name: rest_dict(getattr(answer, f.name)) for f in fields(answer)}
    if isinstance(answer, list | tuple):
        return [rest_dict(v) for v in answer]
    if isinstance(answer, Enum):
        return answer.value
    return answer
