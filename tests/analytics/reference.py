"""A brute-force reference for the analytics numbers, straight from API.md sections 5, 6 and 8.

It reads the raw event dicts (as a client sent them, in any order, duplicates included), folds each
conversation from scratch, and computes every answer with plain loops over lists. It imports nothing
from app/: the range is resolved here from the raw parameters (API.md sections 3 and 8) with
`zoneinfo`, the bucket starts are found by walking the calendar day by day (or the clock a quarter
hour at a time), and the session timeout is an argument (30 minutes unless a test says otherwise).
A test therefore compares two independent computations, range and bucket logic included.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol
from zoneinfo import ZoneInfo

US = 1_000_000
EDGES = [0, 60, 300, 900, 1800, 3600]
DEFAULT_TIMEOUT = timedelta(minutes=30)
"""API.md section 5: a session idle for more than 30 minutes is abandoned (the app's default)."""


def format_datetime(dt: datetime, tz: ZoneInfo, tz_name: str) -> str:
    """RFC 3339 in `tz`: seconds always, microseconds only when nonzero, `Z` for the zone named UTC."""
    local = dt.astimezone(tz)
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    if local.microsecond:
        text += f".{local.microsecond:06d}"
    if tz_name == "UTC":
        return text + "Z"
    offset = local.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def ts_of(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


@dataclass
class RefEvent:
    id: str
    type: str
    ts: datetime
    conversation: str
    bot: str | None
    user: str | None
    raw: dict[str, Any]


@dataclass
class RefConversation:
    id: str
    bot: str | None = None
    user: str | None = None
    events: list[RefEvent] = field(default_factory=list)

    @cached_property
    def starts(self) -> list[RefEvent]:
        return [e for e in self.events if e.type == "conversation_started"]

    @cached_property
    def started_at(self) -> datetime:
        starts = self.starts
        return min(e.ts for e in starts) if starts else min(e.ts for e in self.events)

    @cached_property
    def last_activity_at(self) -> datetime:
        acts = [e.ts for e in self.events if e.type in ("conversation_started", "message")]
        return max(acts) if acts else self.started_at

    @cached_property
    def end_event(self) -> RefEvent | None:
        ends = [e for e in self.events if e.type == "conversation_ended"]
        return max(ends, key=lambda e: (e.ts, e.id)) if ends else None

    @cached_property
    def channel(self) -> str:
        starts = self.starts
        if not starts:
            return "unknown"
        earliest = min(e.ts for e in starts)
        first = max((e for e in starts if e.ts == earliest), key=lambda e: e.id)
        return str(first.raw.get("channel") or "web")

    @cached_property
    def rating(self) -> RefEvent | None:
        ratings = [e for e in self.events if e.type == "satisfaction"]
        return max(ratings, key=lambda e: (e.ts, e.id)) if ratings else None

    @cached_property
    def messages(self) -> list[RefEvent]:
        return [e for e in self.events if e.type == "message"]

    def status(self, now: datetime, timeout: timedelta) -> str:
        end = self.end_event
        if end is not None:
            return str(end.raw["resolution"])
        if now - self.last_activity_at > timeout:
            return "abandoned"
        return "active"

    def duration_seconds(self, now: datetime, timeout: timedelta) -> float | None:
        """End minus start for closed conversations (never negative), None while active."""
        end = self.end_event
        if end is not None:
            ended = end.ts
        elif now - self.last_activity_at > timeout:
            ended = self.last_activity_at
        else:
            return None
        return max((ended - self.started_at) / timedelta(microseconds=1), 0) / US


def percentile(values: list[float], p: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    pos = p * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


class Reference:
    """All events of a dataset, folded; the methods answer one route each for a range and filter."""

    def __init__(self, raw_events: Iterable[dict[str, Any]], timeout: timedelta = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        seen: set[str] = set()
        self.events: list[RefEvent] = []
        self.convs: dict[str, RefConversation] = {}
        # Per-filter caches: the data never changes once loaded (the results are plain lists).
        self._activity: dict[tuple[frozenset[str] | None, str | None], list[tuple[datetime, str]]] = {}
        self._convs_of: dict[tuple[frozenset[str] | None, str | None], list[RefConversation]] = {}
        self._active: dict[tuple[datetime, datetime, frozenset[str] | None, str | None], set[str]] = {}
        self._messages_of: dict[tuple[frozenset[str] | None, str | None], list[RefEvent]] = {}
        for raw in raw_events:
            if raw["id"] in seen:  # a repeated id is a duplicate and changes nothing
                continue
            seen.add(raw["id"])
            e = RefEvent(
                raw["id"],
                raw["type"],
                ts_of(raw["timestamp"]),
                raw["conversation_id"],
                raw.get("bot_id"),
                raw.get("user_id"),
                raw,
            )
            self.events.append(e)
            c = self.convs.setdefault(e.conversation, RefConversation(e.conversation))
            c.bot = c.bot or e.bot
            c.user = c.user or e.user
            c.events.append(e)

    # ------------------------------------------------------------------ filters

    @staticmethod
    def _sees(bot: str | None, user: str | None, bots: frozenset[str] | None, only_user: str | None) -> bool:
        if bot is None:
            return False
        if bots is not None and bot not in bots:
            return False
        return only_user is None or user == only_user

    def conversations_of(self, bots: frozenset[str] | None, user: str | None) -> list[RefConversation]:
        key = (bots, user)
        if key not in self._convs_of:
            self._convs_of[key] = [c for c in self.convs.values() if self._sees(c.bot, c.user, bots, user)]
        return self._convs_of[key]

    def messages_of(self, bots: frozenset[str] | None, user: str | None) -> list[RefEvent]:
        key = (bots, user)
        if key not in self._messages_of:
            self._messages_of[key] = self._filter_messages(bots, user)
        return self._messages_of[key]

    def _filter_messages(self, bots: frozenset[str] | None, user: str | None) -> list[RefEvent]:
        owner = self.convs
        return [
            e
            for e in self.events
            if e.type == "message"
            and self._sees(
                e.bot or owner[e.conversation].bot, e.user or owner[e.conversation].user, bots, user
            )
        ]

    def activity_of(self, bots: frozenset[str] | None, user: str | None) -> list[tuple[datetime, str]]:
        """(timestamp, user) of each event that makes a user active: a start or a user message."""
        key = (bots, user)
        if key not in self._activity:
            self._activity[key] = self._activity_of(bots, user)
        return self._activity[key]

    def _activity_of(self, bots: frozenset[str] | None, user: str | None) -> list[tuple[datetime, str]]:
        out = []
        for e in self.events:
            if e.type == "conversation_started" or (e.type == "message" and e.raw.get("role") == "user"):
                c = self.convs[e.conversation]
                bot, who = e.bot or c.bot, e.user or c.user
                if who is not None and self._sees(bot, who, bots, user):
                    out.append((e.ts, who))
        return out

    def first_activity(self, bots: frozenset[str] | None, user: str | None) -> dict[str, datetime]:
        first: dict[str, datetime] = {}
        for ts, who in self.activity_of(bots, user):
            if who not in first or ts < first[who]:
                first[who] = ts
        return first

    # ------------------------------------------------------------------ building blocks

    def active_users(
        self, lo: datetime, hi: datetime, bots: frozenset[str] | None, user: str | None
    ) -> set[str]:
        return {who for ts, who in self.activity_of(bots, user) if lo <= ts < hi}

    def new_users(
        self, lo: datetime, hi: datetime, bots: frozenset[str] | None, user: str | None
    ) -> set[str]:
        return {who for who, ts in self.first_activity(bots, user).items() if lo <= ts < hi}

    def started(
        self, lo: datetime, hi: datetime, bots: frozenset[str] | None, user: str | None
    ) -> list[RefConversation]:
        return [c for c in self.conversations_of(bots, user) if lo <= c.started_at < hi]

    def messages_in(
        self, lo: datetime, hi: datetime, bots: frozenset[str] | None, user: str | None
    ) -> list[RefEvent]:
        return [e for e in self.messages_of(bots, user) if lo <= e.ts < hi]


@dataclass(frozen=True)
class RefRange:
    """A range as the reference sees it: UTC bounds, zone, bucket size, and the aligned bucket starts."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    tz_name: str
    group_by: str
    starts_of: Callable[[str], list[datetime]]

    def echo(self) -> dict[str, str]:
        return {
            "start": format_datetime(self.start, self.tz, self.tz_name),
            "end": format_datetime(self.end, self.tz, self.tz_name),
            "timezone": self.tz_name,
        }

    def buckets(self, group_by: str | None = None) -> list[tuple[datetime, datetime, datetime]]:
        """(aligned start, clipped lo, clipped hi) per bucket."""
        starts = self.starts_of(group_by or self.group_by)
        out = []
        for i, s in enumerate(starts):
            hi = starts[i + 1] if i + 1 < len(starts) else self.end
            out.append((s, max(s, self.start), min(hi, self.end)))
        return out

    def label(self, dt: datetime) -> str:
        return format_datetime(dt, self.tz, self.tz_name)


# --------------------------------------------------------------------------- ranges (API.md 3 and 8)


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    """Local midnight of `d` read with fold=0 (a skipped midnight: the offset before the change), in UTC."""
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def _bound(text: str, tz: ZoneInfo, *, is_end: bool) -> datetime:
    """A date (as an end: the whole day, so the next local midnight) or a datetime (naive: in `tz`)."""
    if len(text) == 10:
        d = date.fromisoformat(text)
        return _midnight(d + timedelta(days=1) if is_end else d, tz)
    dt = datetime.fromisoformat(text)
    return (dt.replace(tzinfo=tz) if dt.tzinfo is None else dt).astimezone(UTC)


def _month_start(d: date, back: int) -> date:
    y, m = d.year, d.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return date(y, m, 1)


def bucket_starts(start: datetime, end: datetime, tz: ZoneInfo, group_by: str) -> list[datetime]:
    """Aligned starts (UTC) of the buckets meeting `[start, end)`, found by brute force.

    Hours: every quarter-hour instant at which the local clock shows hh:00:00, from the last one at or
    before `start`. Days, weeks, months: every local day from the start's local date, back to the
    bucket's first day (a Monday, the 1st), kept when it opens a bucket, as its local midnight.
    """
    if group_by == "hour":
        t = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
        t -= timedelta(hours=2)
        found: list[datetime] = []
        while t < end:
            local = t.astimezone(tz)
            if local.minute == 0 and local.second == 0:
                if t <= start:
                    found = [t]
                else:
                    found.append(t)
            t += timedelta(minutes=15)
        return found

    def opens(d: date) -> bool:
        return (
            group_by == "day"
            or (group_by == "week" and d.isoweekday() == 1)
            or (group_by == "month" and d.day == 1)
        )

    d = start.astimezone(tz).date()
    while not opens(d):
        d -= timedelta(days=1)
    out = []
    while (m := _midnight(d, tz)) < end:
        if opens(d):
            out.append(m)
        d += timedelta(days=1)
    return out


def resolve_range(
    now: datetime,
    *,
    start_date: str | None = None,
    end_date: str | None = None,
    days: int | str | None = None,
    period: str | None = None,
    group_by: str | None = None,
    timezone: str | None = None,
    default: str = "days30",
    default_group_by: str = "day",
) -> RefRange:
    """The range valid parameters stand for at `now` (API.md section 3 and 8), with its bucket starts."""
    tz_name = timezone or "UTC"
    tz = ZoneInfo(tz_name)
    today = now.astimezone(tz).date()
    tomorrow = _midnight(today + timedelta(days=1), tz)
    if days is not None:
        start, end = _midnight(today - timedelta(days=int(days) - 1), tz), tomorrow
    elif period is not None:
        first = {
            "today": today,
            "week": today - timedelta(days=today.isoweekday() - 1),
            "month": date(today.year, today.month, 1),
            "year": date(today.year, 1, 1),
        }[period]
        start, end = _midnight(first, tz), tomorrow
    elif start_date is not None or end_date is not None:
        end = tomorrow if end_date is None else _bound(end_date, tz, is_end=True)
        if start_date is not None:
            start = _bound(start_date, tz, is_end=False)
        elif len(end_date or "") == 10:  # only an end date D: [D-29, D+1)
            start = _midnight(date.fromisoformat(str(end_date)) - timedelta(days=29), tz)
        else:  # only an end datetime T: 30 days of wall-clock time before it
            wall = end.astimezone(tz).replace(tzinfo=None) - timedelta(days=30)
            start = wall.replace(tzinfo=tz).astimezone(UTC)
    elif default == "months12":
        start, end = _midnight(_month_start(today, 11), tz), tomorrow
    else:
        start, end = _midnight(today - timedelta(days=29), tz), tomorrow
    assert start < end, (start, end)
    return RefRange(
        start,
        end,
        tz,
        tz_name,
        group_by or default_group_by,
        lambda g: [s.astimezone(tz) for s in bucket_starts(start, end, tz, g)],
    )


Filter = tuple[frozenset[str] | None, str | None]


def _conv_totals(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    convs = ref.started(r.start, r.end, *f)
    statuses = [c.status(now, ref.timeout) for c in convs]
    durations = [d for c in convs if (d := c.duration_seconds(now, ref.timeout)) is not None]
    closed = len(durations)
    bot_msgs = [e for e in ref.messages_in(r.start, r.end, *f) if e.raw["role"] == "bot"]
    channels: dict[str, int] = {}
    for c in convs:
        channels[c.channel] = channels.get(c.channel, 0) + 1
    return {
        "total_conversations": len(convs),
        "active": statuses.count("active"),
        "resolved": statuses.count("resolved"),
        "escalated": statuses.count("escalated"),
        "abandoned": statuses.count("abandoned"),
        "resolution_rate": ratio(statuses.count("resolved"), closed),
        "escalation_rate": ratio(statuses.count("escalated"), closed),
        "abandonment_rate": ratio(statuses.count("abandoned"), closed),
        "avg_duration_seconds": ratio(sum(durations), closed),
        "avg_messages_per_conversation": ratio(sum(len(c.messages) for c in convs), len(convs)),
        "fallback_rate": ratio(sum(1 for e in bot_msgs if e.raw.get("fallback")), len(bot_msgs)),
        "by_channel": [
            {"channel": name, "conversations": n}
            for name, n in sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def usage(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    convs = ref.started(r.start, r.end, *f)
    msgs = ref.messages_in(r.start, r.end, *f)
    durations = [d for c in convs if (d := c.duration_seconds(now, ref.timeout)) is not None]
    return {
        "range": r.echo(),
        "total_conversations": len(convs),
        "total_messages": len(msgs),
        "user_messages": sum(1 for e in msgs if e.raw["role"] == "user"),
        "bot_messages": sum(1 for e in msgs if e.raw["role"] == "bot"),
        "active_users": len(ref.active_users(r.start, r.end, *f)),
        "new_users": len(ref.new_users(r.start, r.end, *f)),
        "avg_messages_per_conversation": ratio(sum(len(c.messages) for c in convs), len(convs)),
        "avg_conversation_duration_seconds": ratio(sum(durations), len(durations)),
    }


def _usage_row(ref: Reference, lo: datetime, hi: datetime, f: Filter) -> dict[str, int]:
    return {
        "conversations": len(ref.started(lo, hi, *f)),
        "messages": len(ref.messages_in(lo, hi, *f)),
        "active_users": len(ref.active_users(lo, hi, *f)),
        "new_users": len(ref.new_users(lo, hi, *f)),
    }


def usage_daily(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    data = [{"date": s.strftime("%Y-%m-%d"), **_usage_row(ref, lo, hi, f)} for s, lo, hi in r.buckets("day")]
    return {"range": r.echo(), "data": data}


def usage_monthly(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    data = [{"month": s.strftime("%Y-%m"), **_usage_row(ref, lo, hi, f)} for s, lo, hi in r.buckets("month")]
    return {"range": r.echo(), "data": data}


def conversations(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    return {"range": r.echo(), **_conv_totals(ref, r, f, now)}


def conversation_volume(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    return {
        "range": r.echo(),
        "group_by": r.group_by,
        "data": [
            {
                "bucket_start": r.label(s),
                "conversations": len(ref.started(lo, hi, *f)),
                "messages": len(ref.messages_in(lo, hi, *f)),
            }
            for s, lo, hi in r.buckets()
        ],
    }


def conversation_duration(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    durations = [
        d for c in ref.started(r.start, r.end, *f) if (d := c.duration_seconds(now, ref.timeout)) is not None
    ]
    bounds: list[tuple[int, int | None]] = list(zip(EDGES, [*EDGES[1:], None], strict=True))
    return {
        "range": r.echo(),
        "count": len(durations),
        "avg_seconds": sum(durations) / len(durations) if durations else None,
        "median_seconds": percentile(durations, 0.5) if durations else None,
        "p90_seconds": percentile(durations, 0.9) if durations else None,
        "min_seconds": min(durations) if durations else None,
        "max_seconds": max(durations) if durations else None,
        "distribution": [
            {
                "min_seconds": float(lo),
                "max_seconds": None if hi is None else float(hi),
                "count": sum(1 for d in durations if d >= lo and (hi is None or d < hi)),
            }
            for lo, hi in bounds
        ],
    }


def conversation_resolution(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    data = []
    for s, lo, hi in r.buckets():
        statuses = [c.status(now, ref.timeout) for c in ref.started(lo, hi, *f)]
        closed = sum(1 for x in statuses if x != "active")
        data.append(
            {
                "bucket_start": r.label(s),
                "resolved": statuses.count("resolved"),
                "escalated": statuses.count("escalated"),
                "abandoned": statuses.count("abandoned"),
                "resolution_rate": ratio(statuses.count("resolved"), closed),
            }
        )
    return {"range": r.echo(), **_conv_totals(ref, r, f, now), "data": data}


def engagement(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    active = ref.active_users(r.start, r.end, *f)
    new = ref.new_users(r.start, r.end, *f)
    days = r.buckets("day")
    daily = [len(ref.active_users(lo, hi, *f)) for _, lo, hi in days]
    avg_daily = sum(daily) / len(daily) if daily else 0.0  # an empty comparison range: 0 (API.md 9)
    user_msgs = [e for e in ref.messages_in(r.start, r.end, *f) if e.raw["role"] == "user"]
    return {
        "range": r.echo(),
        "active_users": len(active),
        "new_users": len(new),
        "returning_users": len(active - new),
        "avg_daily_active_users": avg_daily,
        "stickiness": ratio(avg_daily, len(active)),
        "conversations_per_user": ratio(len(ref.started(r.start, r.end, *f)), len(active)),
        "messages_per_user": ratio(len(user_msgs), len(active)),
    }


def retention(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    buckets = r.buckets()
    cohorts = []
    for i, (s, lo, hi) in enumerate(buckets):
        members = ref.new_users(lo, hi, *f)
        periods = []
        for k, (_, plo, phi) in enumerate(buckets[i:]):
            users = len(members & ref.active_users(plo, phi, *f))
            periods.append({"period": k, "users": users, "rate": ratio(users, len(members))})
        cohorts.append({"cohort_start": r.label(s), "size": len(members), "retention": periods})
    return {"range": r.echo(), "group_by": r.group_by, "cohorts": cohorts}


def _kept_ratings(ref: Reference, lo: datetime, hi: datetime, f: Filter) -> list[int]:
    out = []
    for c in ref.conversations_of(*f):
        rating = c.rating
        if rating is not None and lo <= rating.ts < hi:
            out.append(int(rating.raw["score"]))
    return out


def satisfaction(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    scores = _kept_ratings(ref, r.start, r.end, f)
    data = []
    for s, lo, hi in r.buckets():
        bucket = _kept_ratings(ref, lo, hi, f)
        data.append(
            {
                "bucket_start": r.label(s),
                "responses": len(bucket),
                "average_score": ratio(sum(bucket), len(bucket)),
            }
        )
    return {
        "range": r.echo(),
        "responses": len(scores),
        "average_score": ratio(sum(scores), len(scores)),
        "csat": ratio(sum(1 for x in scores if x >= 4), len(scores)),
        "distribution": [{"score": k, "count": scores.count(k)} for k in range(1, 6)],
        "data": data,
    }


def _active_sessions(ref: Reference, f: Filter, now: datetime, window: timedelta) -> list[RefConversation]:
    return [
        c
        for c in ref.conversations_of(*f)
        if c.status(now, ref.timeout) == "active" and now - window < c.last_activity_at <= now
    ]


def realtime(
    ref: Reference, f: Filter, now: datetime, window_minutes: int, tz: ZoneInfo, tz_name: str
) -> dict[str, Any]:
    window = timedelta(minutes=window_minutes)
    sessions = _active_sessions(ref, f, now, window)
    msgs = [e for e in ref.messages_of(*f) if now - window < e.ts <= now]
    return {
        "as_of": format_datetime(now, tz, tz_name),
        "window_minutes": window_minutes,
        "active_sessions": len(sessions),
        "active_users": len({c.user for c in sessions}),
        "messages_per_minute": len(msgs) / window_minutes,
        "conversations_started": sum(
            1 for c in ref.conversations_of(*f) if now - window < c.started_at <= now
        ),
    }


def active_sessions(
    ref: Reference, f: Filter, now: datetime, window_minutes: int, tz: ZoneInfo, tz_name: str
) -> dict[str, Any]:
    sessions = _active_sessions(ref, f, now, timedelta(minutes=window_minutes))
    per_bot: dict[str, int] = {}
    for c in sessions:
        assert c.bot is not None
        per_bot[c.bot] = per_bot.get(c.bot, 0) + 1
    return {
        "as_of": format_datetime(now, tz, tz_name),
        "window_minutes": window_minutes,
        "active_sessions": len(sessions),
        "by_bot": [
            {"bot_id": b, "active_sessions": n}
            for b, n in sorted(per_bot.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


# --------------------------------------------------------------------------- API.md section 9


def _closed_rates(convs: list[RefConversation], now: datetime, timeout: timedelta) -> tuple[Any, Any]:
    statuses = [c.status(now, timeout) for c in convs]
    closed = sum(1 for s in statuses if s != "active")
    return ratio(statuses.count("resolved"), closed), ratio(statuses.count("escalated"), closed)


def intents(ref: Reference, r: RefRange, f: Filter, now: datetime, limit: int = 20) -> dict[str, Any]:
    msgs = ref.messages_in(r.start, r.end, *f)
    with_intent = [e for e in msgs if "intent" in e.raw and e.raw["intent"] is not None]
    names = sorted({str(e.raw["intent"]) for e in with_intent})
    rows = []
    for name in names:
        mine = [e for e in with_intent if e.raw["intent"] == name]
        bots = [e for e in mine if e.raw["role"] == "bot"]
        fallbacks = sum(1 for e in bots if e.raw.get("fallback") is True)
        convs = [ref.convs[cid] for cid in sorted({e.conversation for e in mine})]
        resolution_rate, escalation_rate = _closed_rates(convs, now, ref.timeout)
        rows.append(
            {
                "intent": name,
                "messages": len(mine),
                "user_messages": len(mine) - len(bots),
                "bot_messages": len(bots),
                "fallback_messages": fallbacks,
                "fallback_rate": ratio(fallbacks, len(bots)),
                "conversations": len(convs),
                "resolution_rate": resolution_rate,
                "escalation_rate": escalation_rate,
            }
        )
    rows.sort(key=lambda x: (-x["messages"], x["intent"]))
    return {
        "range": r.echo(),
        "messages_with_intent": len(with_intent),
        "messages_without_intent": len(msgs) - len(with_intent),
        "data": rows[:limit],
    }


def _latencies(msgs: list[RefEvent]) -> list[int]:
    return [
        int(e.raw["latency_ms"])
        for e in msgs
        if e.raw["role"] == "bot" and e.raw.get("latency_ms") is not None
    ]


def _pct(values: list[int], p: float) -> float | None:
    return float(percentile([float(v) for v in values], p)) if values else None


def _tokens(msgs: Iterable[RefEvent]) -> int:
    return sum(int(e.raw.get("tokens") or 0) for e in msgs)


def _cost(msgs: Iterable[RefEvent]) -> float:
    return float(sum(float(e.raw.get("cost") or 0) for e in msgs))


def performance(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    msgs = ref.messages_in(r.start, r.end, *f)
    lat = _latencies(msgs)
    convs = ref.started(r.start, r.end, *f)
    conv_msgs = [e for c in convs for e in c.messages]
    resolved = sum(1 for c in convs if c.status(now, ref.timeout) == "resolved")
    models: dict[str, list[RefEvent]] = {}
    for e in msgs:
        if e.raw.get("model") is not None:
            models.setdefault(str(e.raw["model"]), []).append(e)
    by_model: list[dict[str, Any]] = []
    for name, mine in models.items():
        ml = _latencies(mine)
        by_model.append(
            {
                "model": name,
                "messages": len(mine),
                "tokens": _tokens(mine),
                "cost": _cost(mine),
                "latency_count": len(ml),
                "avg_latency_ms": ratio(sum(ml), len(ml)),
                "p95_latency_ms": _pct(ml, 0.95),
            }
        )
    by_model.sort(key=lambda x: (-x["messages"], x["model"]))
    data = []
    for s, lo, hi in r.buckets():
        bucket = ref.messages_in(lo, hi, *f)
        bl = _latencies(bucket)
        data.append(
            {
                "bucket_start": r.label(s),
                "bot_messages": sum(1 for e in bucket if e.raw["role"] == "bot"),
                "p50_latency_ms": _pct(bl, 0.5),
                "p95_latency_ms": _pct(bl, 0.95),
                "tokens": _tokens(bucket),
                "cost": _cost(bucket),
            }
        )
    return {
        "range": r.echo(),
        "bot_messages": sum(1 for e in msgs if e.raw["role"] == "bot"),
        "latency_count": len(lat),
        "avg_latency_ms": ratio(sum(lat), len(lat)),
        "p50_latency_ms": _pct(lat, 0.5),
        "p95_latency_ms": _pct(lat, 0.95),
        "p99_latency_ms": _pct(lat, 0.99),
        "max_latency_ms": float(max(lat)) if lat else None,
        "tokens": _tokens(msgs),
        "cost": _cost(msgs),
        "conversations": len(convs),
        "tokens_per_conversation": ratio(_tokens(conv_msgs), len(convs)),
        "cost_per_conversation": ratio(_cost(conv_msgs), len(convs)),
        "resolved_conversations": resolved,
        "cost_per_resolved_conversation": ratio(_cost(conv_msgs), resolved),
        "by_model": by_model,
        "group_by": r.group_by,
        "data": data,
    }


RECONTACT = timedelta(hours=24)


def _recontacted(ref: Reference, c: RefConversation) -> bool:
    """Another conversation of the same user and bot (whatever the filters) started in `(end, end + 24 h]`."""
    assert c.end_event is not None
    if c.user is None or c.bot is None:
        return False
    end = c.end_event.ts
    return any(
        d.id != c.id and d.user == c.user and d.bot == c.bot and end < d.started_at <= end + RECONTACT
        for d in ref.convs.values()
    )


def conversation_outcomes(ref: Reference, r: RefRange, f: Filter, now: datetime) -> dict[str, Any]:
    convs = ref.started(r.start, r.end, *f)
    status = {c.id: c.status(now, ref.timeout) for c in convs}
    counts = {k: sum(1 for s in status.values() if s == k) for k in ("resolved", "escalated", "abandoned")}
    checked = [
        c
        for c in convs
        if status[c.id] == "resolved" and c.end_event is not None and now - c.end_event.ts >= RECONTACT
    ]
    recontacts = sum(1 for c in checked if _recontacted(ref, c))
    reasons: dict[str, int] = {}
    for c in convs:
        if status[c.id] == "escalated":
            assert c.end_event is not None
            name = str(c.end_event.raw.get("reason") or "unspecified")
            reasons[name] = reasons.get(name, 0) + 1
    channels: dict[str, dict[str, Any]] = {}

    def channel(name: str) -> dict[str, Any]:
        return channels.setdefault(
            name, {"conversations": 0, "resolved": 0, "escalated": 0, "abandoned": 0, "scores": []}
        )

    for c in convs:
        row = channel(c.channel)
        row["conversations"] += 1
        if status[c.id] != "active":
            row[status[c.id]] += 1
    for c in ref.conversations_of(*f):
        rating = c.rating
        if rating is not None and r.start <= rating.ts < r.end:
            channel(c.channel)["scores"].append(int(rating.raw["score"]))
    by_channel = []
    for name, row in channels.items():
        scores = row["scores"]
        closed = row["resolved"] + row["escalated"] + row["abandoned"]
        by_channel.append(
            {
                "channel": name,
                "conversations": row["conversations"],
                "resolved": row["resolved"],
                "escalated": row["escalated"],
                "abandoned": row["abandoned"],
                "resolution_rate": ratio(row["resolved"], closed),
                "ratings": len(scores),
                "average_score": ratio(sum(scores), len(scores)),
                "csat": ratio(sum(1 for x in scores if x >= 4), len(scores)),
            }
        )
    by_channel.sort(key=lambda x: (-x["conversations"], -x["ratings"], x["channel"]))
    return {
        "range": r.echo(),
        "closed": sum(counts.values()),
        **counts,
        "checked_resolutions": len(checked),
        "recontacts": recontacts,
        "durable_resolution_rate": ratio(len(checked) - recontacts, len(checked)),
        "escalation_reasons": [
            {"reason": k, "conversations": n}
            for k, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "by_channel": by_channel,
    }


# --------------------------------------------------------------------------- compare (API.md section 9)

COMPARED = frozenset(
    {
        "usage",
        "conversations",
        "conversations/duration",
        "engagement",
        "engagement/satisfaction",
        "performance",
    }
)
"""The routes that answer `compare` (API.md section 9); the others accept and ignore it."""

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
"""Where a comparison range reaching before the year 1 starts (docs/decisions.md: no event is stored
before 1970, and the instant can be written in every zone)."""


def _year_before(t: datetime, tz: ZoneInfo) -> datetime:
    """The wall-clock time `t` shows in `tz`, one year earlier (29 February: 28 February), fold=0."""
    wall = t.astimezone(tz)
    day = 28 if (wall.month, wall.day) == (2, 29) else wall.day
    naive = datetime(wall.year - 1, wall.month, day, wall.hour, wall.minute, wall.second, wall.microsecond)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def comparison_range(r: RefRange, compare: str, now: datetime) -> RefRange:
    """The comparison range of `r` at `now`, from API.md section 9's words."""
    s, e, tz = r.start, r.end, r.tz
    try:
        if compare == "previous_year":
            start, end = _year_before(s, tz), _year_before(e, tz)
        else:
            first, last = s.astimezone(tz).date(), e.astimezone(tz).date()
            if _midnight(first, tz) == s and _midnight(last, tz) == e:
                # The same number of local calendar days, just before s.
                start = _midnight(first - timedelta(days=(last - first).days), tz)
            else:
                start = s - (e - s)
            end = s
    except (OverflowError, ValueError):
        start, end = EARLIEST, s
    start = max(start, EARLIEST)
    end = max(end, start)
    if now < e:  # equal elapsed time
        end = min(end, start + max(now - s, timedelta(0)))
    return RefRange(
        start,
        end,
        tz,
        r.tz_name,
        r.group_by,
        lambda g: [x.astimezone(tz) for x in bucket_starts(start, end, tz, g)],
    )


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def relative_change(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


class RouteFn(Protocol):
    def __call__(
        self, ref: Reference, r: RefRange, f: Filter, now: datetime, compare: str | None = None
    ) -> dict[str, Any]: ...


def _route(name: str, fn: Callable[[Reference, RefRange, Filter, datetime], dict[str, Any]]) -> RouteFn:
    """The route's answer; a compared route gains `comparison` and `change` (None without compare)."""

    def answer(
        ref: Reference, r: RefRange, f: Filter, now: datetime, compare: str | None = None
    ) -> dict[str, Any]:
        out = fn(ref, r, f, now)
        if name not in COMPARED:
            return out
        if compare is None:
            return {**out, "comparison": None, "change": None}
        cr = comparison_range(r, compare, now)
        before = fn(ref, cr, f, now)
        keys = [k for k, v in out.items() if k != "range" and _number_or_null(v)]
        return {
            **out,
            "comparison": {"range": cr.echo(), **{k: before[k] for k in keys}},
            "change": {k: relative_change(out[k], before[k]) for k in keys},
        }

    return answer


_ROUTE_FNS: dict[str, Callable[[Reference, RefRange, Filter, datetime], dict[str, Any]]] = {
    "usage": usage,
    "usage/daily": usage_daily,
    "usage/monthly": usage_monthly,
    "conversations": conversations,
    "conversations/volume": conversation_volume,
    "conversations/duration": conversation_duration,
    "conversations/resolution": conversation_resolution,
    "engagement": engagement,
    "engagement/retention": retention,
    "engagement/satisfaction": satisfaction,
    "intents": intents,
    "performance": performance,
    "conversations/outcomes": conversation_outcomes,
}

ROUTES: dict[str, RouteFn] = {name: _route(name, fn) for name, fn in _ROUTE_FNS.items()}
"""Each range route's answer, `ROUTES[name](ref, range, filter, now, compare=None)`."""
