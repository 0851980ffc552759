"""What a batch is made of once parsed, and what its caller gets back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class NewEvent:
    index: int
    id: str
    type: str
    ts_us: int
    conversation: str
    bot: str | None
    user: str | None
    channel: str | None = None
    role: str | None = None
    intent: str | None = None
    fallback: bool | None = None
    latency_ms: int | None = None
    tokens: int | None = None
    resolution: str | None = None
    score: int | None = None
    comment: str | None = None
    model: str | None = None
    cost: float | None = None
    reason: str | None = None
    statement: str = ""
    """The INSERT of this event's row: its base columns and the optional ones it sets (worked out
    while the request is parsed rather than in the writer, which every batch waits for)."""
    extra: tuple[Any, ...] = ()
    """The values of the optional columns it sets, in the statement's order."""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
