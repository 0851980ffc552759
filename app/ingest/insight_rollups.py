"""The rollups of API.md section 9 a group adds to: `model_slots`, `latency_slots`, `intent_slots`,
and the (conversation, bot, intent) pairs of `intent_convs` with the first-seen counts they give
`intent_slots`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.ingest.fold import Conv, Group
from app.ingest.steps import Many, Steps, add_rows, select_in
from app.models import SLOT_US, SLOTS_PER_DAY, span_class

__all__ = ["MESSAGE_COUNTS", "SLOT_KEY", "insight_slots", "outcome"]

SLOT_KEY = ("slot", "bot_id")
MESSAGE_COUNTS = ("messages", "user_messages", "bot_messages", "fallback_messages")
PAIR_COUNTS = ("conversations", "resolved_conversations", "escalated_conversations")
_MODEL_KEY = (*SLOT_KEY, "has_model", "model")
_PAIR_UPSERT = (
    "INSERT INTO intent_convs (conversation_id, bot_id, intent, first_us, last_us, span_class) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id, bot_id, intent) DO UPDATE SET "
    "first_us = excluded.first_us, last_us = excluded.last_us, span_class = excluded.span_class"
)


def _model_key(model: str | None) -> tuple[int, str]:
    """A model as the rollups key it: `(has_model, model)`, `(0, '')` for none (a NULL would never
    meet its row in ON CONFLICT; an empty model is a value of its own, `(1, '')`)."""
    return (0, "") if model is None else (1, model)


def outcome(end_us: int | None, resolution: str | None) -> tuple[int, int]:
    """What a conversation adds to `resolved_conversations` and `escalated_conversations`."""
    ended = end_us is not None
    return int(ended and resolution == "resolved"), int(ended and resolution == "escalated")


def _pair_deltas(
    group: Group,
    touched: Sequence[Conv],
    bot_ids: dict[str, int],
    stored_outcome: Callable[[Conv], tuple[int, int]],
) -> Steps[dict[tuple[int, int, str], list[int]]]:
    """Write the group's (conversation, bot, intent) pairs to `intent_convs` and return what
    `intent_slots` gains per (first slot, bot, intent): a pair counts once, in the slot of its first
    message, with its conversation's outcome. A pair whose first message moves earlier (a late
    event) or whose conversation's end changes moves its contribution; the conversation's advisory
    lock (PostgreSQL) makes reading its pairs and writing them back safe."""
    added: dict[tuple[int, int, str], tuple[int, int]] = {}
    for (uuid, bot, intent), (first, last) in group.intent_pairs.items():
        cid = group.convs[uuid].id
        assert cid is not None
        added[(cid, bot_ids[bot], intent)] = (first, last)
    # Per conversation: (stored outcome, outcome now), and whether its stored pairs must be read.
    outcomes: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {}
    with_pairs = {key[0] for key in added}
    stored_convs: list[int] = []
    for c in touched:
        if c.id is None:
            continue
        before, after = stored_outcome(c), outcome(c.end_us, c.resolution)
        outcomes[c.id] = (before, after)
        if c.stored_values and (c.id in with_pairs or before != after):
            stored_convs.append(c.id)
    stored: dict[tuple[int, int, str], tuple[int, int]] = {}
    if stored_convs:
        rows = yield from select_in(
            "SELECT conversation_id, bot_id, intent, first_us, last_us FROM intent_convs "
            "WHERE conversation_id IN ",
            sorted(stored_convs),
        )
        for r in rows:
            stored[(int(r["conversation_id"]), int(r["bot_id"]), str(r["intent"]))] = (
                int(r["first_us"]),
                int(r["last_us"]),
            )
    deltas: dict[tuple[int, int, str], list[int]] = {}
    writes: list[list[Any]] = []
    for key in sorted(stored.keys() | added.keys()):
        before, after = outcomes[key[0]]
        old, more = stored.get(key), added.get(key)
        if more is None or old is None:
            new = old or more
        else:
            new = (more[0], old[1]) if more[0] < old[0] else old
            if more[1] > new[1]:
                new = (new[0], more[1])
        assert new is not None
        slot = new[0] // SLOT_US
        if old is None or old[0] // SLOT_US != slot or before != after:
            if old is not None:
                acc = deltas.setdefault((old[0] // SLOT_US, key[1], key[2]), [0, 0, 0])
                acc[0] -= 1
                acc[1] -= before[0]
                acc[2] -= before[1]
            acc = deltas.setdefault((slot, key[1], key[2]), [0, 0, 0])
            acc[0] += 1
            acc[1] += after[0]
            acc[2] += after[1]
        if new != old:
            writes.append([*key, *new, span_class(*new)])
    if writes:
        yield Many(_PAIR_UPSERT, writes)
    return {k: v for k, v in deltas.items() if any(v)}


def insight_slots(
    group: Group,
    touched: Sequence[Conv],
    bot_ids: dict[str, int],
    stored_outcome: Callable[[Conv], tuple[int, int]],
) -> Steps[None]:
    """Add the group's messages to `model_slots`, `latency_slots` and `intent_slots`, and its pairs
    to `intent_convs` (with what they move in `intent_slots`)."""
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
    per_slot: dict[tuple[int, int, str], list[int]] = {
        (slot, bot_ids[bot], intent): [*values, 0, 0, 0]
        for (slot, bot, intent), values in group.intent_slots.items()
    }
    for key, delta in (yield from _pair_deltas(group, touched, bot_ids, stored_outcome)).items():
        acc = per_slot.setdefault(key, [0] * (len(MESSAGE_COUNTS) + len(PAIR_COUNTS)))
        for i, v in enumerate(delta):
            acc[len(MESSAGE_COUNTS) + i] += v
    if per_slot:
        per_day: dict[tuple[int, int, str], list[int]] = {}
        for (slot, bot, intent), values in per_slot.items():
            acc = per_day.setdefault((slot // SLOTS_PER_DAY, bot, intent), [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v
        for table, day_or_slot, rows in (("intent_slots", "slot", per_slot), ("intent_days", "day", per_day)):
            yield add_rows(
                table,
                (day_or_slot, "bot_id", "intent"),
                (*MESSAGE_COUNTS, *PAIR_COUNTS),
                [[*key, *values] for key, values in sorted(rows.items())],
            )
