"""Conversation folding: a group's batches folded one after the other into the state of the
conversations they touch and the rollup rows they add to, without SQL (written by
`statements.write_group`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import Forbidden, InvalidBody
from app.ingest.events import IngestResult, NewEvent
from app.models import SLOT_US

if TYPE_CHECKING:
    from app.ingest.group import Job


@dataclass(slots=True)
class Conv:
    """A conversation's folded state while a group is applied (uuids, not row ids)."""

    id: int | None
    uuid: str
    bot: str | None
    user: str | None
    started_us: int
    start_event_us: int | None = None
    start_event_id: str | None = None
    channel: str = "unknown"
    activity_event_us: int | None = None
    end_us: int | None = None
    end_event_id: str | None = None
    resolution: str | None = None
    messages: int = 0
    user_messages: int = 0
    bot_messages: int = 0
    fallback_messages: int = 0
    rating_score: int | None = None
    rating_us: int | None = None
    rating_event_id: str | None = None
    tokens: int = 0
    cost: float = 0.0
    reason: str | None = None
    recontacted: int = 0
    """As stored (ingestion never sets it from Python: `outcome_rollups` recomputes it in SQL)."""
    stored_contribution: tuple[tuple[int, int], list[Any]] | None = None
    stored_values: tuple[Any, ...] = ()
    """Its row as loaded, in `statements.CONV_NAMES` order (an UPDATE sets only the columns that changed)."""
    stored_outcomes: list[Any] = field(default_factory=list)
    """What it added to `outcome_days` as loaded (`outcome_rollups.outcome_contribution`)."""

    @property
    def last_activity_us(self) -> int:
        return self.activity_event_us if self.activity_event_us is not None else self.started_us

    def fold(self, e: NewEvent) -> None:
        """Apply one event; the result does not depend on the order events arrive in."""
        etype, ts = e.type, e.ts_us
        if etype == "message":
            if self.activity_event_us is None or ts > self.activity_event_us:
                self.activity_event_us = ts
            self.messages += 1
            if e.tokens is not None:
                self.tokens += e.tokens
            if e.cost is not None:
                self.cost += e.cost
            if e.role == "user":
                self.user_messages += 1
            else:
                self.bot_messages += 1
                if e.fallback:
                    self.fallback_messages += 1
        elif etype == "conversation_started":
            if (
                self.start_event_us is None
                or ts < self.start_event_us
                or (ts == self.start_event_us and e.id > (self.start_event_id or ""))
            ):
                self.start_event_us, self.start_event_id = ts, e.id
                self.channel = e.channel or "web"
            if self.activity_event_us is None or ts > self.activity_event_us:
                self.activity_event_us = ts
        elif etype == "conversation_ended":
            if (
                self.end_us is None
                or ts > self.end_us
                or (ts == self.end_us and e.id > (self.end_event_id or ""))
            ):
                self.end_us, self.end_event_id, self.resolution = ts, e.id, e.resolution
                self.reason = e.reason
        elif (
            self.rating_us is None
            or ts > self.rating_us
            or (ts == self.rating_us and e.id > (self.rating_event_id or ""))
        ):
            self.rating_us, self.rating_event_id, self.rating_score = ts, e.id, e.score
        if self.start_event_us is not None:
            self.started_us = self.start_event_us
        elif ts < self.started_us:
            self.started_us = ts


@dataclass(eq=False)
class Group:
    """Batches folded one after the other into shared state, then written together."""

    convs: dict[str, Conv]
    seen: set[str]
    """Event ids already stored, or accepted from an earlier batch of the group."""
    touched: dict[str, Conv] = field(default_factory=dict)
    rows: list[tuple[NewEvent, Conv, str | None, str | None, int]] = field(default_factory=list)
    msg_slots: defaultdict[tuple[int, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    first_active: dict[str, int] = field(default_factory=dict)
    bot_user_first: dict[tuple[str, str], int] = field(default_factory=dict)
    user_slot_keys: set[tuple[int, str, str]] = field(default_factory=set)
    model_slots: defaultdict[tuple[int, str, str | None], list[Any]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0.0, 0, 0])
    )
    """(slot, bot, model) -> messages, bot messages, tokens, cost, latencies, latency sum."""
    latency_slots: defaultdict[tuple[int, str, str | None, int], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    """(slot, bot, model, latency_ms) -> bot messages with that latency."""
    intent_slots: defaultdict[tuple[int, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    """(slot, bot, intent) -> messages, user messages, bot messages, bot messages with fallback."""
    intent_pairs: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    """(conversation, bot, intent) -> the first and last timestamp of its messages in the group."""

    def add(self, job: Job) -> IngestResult:
        """Fold one batch in, as if it were applied alone after the batches before it; raise
        Forbidden when one of its events touches a conversation of a bot outside the caller's scope
        (an end event names no bot), InvalidBody when one names another bot or user for a
        conversation; either changes nothing."""
        seen, convs = self.seen, self.convs
        fresh = [e for e in job.events if e.id not in seen]
        duplicates = job.duplicates + len(job.events) - len(fresh)
        if not fresh:
            return IngestResult(accepted=0, duplicates=duplicates)
        scope = job.bot_scope
        if scope is not None:
            for e in fresh:
                c = convs.get(e.conversation)
                if c is not None and c.bot is not None and c.bot not in scope:
                    raise Forbidden(
                        f"event {e.index}: conversation_id {e.conversation} belongs to a bot "
                        "outside this credential's bot scope"
                    )
        owners: dict[str, list[str | None]] = {}
        errors: list[dict[str, Any]] = []
        for e in fresh:
            owner = owners.get(e.conversation)
            if owner is None:
                c = convs.get(e.conversation)
                owner = owners[e.conversation] = [c.bot, c.user] if c is not None else [None, None]
            if e.bot is not None:
                if owner[0] is None:
                    owner[0] = e.bot
                elif owner[0] != e.bot:
                    errors.append(
                        {
                            "index": e.index,
                            "field": "bot_id",
                            "message": "conversation belongs to another bot",
                        }
                    )
                    continue
            if e.user is not None:
                if owner[1] is None:
                    owner[1] = e.user
                elif owner[1] != e.user:
                    errors.append(
                        {
                            "index": e.index,
                            "field": "user_id",
                            "message": "conversation belongs to another user",
                        }
                    )
        if errors:
            raise InvalidBody(f"{len(errors)} invalid event(s): nothing was stored", errors)

        touched = self.touched
        for e in fresh:
            c = convs.get(e.conversation)
            if c is None:
                c = convs[e.conversation] = Conv(
                    id=None, uuid=e.conversation, bot=None, user=None, started_us=e.ts_us
                )
                touched[e.conversation] = c
            elif e.conversation not in touched:
                touched[e.conversation] = c
            c.fold(e)
        for conv, (bot, user) in owners.items():
            c = convs[conv]
            c.bot, c.user = bot, user

        # Rollups, with each event's bot and user as its conversation has them after this batch.
        rows, msg_slots, first_active = self.rows, self.msg_slots, self.first_active
        bot_user_first, user_slot_keys = self.bot_user_first, self.user_slot_keys
        model_slots, latency_slots, intent_slots = self.model_slots, self.latency_slots, self.intent_slots
        intent_pairs = self.intent_pairs
        now_us = job.now_us
        for e in fresh:
            c = convs[e.conversation]
            bot, user = e.bot or c.bot, e.user or c.user
            rows.append((e, c, bot, user, now_us))
            etype = e.type
            if etype == "message":
                if bot:
                    slot = e.ts_us // SLOT_US
                    is_bot = e.role != "user"
                    counts = msg_slots[(slot, bot)]
                    counts[0] += 1
                    if is_bot:
                        counts[2] += 1
                        if e.fallback:
                            counts[3] += 1
                    else:
                        counts[1] += 1
                    spend = model_slots[(slot, bot, e.model)]
                    spend[0] += 1
                    if e.tokens is not None:
                        spend[2] += e.tokens
                    if e.cost is not None:
                        spend[3] += e.cost
                    if is_bot:
                        spend[1] += 1
                        if e.latency_ms is not None:
                            spend[4] += 1
                            spend[5] += e.latency_ms
                            latency_slots[(slot, bot, e.model, e.latency_ms)] += 1
                    if e.intent is not None:
                        pair_key = (c.uuid, bot, e.intent)
                        pair = intent_pairs.get(pair_key)
                        if pair is None:
                            intent_pairs[pair_key] = [e.ts_us, e.ts_us]
                        elif e.ts_us < pair[0]:
                            pair[0] = e.ts_us
                        elif e.ts_us > pair[1]:
                            pair[1] = e.ts_us
                        per_intent = intent_slots[(slot, bot, e.intent)]
                        per_intent[0] += 1
                        if is_bot:
                            per_intent[2] += 1
                            if e.fallback:
                                per_intent[3] += 1
                        else:
                            per_intent[1] += 1
                if e.role != "user":
                    continue
            elif etype != "conversation_started":
                continue
            if bot and user:
                ts = e.ts_us
                prev = first_active.get(user)
                if prev is None or ts < prev:
                    first_active[user] = ts
                key = (bot, user)
                prev = bot_user_first.get(key)
                if prev is None or ts < prev:
                    bot_user_first[key] = ts
                user_slot_keys.add((ts // SLOT_US, bot, user))
        seen.update(e.id for e in fresh)
        return IngestResult(accepted=len(fresh), duplicates=duplicates)
