"""The rollups of API.md section 9 a group adds to: `model_slots`, `latency_slots`, `intent_slots`."""

from __future__ import annotations

from app.ingest.fold import Group
from app.ingest.steps import Steps, add_rows

__all__ = ["MESSAGE_COUNTS", "SLOT_KEY", "insight_slots"]

SLOT_KEY = ("slot", "bot_id")
MESSAGE_COUNTS = ("messages", "user_messages", "bot_messages", "fallback_messages")
_MODEL_KEY = (*SLOT_KEY, "has_model", "model")


def _model_key(model: str | None) -> tuple[int, str]:
    """A model as the rollups key it: `(has_model, model)`, `(0, '')` for none (a NULL would never
    meet its row in ON CONFLICT; an empty model is a value of its own, `(1, '')`)."""
    return (0, "") if model is None else (1, model)


def insight_slots(group: Group, bot_ids: dict[str, int]) -> Steps[None]:
    """Add the group's messages to `model_slots`, `latency_slots` and `intent_slots`."""
    if group.model_slots:
        yield add_rows(
            "model_slots",
            _MODEL_KEY,
            ("messages", "bot_messages", "tokens", "cost", "latency_count", "latency_sum"),
            [
                [slot, bot_ids[bot], *_model_key(model), *values]
                for (slot, bot, model), values in group.model_slots.items()
            ],
        )
    if group.latency_slots:
        yield add_rows(
            "latency_slots",
            (*_MODEL_KEY, "latency_ms"),
            ("messages",),
            [
                [slot, bot_ids[bot], *_model_key(model), latency, n]
                for (slot, bot, model, latency), n in group.latency_slots.items()
            ],
        )
    if group.intent_slots:
        yield add_rows(
            "intent_slots",
            (*SLOT_KEY, "intent"),
            MESSAGE_COUNTS,
            [
                [slot, bot_ids[bot], intent, *values]
                for (slot, bot, intent), values in group.intent_slots.items()
            ],
        )
