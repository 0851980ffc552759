"""The rollups of API.md section 9 a group adds to: `model_slots`, `latency_slots`, `intent_slots`,
and their per-UTC-day levels `model_days`, `latency_days`, `latency_day_bands`; the (conversation,
bot, intent) pairs of `intent_convs` with the first-seen counts they give `intent_slots`, and
`intent_slots` per UTC day (`intent_days`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from app.ingest.fold import Conv, Group
from app.ingest.steps import Rows, Steps, add_rows, select_in
from app.models import SLOT_US, span_class
from app.models.bands import DAY_SLOTS, band_of

__all__ = ["MESSAGE_COUNTS", "PAIRS_OF", "SLOT_KEY", "Pairs", "insight_slots", "outcome", "read_pairs"]

SLOT_KEY = ("slot", "bot_id")
MESSAGE_COUNTS = ("messages", "user_messages", "bot_messages", "fallback_messages")
PAIR_COUNTS = ("conversations", "resolved_conversations", "escalated_conversations")
_MODEL_KEY = (*SLOT_KEY, "has_model", "model")
_PAIR_KEY = ("conversation_id", "bot_id", "intent")
_PAIR_UPSERT = (
    f"ON CONFLICT ({', '.join(_PAIR_KEY)}) DO UPDATE SET "
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


PAIRS_OF = (
    "SELECT p.conversation_id, p.bot_id, p.intent, p.first_us, p.last_us FROM intent_convs p "
    "JOIN conversations c ON c.id = p.conversation_id WHERE c.uuid"
)
"""The stored pairs of the conversations whose uuid is one of a set (PostgreSQL's prefetch)."""
_Outcomes = dict[int, tuple[tuple[int, int], tuple[int, int]]]
Pairs = tuple[_Outcomes, dict[tuple[int, int, str], tuple[int, int]]]
"""What `read_pairs` found: per stored conversation (stored outcome, outcome now), and the stored
`intent_convs` pairs (first, last message) of those whose pairs the group can move."""


def read_pairs(
    group: Group,
    touched: Sequence[Conv],
    stored_outcome: Callable[[Conv], tuple[int, int]],
    prefetched: list[dict[str, Any]] | None = None,
) -> Steps[Pairs]:
    """Per conversation (every one has its id: after the new ones are inserted) its stored outcome
    and its outcome now, and the stored pairs of those stored before that have messages with an
    intent in the group or whose outcome changed (the conversation's advisory lock, on PostgreSQL,
    keeps them as read until the group's writes): a read, so before the group's one `Writes`.
    `prefetched`: the pairs of every conversation the group names, read already (`PAIRS_OF`,
    PostgreSQL's prefetch), so no statement here."""
    with_pairs = {uuid for uuid, _bot, _intent in group.intent_pairs}
    outcomes: _Outcomes = {}
    stored_convs: list[int] = []
    for c in touched:
        if c.id is None:
            continue
        before, after = stored_outcome(c), outcome(c.end_us, c.resolution)
        outcomes[c.id] = (before, after)
        if c.stored_values and (c.uuid in with_pairs or before != after):
            stored_convs.append(c.id)
    stored: dict[tuple[int, int, str], tuple[int, int]] = {}
    if prefetched is not None:
        wanted = set(stored_convs)
        rows = [r for r in prefetched if int(r["conversation_id"]) in wanted]
    elif stored_convs:
        rows = yield from select_in(
            "SELECT conversation_id, bot_id, intent, first_us, last_us FROM intent_convs "
            "WHERE conversation_id",
            sorted(stored_convs),
            "int8",
        )
    else:
        rows = []
    for r in rows:
        stored[(int(r["conversation_id"]), int(r["bot_id"]), str(r["intent"]))] = (
            int(r["first_us"]),
            int(r["last_us"]),
        )
    return outcomes, stored


def _pair_deltas(
    group: Group, bot_ids: dict[str, int], pairs: Pairs
) -> tuple[Rows, dict[tuple[int, int, str], list[int]]]:
    """The upsert of the group's (conversation, bot, intent) pairs into `intent_convs`, and what
    `intent_slots` gains per (first slot, bot, intent): a pair counts once, in the slot of its first
    message, with its conversation's outcome. A pair whose first message moves earlier (a late
    event) or whose conversation's end changes moves its contribution. `pairs`: `read_pairs`."""
    outcomes, stored = pairs
    added: dict[tuple[int, int, str], tuple[int, int]] = {}
    for (uuid, bot, intent), (first, last) in group.intent_pairs.items():
        cid = group.convs[uuid].id
        assert cid is not None
        added[(cid, bot_ids[bot], intent)] = (first, last)
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
    upsert = Rows(
        "intent_convs",
        (*_PAIR_KEY, "first_us", "last_us", "span_class"),
        writes,
        _PAIR_UPSERT,
        order=_PAIR_KEY,
    )
    return upsert, {k: v for k, v in deltas.items() if any(v)}


def insight_slots(group: Group, bot_ids: dict[str, int], pairs: Pairs) -> Steps[None]:
    """Add the group's messages to `model_slots`, `latency_slots` and `intent_slots` (and their days),
    and its pairs to `intent_convs` (with what they move in `intent_slots`): reads nothing back
    (`pairs` were read before, by `read_pairs`)."""
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
    per_slot: dict[tuple[int, int, str], list[int]] = {
        (slot, bot_ids[bot], intent): [*values, 0, 0, 0]
        for (slot, bot, intent), values in group.intent_slots.items()
    }
    upsert, deltas = _pair_deltas(group, bot_ids, pairs)
    yield upsert
    for key, delta in deltas.items():
        acc = per_slot.setdefault(key, [0] * (len(MESSAGE_COUNTS) + len(PAIR_COUNTS)))
        for i, v in enumerate(delta):
            acc[len(MESSAGE_COUNTS) + i] += v
    if per_slot:
        per_day: dict[tuple[int, int, str], list[int]] = {}
        for (slot, bot, intent), values in per_slot.items():
            acc = per_day.setdefault((slot // DAY_SLOTS, bot, intent), [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v
        for table, day_or_slot, rows in (("intent_slots", "slot", per_slot), ("intent_days", "day", per_day)):
            yield add_rows(
                table,
                (day_or_slot, "bot_id", "intent"),
                (*MESSAGE_COUNTS, *PAIR_COUNTS),
                [[*key, *values] for key, values in sorted(rows.items())],
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
