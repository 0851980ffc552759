"""`trackEvents`: the GraphQL face of ingestion (same validation and storage as REST)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from app.ingest import ingest_events
from graphql_schema.context import Context
from graphql_schema.enums import EventType, MessageRole, Resolution
from graphql_schema.permissions import CanIngest

__all__ = ["EventInput", "EventsMutation", "TrackEventsResult"]


@strawberry.input(description="One event; see API.md section 4 for the fields each type needs.")
class EventInput:
    type: EventType
    timestamp: str
    conversation_id: str
    id: str | None = None
    bot_id: str | None = None
    user_id: str | None = None
    channel: str | None = None
    role: MessageRole | None = None
    intent: str | None = None
    fallback: bool | None = None
    latency_ms: int | None = None
    tokens: int | None = None
    resolution: Resolution | None = None
    score: int | None = None
    comment: str | None = None
    model: str | None = None
    cost: float | None = None
    reason: str | None = None


@strawberry.type
class TrackEventsResult:
    accepted: int
    duplicates: int


def _as_dict(ev: EventInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(ev).items():
        if value is None:
            continue
        out[key] = value.value if isinstance(value, Enum) else value
    return out


@strawberry.type
class EventsMutation:
    @strawberry.mutation(permission_classes=[CanIngest], description="Store a batch of up to 1,000 events.")
    async def track_events(self, info: Info[Context, Any], events: list[EventInput]) -> TrackEventsResult:
        ctx = info.context
        result = await ingest_events([_as_dict(e) for e in events], ctx.require_principal())
        return TrackEventsResult(accepted=result.accepted, duplicates=result.duplicates)
