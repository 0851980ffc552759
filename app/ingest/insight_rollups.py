"""The rollups of API.md section 9 a group adds to: `model_slots`, `latency_slots`, `intent_slots`,
and their per-UTC-day levels `model_days`, `latency_days`, `latency_day_bands`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from app.ingest.fold import Group
from app.ingest.steps import Steps, add_rows
from app.models.bands import DAY_SLOTS, band_of

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
    yield from _day_levels(group, bot_ids)
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


def _day_levels(group: Group, bot_ids: dict[str, int]) -> Steps[None]:
    """The group's slot rows summed per UTC day: `model_days`, `latency_days` (exact values) and
    `latency_day_bands` (counts per band), per bot and (latencies) under bot 0 for every bot; rows in
    key order, as `message_slots` (PostgreSQL: concurrent groups meet the day rows in the same order,
    so they cannot deadlock)."""
    model_days: defaultdict[tuple[int, int, tuple[int, str]], list[Any]] = defaultdict(
        lambda: [0, 0, 0, 0.0, 0, 0]
    )
    for (slot, bot, model), values in group.model_slots.items():
        sums = model_days[(slot // DAY_SLOTS, bot_ids[bot], _model_key(model))]
        for i, v in enumerate(values):
            sums[i] += v
    latency_days: defaultdict[tuple[int, int, int, int, str], int] = defaultdict(int)
    bands: defaultdict[tuple[int, int, int, str, int], int] = defaultdict(int)
    for (slot, bot, model, latency), n in group.latency_slots.items():
        hm, name = _model_key(model)
        day, band, bot_id = slot // DAY_SLOTS, band_of(latency), bot_ids[bot]
        latency_days[(bot_id, day, latency, hm, name)] += n
        latency_days[(0, day, latency, hm, name)] += n  # bot 0: every bot together
        bands[(bot_id, day, hm, name, band)] += n
        bands[(0, day, hm, name, band)] += n
    if model_days:
        yield add_rows(
            "model_days",
            ("day", "bot_id", "has_model", "model"),
            ("messages", "bot_messages", "tokens", "cost", "latency_count", "latency_sum"),
            [[day, bot, *key, *sums] for (day, bot, key), sums in sorted(model_days.items())],
        )
    if latency_days:
        yield add_rows(
            "latency_days",
            ("bot_id", "day", "latency_ms", "has_model", "model"),
            ("messages",),
            [[*key, n] for key, n in sorted(latency_days.items())],
        )
        yield add_rows(
            "latency_day_bands",
            ("bot_id", "day", "has_model", "model", "band"),
            ("messages",),
            [[*key, n] for key, n in sorted(bands.items())],
        )
