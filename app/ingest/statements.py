"""The SQL of a group's transaction, as generators of statements (``?`` placeholders; `writer` drives
them on either database): events, conversations, the rollups, the activity chains, bots and users.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.ingest.day_rollups import by_day, pair_deltas, pair_rows, relinked
from app.ingest.event_rows import write_events
from app.ingest.fold import Conv, Group
from app.ingest.insight_rollups import MESSAGE_COUNTS as _MESSAGE_COUNTS
from app.ingest.insight_rollups import SLOT_KEY as _SLOT_KEY
from app.ingest.insight_rollups import insight_slots, outcome, read_pairs
from app.ingest.outcome_rollups import affects_recontacts, apply_outcome_days, outcome_contribution
from app.ingest.steps import Inserts, Many, Query, Rows, Steps, Writes, add_rows, pending, select_in, unnest
from app.models import CONV_SLOT_COLUMNS, CONV_SLOT_SPEND, SLOT_US

T = TypeVar("T")

CONV_NAMES = (
    "bot_id", "user_id", "started_us", "start_event_us", "start_event_id", "channel", "last_activity_us",
    "activity_event_us", "end_us", "end_event_id", "resolution", "messages", "user_messages", "bot_messages",
    "fallback_messages", "rating_score", "rating_us", "rating_event_id", "tokens", "cost", "reason",
)  # fmt: skip
"""The `conversations` columns ingestion writes (besides `uuid`), in `_conv_values` order."""


def existing_ids(ids: list[str]) -> Steps[set[str]]:
    rows = yield from select_in("SELECT id FROM events WHERE id", ids)
    return {r["id"] for r in rows}


CONVERSATIONS = (
    "SELECT c.*, b.uuid AS bot_uuid, u.uuid AS user_uuid FROM conversations c "
    "LEFT JOIN bots b ON b.id = c.bot_id LEFT JOIN end_users u ON u.id = c.user_id WHERE c.uuid"
)
"""The stored conversations (with their bot's and user's uuids) whose uuid is one of a set."""


def load_conversations(uuids: list[str]) -> Steps[dict[str, Conv]]:
    return conversations_of((yield from select_in(CONVERSATIONS, uuids)))


def conversations_of(rows: list[dict[str, Any]]) -> dict[str, Conv]:
    """The folding state of stored conversations, from their rows (`CONVERSATIONS`)."""
    out: dict[str, Conv] = {}
    for r in rows:
        c = out[r["uuid"]] = Conv(
            id=r["id"],
            uuid=r["uuid"],
            bot=r["bot_uuid"],
            user=r["user_uuid"],
            started_us=r["started_us"],
            start_event_us=r["start_event_us"],
            start_event_id=r["start_event_id"],
            channel=r["channel"],
            activity_event_us=r["activity_event_us"],
            end_us=r["end_us"],
            end_event_id=r["end_event_id"],
            resolution=r["resolution"],
            messages=r["messages"],
            user_messages=r["user_messages"],
            bot_messages=r["bot_messages"],
            fallback_messages=r["fallback_messages"],
            rating_score=r["rating_score"],
            rating_us=r["rating_us"],
            rating_event_id=r["rating_event_id"],
            tokens=int(r["tokens"]),
            cost=float(r["cost"]),
            reason=r["reason"],
            recontacted=r["recontacted"],
        )
        c.stored_contribution = _contribution(c, r["bot_id"])
        c.stored_outcomes = outcome_contribution(c, r["bot_id"])
        c.stored_values = tuple(r[name] for name in CONV_NAMES)
    return out


@dataclass
class Known:
    """Bots (uuid: row id), users (uuid: `USERS` row) and intent pairs a transaction has read already, and the
    uuids it looked for (those it did not find were absent: a new bot is inserted or found, a new
    user upserted, either way whatever another transaction did meanwhile)."""

    bots: dict[str, int] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked_bots: set[str] = field(default_factory=set)
    asked_users: set[str] = field(default_factory=set)
    pairs: list[dict[str, Any]] | None = None
    """The stored `intent_convs` rows of every conversation the group names (`PAIRS_OF`), when read."""


def _contribution(c: Conv, bot_id: int | None) -> tuple[tuple[int, int], list[Any]] | None:
    """What one conversation adds to `conv_slots`: its key (start slot, bot) and column values."""
    if bot_id is None:
        return None
    ended = c.end_us is not None
    end_duration = max((c.end_us or 0) - c.started_us, 0) if ended else 0
    open_duration = 0 if ended else max(c.last_activity_us - c.started_us, 0)
    return (c.started_us // SLOT_US, bot_id), [
        1,
        c.messages,
        int(ended),
        int(ended and c.resolution == "resolved"),
        int(ended and c.resolution == "escalated"),
        int(ended and c.resolution == "abandoned"),
        end_duration,
        int(not ended),
        open_duration,
        c.tokens,
        c.cost,
    ]


_END_US, _RESOLUTION = CONV_NAMES.index("end_us"), CONV_NAMES.index("resolution")


def _stored_outcome(c: Conv) -> tuple[int, int]:
    """`outcome` of a conversation as it was stored before the group (none when it is new)."""
    if not c.stored_values:
        return 0, 0
    return outcome(c.stored_values[_END_US], c.stored_values[_RESOLUTION])


def _apply_conv_slots(touched: list[Conv], bot_ids: dict[str, int]) -> Steps[None]:
    deltas: dict[tuple[int, int], list[Any]] = {}
    for c in touched:
        for sign, contribution in (
            (-1, c.stored_contribution),
            (1, _contribution(c, bot_ids[c.bot] if c.bot else None)),
        ):
            if contribution is None:
                continue
            key, values = contribution
            acc = deltas.setdefault(key, [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += sign * v
    rows = [[slot, bot, *values] for (slot, bot), values in sorted(deltas.items()) if any(values)]
    if not rows:
        return
    yield add_rows("conv_slots", ("slot", "bot_id"), (*CONV_SLOT_COLUMNS, *CONV_SLOT_SPEND), rows)
    yield from by_day("conv_days", CONV_SLOT_COLUMNS, [row[: 2 + len(CONV_SLOT_COLUMNS)] for row in rows])


def _chain_rows(table: str, owner: tuple[str, ...], keys: Sequence[tuple[int, ...]]) -> Rows:
    """Insert `(slot, *owner)` activity rows into `table`, returning those that were not there."""
    names = ", ".join(("slot", *owner))
    return Rows(table, ("slot", *owner), keys, f"ON CONFLICT ({names}) DO NOTHING RETURNING {names}", True)


def _relink(
    table: str, owner: tuple[str, ...], rows: list[dict[str, Any]], postgres: bool
) -> list[Query | Many]:
    """The statements that keep the `prev_slot` chains (one per owner) of `table` exact once `rows`
    (`_chain_rows`) are new there, whatever the order events arrive in: a new row gets its
    predecessor looked up, and its successor now points at it (rows that were there already keep
    their links: most of a batch's activity is in slots its users were active in already). Either
    is worked out from the rows there are (not from other links), so on PostgreSQL both kinds of
    row are set by one UPDATE over the new rows and their successors, which sends them back
    (`day_rollups.relinked`)."""
    columns = ("slot", *owner)
    added = [tuple(r[col] for col in columns) for r in rows]
    if not added:
        return []
    same_owner = " AND ".join(f"{{a}}.{col} = {table}.{col}" for col in owner)
    prev = f"(SELECT MAX(p.slot) FROM {table} p WHERE {same_owner.format(a='p')} AND p.slot < {table}.slot)"
    if postgres:
        source, params = unnest(columns, added)
        successor = " AND ".join(f"n.{col} = r.{col}" for col in owner)
        next_slot = f"(SELECT MIN(n.slot) FROM {table} n WHERE {successor} AND n.slot > r.slot)"
        owners = ", ".join(f"r.{col}" for col in owner)
        return [
            Query(
                f"UPDATE {table} SET prev_slot = {prev} FROM (SELECT slot, {owners} FROM {source} "
                f"UNION SELECT {next_slot}, {owners} FROM {source}) AS k "
                f"WHERE {same_owner.format(a='k')} AND {table}.slot = k.slot "
                f"RETURNING {', '.join(f'{table}.{col}' for col in (*columns, 'prev_slot'))}",
                params + params,
            )
        ]
    owner_is = " AND ".join(f"{col} = ?" for col in owner)
    next_owner_is = " AND ".join(f"n.{col} = ?" for col in owner)
    update = f"UPDATE {table} SET prev_slot = {prev}"
    return [
        Many(f"{update} WHERE {owner_is} AND slot = ?", [[*k[1:], k[0]] for k in added]),
        Many(
            f"{update} WHERE {owner_is} AND slot = "
            f"(SELECT MIN(n.slot) FROM {table} n WHERE {next_owner_is} AND n.slot > ?)",
            [[*k[1:], *k[1:], k[0]] for k in added],
        ),
    ]


_CHAINS = (("user_slots", ("bot_id", "user_id")), ("user_slots_all", ("user_id",)))
"""The activity chains: per bot and user (`user_slots`), per user across bots (`user_slots_all`)."""


BOTS = "SELECT id, uuid FROM bots WHERE uuid"
USERS = "SELECT id, uuid, first_active_us FROM end_users WHERE uuid"


def _bot_ids(uuids: set[str], known: Known) -> Steps[dict[str, int]]:
    """The bots' row ids (`known` ones read already in this transaction), inserting new bots."""
    wanted = sorted(uuids)
    found = {u: known.bots[u] for u in wanted if u in known.bots}
    select = [u for u in wanted if u not in found and u not in known.asked_bots]
    if select:
        found.update({r["uuid"]: r["id"] for r in (yield from select_in(BOTS, select))})
    missing = [u for u in wanted if u not in found]
    if missing:
        yield Many("INSERT INTO bots (uuid) VALUES (?) ON CONFLICT (uuid) DO NOTHING", [[u] for u in missing])
        found.update({r["uuid"]: r["id"] for r in (yield from select_in(BOTS, missing))})
    return found


_EARLIER = "{t}.first_active_us IS NULL OR excluded.first_active_us < {t}.first_active_us"
"""An upsert's incoming first activity is earlier than the stored one (which may be unknown)."""


def _upsert_users(first_active: dict[str, int | None], known: Known) -> Steps[dict[str, int]]:
    """Return the `end_users` row ids of these users, inserting the new ones and moving a user's first
    activity earlier where this group saw an earlier one (rows that do not change are not written).
    `known`: rows read already in this transaction (a user whose first activity this group does not
    move needs only its id there)."""
    found: dict[str, int] = {}
    earlier: list[list[Any]] = []
    rows = [known.users[u] for u in first_active if u in known.users]
    asked = known.users.keys() | known.asked_users
    rows += yield from select_in(USERS, sorted(u for u in first_active if u not in asked))
    for r in rows:
        found[r["uuid"]] = r["id"]
        ts = first_active[r["uuid"]]
        if ts is not None and (r["first_active_us"] is None or ts < r["first_active_us"]):
            earlier.append([ts, r["id"], ts])
    if earlier:
        yield Many(
            "UPDATE end_users SET first_active_us = ? WHERE id = ? "
            "AND (first_active_us IS NULL OR first_active_us > ?)",
            earlier,
        )
    missing = [u for u in sorted(first_active) if u not in found]
    # The transaction saw these absent; should a row appear meanwhile all the same, the upsert
    # still returns its id (and keeps the earlier first activity).
    returned = yield Rows(
        "end_users",
        ("uuid", "first_active_us"),
        [(u, first_active[u]) for u in missing],
        "ON CONFLICT (uuid) DO UPDATE SET first_active_us = CASE WHEN "
        + _EARLIER.format(t="end_users")
        + " THEN excluded.first_active_us ELSE end_users.first_active_us END RETURNING id, uuid",
        True,
    )
    found.update({r["uuid"]: r["id"] for r in returned or ()})
    return found


def _conv_values(c: Conv, bot_ids: dict[str, int], user_ids: dict[str, int]) -> list[Any]:
    return [
        bot_ids[c.bot] if c.bot else None,
        user_ids[c.user] if c.user else None,
        c.started_us,
        c.start_event_us,
        c.start_event_id,
        c.channel,
        c.last_activity_us,
        c.activity_event_us,
        c.end_us,
        c.end_event_id,
        c.resolution,
        c.messages,
        c.user_messages,
        c.bot_messages,
        c.fallback_messages,
        c.rating_score,
        c.rating_us,
        c.rating_event_id,
        c.tokens,
        c.cost,
        c.reason,
    ]


def _update_conversations(old: list[Conv], values_of: dict[str, list[Any]], postgres: bool) -> Steps[None]:
    """Write the conversations that were stored before and changed. SQLite: only the columns that
    changed (an index none of whose columns is SET is left alone), an `executemany` per set of
    them. PostgreSQL: one UPDATE of every column over all of them (an index whose columns keep
    their values is left alone there all the same: the update stays HOT if none changed)."""
    updates: defaultdict[tuple[int, ...], list[list[Any]]] = defaultdict(list)
    rows: list[list[Any]] = []
    for c in old:
        values = values_of[c.uuid]
        changed = tuple(
            i for i, (new, was) in enumerate(zip(values, c.stored_values, strict=True)) if new != was
        )
        if changed and postgres:
            rows.append([c.id, *values])
        elif changed:
            updates[changed].append([*(values[i] for i in changed), c.id])
    if rows:
        source, params = unnest(("conversation_id", *CONV_NAMES), rows)
        assignments = ", ".join(f"{name} = r.{name}" for name in CONV_NAMES)
        yield Query(
            f"UPDATE conversations SET {assignments} FROM {source} WHERE id = r.conversation_id", params
        )
    for changed, changed_rows in updates.items():
        assignments = ", ".join(f"{CONV_NAMES[i]} = ?" for i in changed)
        yield Many(f"UPDATE conversations SET {assignments} WHERE id = ?", changed_rows)


def write_group(group: Group, postgres: bool, known: Known | None = None) -> Steps[None]:
    """Write everything the accepted batches changed (`known`: bots and users read already)."""
    known = known or Known()
    touched = [group.touched[u] for u in sorted(group.touched)]
    bot_ids = yield from _bot_ids({c.bot for c in touched if c.bot}, known)
    users: dict[str, int | None] = {c.user: None for c in touched if c.user}
    users.update(group.first_active)
    user_ids = yield from _upsert_users(users, known)

    new_convs = [c for c in touched if c.id is None]
    old_convs = [c for c in touched if c.id is not None]
    keys = sorted({(slot, bot_ids[bot], user_ids[user]) for slot, bot, user in group.user_slot_keys})
    parts: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    inserts = (
        Rows(
            "conversations",
            ("uuid", *CONV_NAMES),
            [(c.uuid, *_conv_values(c, bot_ids, user_ids)) for c in new_convs],
            "RETURNING id, uuid",
            True,
        ),
        _chain_rows(*_CHAINS[0], keys),
        _chain_rows(*_CHAINS[1], sorted({(s, u) for s, _b, u in keys})),
    )
    for row in (yield Inserts(inserts)) or ():
        parts[row.pop("part")].append(row)
    ids = {r["uuid"]: r["id"] for r in parts[0]}
    for c in new_convs:
        c.id = ids[c.uuid]
    relink = [(i, step) for i, chain in enumerate(_CHAINS, 1) for step in _relink(*chain, parts[i], postgres)]
    msg_rows = [[slot, bot_ids[bot], *counts] for (slot, bot), counts in sorted(group.msg_slots.items())]
    pairs = yield from read_pairs(group, touched, _stored_outcome, known.pairs)
    values = {c.uuid: _conv_values(c, bot_ids, user_ids) for c in old_convs}
    # The rest reads nothing back but the relinked chain rows (PostgreSQL): there one COPY of the
    # events, then one statement, the rollup rows every concurrent group adds to last (their row
    # locks are held from there to the commit).
    events = pending(write_events(group, bot_ids, user_ids, postgres))
    chain_of = {len(events) + k: i for k, (i, _) in enumerate(relink)}  # PostgreSQL: a relink a chain
    written = yield Writes(
        (
            *events,
            *(step for _, step in relink),
            *pending(_update_conversations(old_convs, values, postgres)),
            Rows(
                "bot_users",
                ("bot_id", "user_id", "first_active_us"),
                [[bot_ids[b], user_ids[u], ts] for (b, u), ts in sorted(group.bot_user_first.items())],
                "ON CONFLICT (bot_id, user_id) DO UPDATE SET first_active_us = excluded.first_active_us "
                "WHERE " + _EARLIER.format(t="bot_users"),
            ),
            add_rows("message_slots", _SLOT_KEY, _MESSAGE_COUNTS, msg_rows),
            *pending(by_day("message_days", _MESSAGE_COUNTS, msg_rows)),
            *pending(_apply_conv_slots(touched, bot_ids)),
            *pending(insight_slots(group, bot_ids, pairs)),
        ),
        reads=tuple(chain_of) if postgres else (),
    )
    # The day pairs count the relinked chains (SQLite reads them back), the recontact flags read the
    # conversations written above: after them; their rollup upserts go together at the end.
    upserts: list[Rows | None] = []
    for i, (table, owner) in enumerate(_CHAINS, 1):
        added = [tuple(r[col] for col in ("slot", *owner)) for r in parts[i]]
        if postgres:
            returned = [r for r in written or () if chain_of[r["part"]] == i]
            upserts.append(pair_rows(table, owner, relinked(owner, added, returned)))
        else:
            upserts.append((yield from pair_deltas(table, owner, added)))
    recontact = _recontact_users(new_convs, old_convs, values, user_ids)
    upserts.append((yield from apply_outcome_days(touched, bot_ids, recontact)))
    if any(upserts):
        yield Writes(tuple(step for step in upserts if step is not None))


def _recontact_users(
    new: list[Conv], old: list[Conv], values: dict[str, list[Any]], user_ids: dict[str, int]
) -> list[int]:
    """The users of new conversations and of those whose bot, user, start or end changed (`values`:
    the stored ones' rows as written, `_conv_values`)."""
    users = {user_ids[c.user] for c in new if c.user and c.bot}
    for c in old:
        row = values[c.uuid]
        if row[0] is not None and row[1] is not None and affects_recontacts(row, c.stored_values):
            users.add(row[1])
    return sorted(users)
