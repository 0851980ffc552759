"""The closed sets and bounded numbers of API.md, defined once.

Each set is a `StrEnum`: member names are upper case (the GraphQL enum values, `DAY`), values
lower case (what REST and the database carry, `"day"`). The GraphQL enums are these classes
(`strawberry.enum(GroupBy)`), the OpenAPI `enum` lists are their values, and the core validates
against them. A member is a `str`, so it compares and hashes like its value.

The integer parameters with a range (`days`, `window_minutes`, a report list's `limit` and
`offset`) are checked here, in one place; the REST shim only turns their text into numbers.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from app.errors import InvalidParameter

__all__ = [
    "DAYS",
    "INTENTS_LIMIT",
    "MAX_DAYS",
    "REPORT_LIMIT",
    "REPORT_OFFSET",
    "STREAM_INTERVAL",
    "WINDOW_MINUTES",
    "Compare",
    "ConversationStatus",
    "EventType",
    "GroupBy",
    "IntRange",
    "MessageRole",
    "Period",
    "ReportFormat",
    "ReportStatus",
    "ReportType",
    "Resolution",
    "member",
    "normalise_uuid",
    "spoken",
]

E = TypeVar("E", bound=StrEnum)


class Period(StrEnum):
    """A calendar period up to the end of today (API.md section 3)."""

    TODAY = "today"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class GroupBy(StrEnum):
    """The bucket size of a time series."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Compare(StrEnum):
    """The range an answer is compared with (API.md section 9)."""

    PREVIOUS_PERIOD = "previous_period"
    PREVIOUS_YEAR = "previous_year"


class ReportType(StrEnum):
    """What a report holds (API.md section 7)."""

    USAGE = "usage"
    CONVERSATIONS = "conversations"
    ENGAGEMENT = "engagement"
    SATISFACTION = "satisfaction"
    RETENTION = "retention"
    INSIGHTS = "insights"
    FULL = "full"


class ReportFormat(StrEnum):
    PDF = "pdf"
    CSV = "csv"
    JSON = "json"
    HTML = "html"


class ReportStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class EventType(StrEnum):
    """The events of API.md section 4."""

    CONVERSATION_STARTED = "conversation_started"
    MESSAGE = "message"
    CONVERSATION_ENDED = "conversation_ended"
    SATISFACTION = "satisfaction"


class MessageRole(StrEnum):
    USER = "user"
    BOT = "bot"


class Resolution(StrEnum):
    """How a `conversation_ended` event says the conversation ended."""

    RESOLVED = "resolved"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"


class ConversationStatus(StrEnum):
    """A conversation's status at `now`: active, or closed with a resolution (a timeout abandons)."""

    ACTIVE = "active"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"


def spoken(kind: type[StrEnum], last: str = "or") -> str:
    """The values as prose: `today, week, month or year`."""
    values = [m.value for m in kind]
    return f"{', '.join(values[:-1])} {last} {values[-1]}" if len(values) > 1 else values[0]


def member(kind: type[E], value: str, field: str) -> E:
    """The member of `kind` with this value; anything else is a 400 naming `field`."""
    try:
        return kind(value)
    except ValueError:
        raise InvalidParameter(field, f"{field} must be one of {', '.join(kind)}") from None


# --------------------------------------------------------------------------- bounded integers


@dataclass(frozen=True)
class IntRange:
    """An integer parameter: its bounds, its default and the message of the 400 that names it."""

    field: str
    minimum: int
    maximum: int | None = None
    default: int | None = None
    not_integer_message: str | None = None
    """The message for text that is not an integer, when it is not `message`."""

    @property
    def message(self) -> str:
        if self.maximum is None:
            return f"{self.field} must be a non-negative integer"
        return f"{self.field} must be an integer from {self.minimum} to {self.maximum}"

    @property
    def syntax_message(self) -> str:
        return self.not_integer_message or self.message

    def check(self, value: int | None) -> int:
        """The value (or the default when it is None and there is one), else a 400 naming the field."""
        if value is None and self.default is not None:
            return self.default
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < self.minimum
            or (self.maximum is not None and value > self.maximum)
        ):
            raise InvalidParameter(self.field, self.message)
        return value


MAX_DAYS = 3660
DAYS = IntRange("days", 1, MAX_DAYS)
WINDOW_MINUTES = IntRange("window_minutes", 1, 60, default=5)
REPORT_LIMIT = IntRange(
    "limit", 1, 100, default=20, not_integer_message="limit must be a non-negative integer"
)
REPORT_OFFSET = IntRange("offset", 0, default=0)
INTENTS_LIMIT = IntRange("limit", 1, 100, default=20)
"""`/intents`' `limit` (API.md section 9)."""
STREAM_INTERVAL = IntRange("interval_seconds", 1, 60, default=5)
"""Seconds between two events of GET /realtime/stream."""


# --------------------------------------------------------------------------- identifiers

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
"""What `str(uuid.UUID(value))` returns: such a value is already normalised (ingestion reads four
UUIDs an event, and `uuid.UUID` + `str` cost ~10x a regex match)."""


def normalise_uuid(value: str, field: str) -> str:
    """The canonical text of a UUID (lower case, hyphenated); anything else is a 400 naming `field`."""
    if _CANONICAL_UUID(value):
        return value
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidParameter(field, f"{field} must be a UUID") from None
