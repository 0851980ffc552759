"""Bulk loader: a synthetic data set written straight into a SQLite database made by the app's
migrations, with exactly the rows ingestion (`app.ingest`) would have written for its events:
`events`, `conversations`, `message_slots`, `user_slots`, `bot_users`, `end_users`, `bots`
(tests/bench/test_bulk_load.py checks that against `ingest_events` on a small data set).

    python -m bench.bulk_load [--conversations 400000 --users 40000 --bots 6 --days 90 --force]

Fast because: one pass in Python over the generated conversations folding rollups in dicts;
`executemany` in chunks of 100k rows on a writer thread (sqlite3 steps without the GIL);
`journal_mode=WAL, synchronous=OFF`, a 2 GB page cache; the secondary indexes of `events` and
`conversations` dropped during the load and re-created from their own SQL afterwards.

The built file is cached under bench/out/ keyed by the parameters (and reused while it is younger
than `max_age_hours`, since the data ends at the time it was built).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.models import SLOT_US
from bench.common import OUT_DIR, remove_sqlite, sqlite_url
from bench.datagen import Conv, Dataset, Params, now_us

EVENT_COLUMNS = (
    "id, type, conversation_id, bot_id, user_id, ts_us, role, fallback, intent, latency_ms, tokens, "
    "channel, resolution, score, comment, received_us, model, cost, reason"
)
CONV_COLUMNS = (
    "id, uuid, bot_id, user_id, started_us, start_event_us, start_event_id, channel, last_activity_us, "
    "activity_event_us, end_us, end_event_id, resolution, messages, user_messages, bot_messages, "
    "fallback_messages, rating_score, rating_us, rating_event_id, tokens, cost, reason"
)
INSERT_EVENTS = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({','.join('?' * 19)})"
# Per kind of event: the statement for its compact row (only the columns it sets; binding a
# parameter costs ~0.5 us in sqlite3, so binding 6 instead of 16 is what makes the load fast).
EVENT_STATEMENTS = {
    "start": "INSERT INTO events (id, type, conversation_id, bot_id, user_id, ts_us, channel, received_us) "
    "VALUES (?, 'conversation_started', ?, ?, ?, ?, ?, {rec})",
    "user": "INSERT INTO events (id, type, conversation_id, bot_id, user_id, ts_us, role, intent, model, cost, "
    "received_us) VALUES (?, 'message', ?, ?, ?, ?, 'user', ?, ?, ?, {rec})",
    "bot": "INSERT INTO events (id, type, conversation_id, bot_id, user_id, ts_us, role, intent, fallback, "
    "latency_ms, tokens, model, cost, received_us) VALUES (?, 'message', ?, ?, ?, ?, 'bot', ?, ?, ?, ?, ?, ?, {rec})",
    "end": "INSERT INTO events (id, type, conversation_id, bot_id, user_id, ts_us, resolution, reason, "
    "received_us) VALUES (?, 'conversation_ended', ?, ?, ?, ?, ?, ?, {rec})",
    "rating": "INSERT INTO events (id, type, conversation_id, bot_id, user_id, ts_us, score, comment, "
    "received_us) VALUES (?, 'satisfaction', ?, ?, ?, ?, ?, ?, {rec})",
}


def new_event_rows() -> dict[str, list[tuple[Any, ...]]]:
    return {kind: [] for kind in EVENT_STATEMENTS}


def full_event_rows(rows: dict[str, list[tuple[Any, ...]]], received_us: int) -> list[tuple[Any, ...]]:
    """The compact rows as the 19 columns of `INSERT_EVENTS` (what `app.ingest` binds)."""
    rec = received_us
    n = None
    out: list[tuple[Any, ...]] = []
    for i, c, b, u, ts, ch in rows["start"]:
        out.append((i, "conversation_started", c, b, u, ts, n, n, n, n, n, ch, n, n, n, rec, n, n, n))
    for i, c, b, u, ts, intent, model, cost in rows["user"]:
        out.append((i, "message", c, b, u, ts, "user", n, intent, n, n, n, n, n, n, rec, model, cost, n))
    for i, c, b, u, ts, intent, fb, lat, tok, model, cost in rows["bot"]:
        out.append((i, "message", c, b, u, ts, "bot", fb, intent, lat, tok, n, n, n, n, rec, model, cost, n))
    for i, c, b, u, ts, res, reason in rows["end"]:
        out.append((i, "conversation_ended", c, b, u, ts, n, n, n, n, n, n, res, n, n, rec, n, n, reason))
    for i, c, b, u, ts, score, comment in rows["rating"]:
        out.append((i, "satisfaction", c, b, u, ts, n, n, n, n, n, n, n, score, comment, rec, n, n, n))
    return out


# `recontacted` (0 here) and `outcome_days` are then set by the backfill of their migration.
INSERT_CONVS = f"INSERT INTO conversations ({CONV_COLUMNS}, recontacted) VALUES ({','.join('?' * 23)}, 0)"
INSERT_BOTS = "INSERT INTO bots (id, uuid) VALUES (?, ?)"
# The tables besides bots, events and conversations, in the order `load` writes them.
INSERT_ROLLUPS = {
    "end_users": "INSERT INTO end_users (id, uuid, first_active_us) VALUES (?, ?, ?)",
    "bot_users": "INSERT INTO bot_users (bot_id, user_id, first_active_us) VALUES (?, ?, ?)",
    "message_slots": "INSERT INTO message_slots (slot, bot_id, messages, user_messages, bot_messages, "
    "fallback_messages) VALUES (?, ?, ?, ?, ?, ?)",
    "user_slots": "INSERT INTO user_slots (slot, bot_id, user_id, prev_slot) VALUES (?, ?, ?, ?)",
    "user_slots_all": "INSERT INTO user_slots_all (slot, user_id, prev_slot) VALUES (?, ?, ?)",
    "conv_slots": "INSERT INTO conv_slots (slot, bot_id, conversations, messages, ended, resolved, escalated, "
    "abandoned, ended_duration_us, open, open_duration_us, tokens, cost) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "model_slots": "INSERT INTO model_slots (slot, bot_id, has_model, model, messages, bot_messages, tokens, "
    "cost, latency_count, latency_sum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "latency_slots": "INSERT INTO latency_slots (slot, bot_id, has_model, model, latency_ms, messages) "
    "VALUES (?, ?, ?, ?, ?, ?)",
    "intent_slots": "INSERT INTO intent_slots (slot, bot_id, intent, messages, user_messages, bot_messages, "
    "fallback_messages) VALUES (?, ?, ?, ?, ?, ?, ?)",
}
CHUNK = 100_000
KNOWN_TABLES = {
    "tortoise_migrations", "sqlite_sequence", "api_keys", "reports", "bots", "end_users", "bot_users",
    "conversations", "events", "message_slots", "user_slots", "user_slots_all", "conv_slots",
    "model_slots", "latency_slots", "intent_slots", "outcome_days", "model_days", "latency_days",
    "latency_day_bands", "message_days", "conv_days", "user_day_pairs", "user_day_pairs_all",
    "intent_convs", "intent_days",
}  # fmt: skip
LOADER_VERSION = 3


def backfill(migration: str) -> list[str]:
    """A migration's backfill statements: the tables it fills from rows loaded before it (one
    implementation of their rows, not a second one here)."""
    import importlib

    module = importlib.import_module(f"app.migrations.{migration}")
    return list(getattr(module, "BACKFILL", None) or module._BACKFILL)


def day_backfill() -> list[str]:
    """The per-day rollups, from the slot rollups and activity chains: `model_days`, `latency_days`,
    `latency_day_bands` (0006); `message_days`, `conv_days`, `user_day_pairs(_all)` (0007)."""
    return backfill("0006_latency_bands") + backfill("0007_usage_speed")


def schema_fingerprint() -> str:
    """Changes whenever the migrations (the schema) or this loader change: part of the cache key."""
    import hashlib

    import app.migrations

    h = hashlib.sha256(f"loader-{LOADER_VERSION}".encode())
    for f in sorted(Path(app.migrations.__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:10]


@dataclass
class Folder:
    """Folds conversations into table rows the way ingestion does (`app/ingest/fold.py` and
    `statements.py`), with row ids assigned in order of first appearance (ingestion's ids differ
    but nothing reads them across tables by value: the check compares through the UUIDs)."""

    ds: Dataset
    received_us: int
    user_ids: dict[int, int] = field(default_factory=dict)  # user index -> end_users.id
    user_first: dict[int, int] = field(default_factory=dict)  # end_users.id -> first_active_us
    bot_user_first: dict[tuple[int, int], int] = field(default_factory=dict)
    msg_slots: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    model_slots: dict[tuple[int, int, str | None], list[Any]] = field(default_factory=dict)
    latency_slots: dict[tuple[int, int, str | None, int], int] = field(default_factory=dict)
    intent_slots: dict[tuple[int, int, str], list[int]] = field(default_factory=dict)
    user_slots: set[tuple[int, int, int]] = field(default_factory=set)
    conv_rows: list[tuple[Any, ...]] = field(default_factory=list)
    next_conv_id: int = 1
    events: int = 0
    messages: int = 0

    def bot_rows(self) -> list[tuple[int, str]]:
        return [(i + 1, u) for i, u in enumerate(self.ds.bot_uuids)]

    def fold(self, c: Conv, out: dict[str, list[tuple[Any, ...]]]) -> None:
        """Append the conversation's `events` rows to `out[kind]` (the columns of `EVENT_STATEMENTS[kind]`);
        keep its other rows."""
        bot = c.bot + 1
        uid = self.user_ids.get(c.user)
        if uid is None:
            uid = self.user_ids[c.user] = len(self.user_ids) + 1
        cid = self.next_conv_id
        self.next_conv_id += 1
        first = c.start_us  # activity: the start and the user's own messages
        user_slots = self.user_slots
        user_slots.add((c.start_us // SLOT_US, bot, uid))
        out["start"].append((c.start_id, cid, bot, uid, c.start_us, c.channel))
        user_rows, bot_rows = out["user"], out["bot"]
        last_activity = c.start_us
        n_user = n_bot = n_fallback = 0
        slots = self.msg_slots
        key: tuple[int, int] | None = None
        counts: list[int] = []
        conv_tokens, conv_cost = 0, 0.0
        model_slots, latency_slots, intent_slots = self.model_slots, self.latency_slots, self.intent_slots
        for eid, ts, is_user, intent, fallback, latency, tokens, model, cost in c.messages:
            slot = ts // SLOT_US
            spend = model_slots.get((slot, bot, model))
            if spend is None:
                spend = model_slots[(slot, bot, model)] = [0, 0, 0, 0.0, 0, 0]
            spend[0] += 1
            if tokens is not None:
                spend[2] += tokens
                conv_tokens += tokens
            if cost is not None:
                spend[3] += cost
                conv_cost += cost
            if not is_user:
                spend[1] += 1
                if latency is not None:
                    spend[4] += 1
                    spend[5] += latency
                    lkey = (slot, bot, model, latency)
                    latency_slots[lkey] = latency_slots.get(lkey, 0) + 1
            if intent is not None:
                per_intent = intent_slots.get((slot, bot, intent))
                if per_intent is None:
                    per_intent = intent_slots[(slot, bot, intent)] = [0, 0, 0, 0]
                per_intent[0] += 1
                if is_user:
                    per_intent[1] += 1
                else:
                    per_intent[2] += 1
                    per_intent[3] += bool(fallback)
            if key is None or key[0] != slot:
                key = (slot, bot)
                counts = slots.get(key)  # type: ignore[assignment]
                if counts is None:
                    counts = slots[key] = [0, 0, 0, 0]
            counts[0] += 1
            if is_user:
                n_user += 1
                counts[1] += 1
                user_slots.add((slot, bot, uid))
                if ts < first:
                    first = ts
                user_rows.append((eid, cid, bot, uid, ts, intent, model, cost))
            else:
                n_bot += 1
                counts[2] += 1
                if fallback:
                    n_fallback += 1
                    counts[3] += 1
                bot_rows.append((eid, cid, bot, uid, ts, intent, fallback, latency, tokens, model, cost))
            if ts > last_activity:
                last_activity = ts
        end_us = end_id = resolution = reason = None
        if c.end is not None:
            end_id, end_us, resolution, reason = c.end
            out["end"].append((end_id, cid, bot, uid, end_us, resolution, reason))
        r_score = r_us = r_id = None
        if c.rating is not None:
            r_id, r_us, r_score, comment = c.rating
            out["rating"].append((r_id, cid, bot, uid, r_us, r_score, comment))
        n_msgs = n_user + n_bot
        self.events += 1 + n_msgs + (c.end is not None) + (c.rating is not None)
        self.messages += n_msgs
        prev = self.user_first.get(uid)
        if prev is None or first < prev:
            self.user_first[uid] = first
        bu = (bot, uid)
        prev = self.bot_user_first.get(bu)
        if prev is None or first < prev:
            self.bot_user_first[bu] = first
        self.conv_rows.append(
            (cid, c.uuid, bot, uid, c.start_us, c.start_us, c.start_id, c.channel, last_activity,
             last_activity, end_us, end_id, resolution, n_msgs, n_user, n_bot, n_fallback, r_score, r_us,
             r_id, conv_tokens, conv_cost, reason)
        )  # fmt: skip

    def end_user_rows(self) -> list[tuple[int, str, int]]:
        uuids = self.ds.user_uuids
        return sorted((uid, uuids[idx], self.user_first[uid]) for idx, uid in self.user_ids.items())

    def bot_user_rows(self) -> list[tuple[int, int, int]]:
        return [(b, u, ts) for (b, u), ts in sorted(self.bot_user_first.items())]

    def message_slot_rows(self) -> list[tuple[int, int, int, int, int, int]]:
        return [(slot, bot, *counts) for (slot, bot), counts in sorted(self.msg_slots.items())]  # type: ignore[misc]

    def user_slot_chain_rows(self) -> list[tuple[int, int, int, int | None]]:
        """`user_slots` with `prev_slot`: the same user's previous active slot with the same bot."""
        out: list[tuple[int, int, int, int | None]] = []
        prev_key: tuple[int, int] | None = None
        prev_slot: int | None = None
        for bot, user, slot in sorted((b, u, s) for s, b, u in self.user_slots):
            if (bot, user) != prev_key:
                prev_key, prev_slot = (bot, user), None
            out.append((slot, bot, user, prev_slot))
            prev_slot = slot
        return out

    def user_slot_all_rows(self) -> list[tuple[int, int, int | None]]:
        """`user_slots_all`: (slot, user, previous active slot of the user with any bot)."""
        out: list[tuple[int, int, int | None]] = []
        prev_user: int | None = None
        prev_slot: int | None = None
        for user, slot in sorted({(u, s) for s, _b, u in self.user_slots}):
            if user != prev_user:
                prev_user, prev_slot = user, None
            out.append((slot, user, prev_slot))
            prev_slot = slot
        return out

    def rollup_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows of each table of `INSERT_ROLLUPS` (call after folding every conversation)."""
        return {
            "end_users": list(self.end_user_rows()),
            "bot_users": list(self.bot_user_rows()),
            "message_slots": list(self.message_slot_rows()),
            "user_slots": list(self.user_slot_chain_rows()),
            "user_slots_all": list(self.user_slot_all_rows()),
            "conv_slots": self.conv_slot_rows(),
            "model_slots": [
                (slot, bot, int(model is not None), model or "", *v)
                for (slot, bot, model), v in self.model_slots.items()
            ],
            "latency_slots": [
                (slot, bot, int(model is not None), model or "", latency, n)
                for (slot, bot, model, latency), n in self.latency_slots.items()
            ],
            "intent_slots": [(slot, bot, intent, *v) for (slot, bot, intent), v in self.intent_slots.items()],
        }

    def conv_slot_rows(self) -> list[tuple[Any, ...]]:
        """`conv_slots`: per (start slot, bot) the folded totals of the conversations started there."""
        acc: dict[tuple[int, int], list[Any]] = {}
        for row in self.conv_rows:
            bot, started, last_activity, end_us, resolution, messages = (
                row[2],
                row[4],
                row[8],
                row[10],
                row[12],
                row[13],
            )
            ended = end_us is not None
            v = acc.setdefault((started // SLOT_US, bot), [0] * 10 + [0.0])
            v[9] += row[20]
            v[10] += row[21]
            v[0] += 1
            v[1] += messages
            if ended:
                v[2] += 1
                v[3] += resolution == "resolved"
                v[4] += resolution == "escalated"
                v[5] += resolution == "abandoned"
                v[6] += max(end_us - started, 0)
            else:
                v[7] += 1
                v[8] += max(last_activity - started, 0)
        return [(slot, bot, *v) for (slot, bot), v in sorted(acc.items())]


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def migrate(path: Path) -> None:
    from app.db import migrate_db

    asyncio.run(migrate_db(sqlite_url(path)))


def _secondary_indexes(conn: sqlite3.Connection, tables: Iterable[str]) -> list[tuple[str, str]]:
    marks = ",".join("?" * len(list(tables)))
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
        list(tables),
    ).fetchall()
    return [(str(n), str(s)) for n, s in rows]


class _Writer:
    """executemany on a background thread, so Python generation overlaps SQLite's work."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.q: queue.Queue[tuple[str, list[tuple[Any, ...]]] | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (item := self.q.get()) is not None:
                self.conn.executemany(*item)
        except BaseException as exc:  # reported by close()
            self.error = exc
            while self.q.get() is not None:
                pass

    def put(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if self.error is not None:
            raise self.error
        self.q.put((statement, rows))

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


@dataclass
class LoadStats:
    conversations: int
    events: int
    messages: int
    users: int
    seconds: float


def load(path: Path, ds: Dataset, *, received_us: int | None = None, progress: bool = False) -> LoadStats:
    """Create `path` with the app's migrations and fill it with `ds` as ingestion would."""
    t0 = time.perf_counter()
    remove_sqlite(path)
    migrate(path)
    conn = _connect(path)
    folder = Folder(ds, received_us if received_us is not None else ds.end_us)
    indexes = _secondary_indexes(conn, ("events", "conversations", "user_slots", "user_slots_all"))
    conn.execute("BEGIN")
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.executemany(INSERT_BOTS, folder.bot_rows())
    writer = _Writer(conn)
    statements = {k: s.format(rec=int(folder.received_us)) for k, s in EVENT_STATEMENTS.items()}
    rows = new_event_rows()
    pending = 0
    next_report = 1_000_000
    try:
        for c in ds.conversations():
            before = folder.events
            folder.fold(c, rows)
            pending += folder.events - before
            if pending >= CHUNK:
                for kind, kind_rows in rows.items():
                    writer.put(statements[kind], kind_rows)
                rows = new_event_rows()
                pending = 0
                if progress and folder.events >= next_report:
                    rate = folder.events / (time.perf_counter() - t0)
                    print(f"\r  bulk load: {folder.events:,} events ({rate:,.0f}/s)", end="", flush=True)
                    next_report += 1_000_000
        for kind, kind_rows in rows.items():
            if kind_rows:
                writer.put(statements[kind], kind_rows)
        for i in range(0, len(folder.conv_rows), CHUNK):
            writer.put(INSERT_CONVS, folder.conv_rows[i : i + CHUNK])
    finally:
        writer.close()
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, table_rows in folder.rollup_rows().items():
        conn.executemany(INSERT_ROLLUPS[table], table_rows)
    for statement in day_backfill():
        conn.execute(statement)
    unknown = tables - KNOWN_TABLES
    if unknown:
        print(f"  warning: the schema has tables the bulk loader does not fill: {', '.join(sorted(unknown))}")
    if progress:
        print(f"\r  bulk load: {folder.events:,} events written, creating indexes...{' ' * 10}", flush=True)
    for _name, create in indexes:
        conn.execute(create)
    for statement in backfill("0004_outcomes_speed"):  # `outcome_days` and the recontact flags
        conn.execute(statement)
    for statement in backfill("0005_intents_speed"):  # `intent_convs`, `intent_days`, first-seen counts
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return LoadStats(
        conversations=folder.next_conv_id - 1,
        events=folder.events,
        messages=folder.messages,
        users=len(folder.user_ids),
        seconds=time.perf_counter() - t0,
    )


def cached_db(
    params: Params, *, max_age_hours: float = 24.0, force: bool = False
) -> tuple[Path, dict[str, Any]]:
    """The bulk-loaded database of `params` under bench/out/, built unless a young enough one exists."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"analytics-{params.key()}-{schema_fingerprint()}.sqlite3"
    meta_path = path.with_suffix(".json")
    if not force and path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        age_h = (now_us() - meta["end_us"]) / 3_600_000_000
        if age_h <= max_age_hours:
            meta["age_hours"] = age_h
            meta["cached"] = True
            return path, meta
        print(f"  cached database is {age_h:.1f} h old (> {max_age_hours} h): rebuilding")
    meta_path.unlink(missing_ok=True)
    end = now_us()
    ds = Dataset(params, end)
    tmp = path.with_name(path.name + ".building")
    print(f"  building {path.name} (once; cached afterwards)")
    stats = load(tmp, ds, progress=True)
    tmp.replace(path)
    meta = {
        "params": params.__dict__,
        "end_us": end,
        "conversations": stats.conversations,
        "events": stats.events,
        "messages": stats.messages,
        "users": stats.users,
        "load_seconds": round(stats.seconds, 1),
        "size_mb": round(path.stat().st_size / 2**20),
        "bot_uuids": ds.bot_uuids,
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    print(
        f"  loaded {stats.events:,} events ({stats.messages:,} messages, {stats.conversations:,} conversations, "
        f"{stats.users:,} users) in {stats.seconds:.0f} s ({stats.events / stats.seconds:,.0f} events/s), "
        f"{meta['size_mb']:,} MB"
    )
    meta["age_hours"] = 0.0
    meta["cached"] = False
    return path, meta


def copy_db(src: Path, dst: Path) -> None:
    """A private copy for one benchmark run (the cached file stays pristine)."""
    shutil.copyfile(src, dst)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bulk_load", description=__doc__.split("\n\n")[0])
    Params.add_arguments(p, seed=True)
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--out", type=Path, help="write this file instead of the cache (no caching)")
    p.add_argument("--end-us", type=int, help="with --out: the data ends here (default now)")
    p.add_argument("--received-us", type=int, help="with --out: events.received_us (default the end)")
    a = p.parse_args(argv)
    params = Params.from_args(a)
    if a.out is not None:
        ds = Dataset(params, a.end_us if a.end_us is not None else now_us())
        stats = load(a.out, ds, received_us=a.received_us)
        print(f"{a.out}: {stats.events:,} events in {stats.seconds:.1f} s")
        return 0
    path, meta = cached_db(params, force=a.force)
    print(f"{path} ({'cached' if meta['cached'] else 'built'}; {meta['events']:,} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
