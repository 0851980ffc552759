"""The analytics queries against a brute-force reference (tests/analytics/reference.py) and by hand.

Every test runs on SQLite and, with `ANALYTICS_TEST_DB=postgres`, on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.analytics import catalog
from app.analytics.answers import LiveQuestion, Question, rest_dict
from app.analytics.buckets import split_slots
from app.analytics.ranges import RangeParams, ResolvedRange, resolve_range
from app.analytics.scope import Scope
from app.config import get_settings
from app.db import readers
from app.ingest import ingest_events
from app.models import SLOT_US
from app.vocabulary import Compare
from tests.analytics import reference as ref
from tests.dataset import BUSY_USER, DATASET, NOW, UNKNOWN
from tests.factories import ADMIN, assert_same, ingest, new_id, stamp

UTC_ZONE = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")

# --------------------------------------------------------------------------- the answers as REST dicts

RangeAnswer = Callable[..., Awaitable[dict[str, Any]]]
"""`answer(range, scope, now, compare=None)`: a metric's REST dict (`metric.run`, as the resolvers)."""
LiveAnswer = Callable[[Scope, datetime, int, ZoneInfo, str], Awaitable[dict[str, Any]]]


def _range_answer(metric: catalog.Metric[Any]) -> RangeAnswer:
    async def answer(
        r: ResolvedRange, scope: Scope, now: datetime, compare: str | None = None
    ) -> dict[str, Any]:
        wanted = Compare(compare) if compare is not None else None
        question = Question(r, scope, now, get_settings().session_timeout_us, compare=wanted)
        out: dict[str, Any] = rest_dict(await metric.run(readers(), question))
        return out

    return answer


def _live_answer(metric: catalog.LiveMetric[Any]) -> LiveAnswer:
    async def answer(scope: Scope, now: datetime, window: int, tz: ZoneInfo, tz_name: str) -> dict[str, Any]:
        question = LiveQuestion(scope, now, window, tz, tz_name, get_settings().session_timeout_us)
        out: dict[str, Any] = rest_dict(await metric.answer(readers(), question))
        return out

    return answer


class _RestAnswers:
    """Each metric of the catalog answered as its REST dict (`rest_dict`), on the API's connections
    with the configured session timeout, as the resolvers ask: `q.usage(range, scope, now)`,
    `q.realtime(scope, now, window, tz, tz_name)`, `q.ROUTES[name]`."""

    def __init__(self) -> None:
        self.ROUTES = {m.name: _range_answer(m) for m in catalog.METRICS}
        self.usage = _range_answer(catalog.USAGE)
        self.usage_daily = _range_answer(catalog.USAGE_DAILY)
        self.usage_monthly = _range_answer(catalog.USAGE_MONTHLY)
        self.conversations = _range_answer(catalog.CONVERSATIONS)
        self.conversation_volume = _range_answer(catalog.CONVERSATION_VOLUME)
        self.conversation_duration = _range_answer(catalog.CONVERSATION_DURATION)
        self.conversation_resolution = _range_answer(catalog.CONVERSATION_RESOLUTION)
        self.engagement = _range_answer(catalog.ENGAGEMENT)
        self.retention = _range_answer(catalog.RETENTION)
        self.satisfaction = _range_answer(catalog.SATISFACTION)
        self.realtime = _live_answer(catalog.REALTIME)
        self.active_sessions = _live_answer(catalog.ACTIVE_SESSIONS)


q = _RestAnswers()


def resolve(now: datetime, **params: Any) -> ResolvedRange:
    options = {k: params.pop(k) for k in ("default", "default_group_by") if k in params}
    return resolve_range(RangeParams(**params), now, series=True, **options)


# --------------------------------------------------------------------------- the random dataset (tests/dataset.py)

FILTERS: list[tuple[frozenset[str] | None, str | None]] = [
    (None, None),
    (frozenset({DATASET.bots[0]}), None),
    (frozenset({DATASET.bots[0], DATASET.bots[1]}), None),
    (frozenset({DATASET.bots[2], UNKNOWN}), None),
    (frozenset(), None),
    (frozenset({UNKNOWN}), None),
    (None, BUSY_USER),
    (frozenset({DATASET.bots[1]}), BUSY_USER),
    (None, UNKNOWN),
]

SCENARIOS: dict[str, dict[str, Any]] = {
    "days30-utc-day": {"days": 30},
    "days7-newyork-hour": {"days": 7, "timezone": "America/New_York", "group_by": "hour"},
    "datetimes-kolkata-day": {
        "start_date": "2025-02-20T10:07:13.250+01:00",
        "end_date": "2025-03-12T14:52:00.5Z",
        "timezone": "Asia/Kolkata",
    },
    "month-berlin-week": {"period": "month", "timezone": "Europe/Berlin", "group_by": "week"},
    "year-utc-month": {"period": "year", "group_by": "month"},
    "naive-datetimes-newyork-week": {
        "start_date": "2025-02-16T03:30:00",
        "end_date": "2025-03-12T10:00:00",
        "timezone": "America/New_York",
        "group_by": "week",
    },
    "dates-utc-day": {"start_date": "2025-03-01", "end_date": "2025-03-11"},
    # Buckets across the New York DST change of 2025-03-09: weeks and months change offset.
    "dst-newyork-month": {
        "start_date": "2025-02-16",
        "end_date": "2025-04-10",
        "timezone": "America/New_York",
        "group_by": "month",
    },
    "days14-newyork-week": {"days": 14, "timezone": "America/New_York", "group_by": "week"},
    "only-end-datetime-saopaulo-week": {
        "end_date": "2025-03-09T12:00:00",
        "timezone": "America/Sao_Paulo",
        "group_by": "week",
    },
    "default12-berlin-month": {"default": "months12", "timezone": "Europe/Berlin", "group_by": "month"},
}


NOW_DEPENDENT = (
    "usage",
    "conversations",
    "conversations/duration",
    "conversations/resolution",
    "conversations/outcomes",
)


@pytest.fixture
async def loaded(db: str) -> ref.Reference:
    for batch in DATASET.batches:
        await ingest_events(batch, ADMIN, now=NOW)
    # The app's default timeout (API.md section 5), written here, not read from its settings.
    return ref.Reference(DATASET.events, timedelta(minutes=30))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_every_route_matches_the_reference(loaded: ref.Reference, scenario: str) -> None:
    """The app resolves the range (app.analytics.ranges), the reference on its own from the same
    parameters: the `range` echo, every bucket_start/cohort_start and every number must agree."""
    params = SCENARIOS[scenario]
    r = resolve(NOW, **params)
    expected_range = ref.resolve_range(NOW, **params)
    for bots, user in FILTERS:
        for route, fn in q.ROUTES.items():
            rr, ref_r = r, expected_range
            if route == "engagement/retention" and r.group_by == "hour":
                # The resolver rejects hour here: both sides use week buckets instead.
                rr = dataclasses.replace(r, group_by="week")
                ref_r = ref.resolve_range(NOW, **{**params, "group_by": "week"})
            # Statuses depend on `now`: the conversation routes run a second time, 40 minutes earlier;
            # outcomes also a day later (resolutions of the last day become checked).
            nows = (NOW, NOW - timedelta(minutes=40)) if route in NOW_DEPENDENT else (NOW,)
            if route == "conversations/outcomes":
                nows = (*nows, NOW + timedelta(hours=20))
            for now in nows:
                actual = await fn(rr, Scope(bots, user), now)
                expected = ref.ROUTES[route](loaded, ref_r, (bots, user), now)
                assert_same(actual, expected, f"{scenario} {route} bots={bots} user={user} now={now}")


# The ranges `compare` is checked on (API.md section 9): each with its compare and the `now` it is
# asked at (NOW is 2025-03-12T15:07:30.25Z; the data runs from 2025-02-10 to just after NOW).
LATER = datetime(2026, 6, 1, tzinfo=UTC)
COMPARE_SCENARIOS: dict[str, tuple[dict[str, Any], str, datetime]] = {
    # 7 local days holding the New York DST change (a 23-hour day) against 7 days of EST; the range
    # ends after NOW, so the comparison covers the same elapsed time.
    "days7-newyork-previous_period-dst": (
        {"days": 7, "timezone": "America/New_York"},
        "previous_period",
        NOW,
    ),
    # Two past days across the change by the hour: 47 hours against the 48 of the two days before.
    "dates-newyork-previous_period-dst-hour": (
        {
            "start_date": "2025-03-09",
            "end_date": "2025-03-10",
            "timezone": "America/New_York",
            "group_by": "hour",
        },
        "previous_period",
        NOW,
    ),
    # period=month: 1 March to the end of today against as many days before it (not February), cut
    # to the elapsed time; and all of March against the 31 days before it.
    "month-berlin-previous_period": (
        {"period": "month", "timezone": "Europe/Berlin"},
        "previous_period",
        NOW,
    ),
    "month-berlin-previous_period-later": (
        {"start_date": "2025-03-01", "end_date": "2025-03-31", "timezone": "Europe/Berlin"},
        "previous_period",
        LATER,
    ),
    # period=today: today so far against yesterday up to the same local time.
    "today-kolkata-previous_period": (
        {"period": "today", "timezone": "Asia/Kolkata"},
        "previous_period",
        NOW,
    ),
    "today-utc-previous_year": ({"period": "today"}, "previous_year", NOW),
    # Datetime bounds: the same length in absolute time just before the start.
    "datetimes-previous_period": (
        {"start_date": "2025-02-27T10:07:13.250+01:00", "end_date": "2025-03-12T14:52:00.5Z"},
        "previous_period",
        NOW,
    ),
    "naive-datetimes-newyork-previous_period": (
        {
            "start_date": "2025-03-05T03:30:00",
            "end_date": "2025-03-12T10:00:00",
            "timezone": "America/New_York",
        },
        "previous_period",
        NOW,
    ),
    # previous_year from 29 February: [2023-02-28T10:00, 2025-03-06) local, which holds data too.
    "leap-day-newyork-previous_year-later": (
        {"start_date": "2024-02-29T10:00:00", "end_date": "2026-03-05", "timezone": "America/New_York"},
        "previous_year",
        LATER,
    ),
    "days30-utc-previous_year": ({"days": 30}, "previous_year", NOW),
    # A range that starts after now compares with an empty range (start = end).
    "future-previous_period-empty": (
        {"start_date": "2025-03-13", "end_date": "2025-03-20"},
        "previous_period",
        NOW,
    ),
    "future-datetimes-newyork-previous_year-hour-empty": (
        {
            "start_date": "2025-03-13T10:30:00",
            "end_date": "2025-03-14T10:00:00",
            "timezone": "America/New_York",
            "group_by": "hour",
        },
        "previous_year",
        NOW,
    ),
}


COMPARE_FILTERS = [FILTERS[0], FILTERS[1], FILTERS[3], FILTERS[4], FILTERS[7]]
"""Every bot; one bot (a scoped caller); a scope with an unknown bot; an empty scope; a bot and a user
(a subset of FILTERS: the reference's comparison is a second brute-force pass per route)."""


@pytest.mark.parametrize("scenario", list(COMPARE_SCENARIOS))
async def test_compare_matches_the_reference(loaded: ref.Reference, scenario: str) -> None:
    """`comparison` (range echo and every number key) and `change` on every route of the catalog:
    the compared ones against the reference's comparison, the others unchanged by `compare`."""
    params, compare, now = COMPARE_SCENARIOS[scenario]
    r = resolve(now, **params)
    expected_range = ref.resolve_range(now, **params)
    compared = {m.name for m in catalog.METRICS if m.comparable}
    assert compared == ref.COMPARED & set(q.ROUTES)
    for bots, user in COMPARE_FILTERS:
        for route, fn in q.ROUTES.items():
            # The routes that ignore `compare` are checked once per scenario (retention, whose
            # reference is quadratic in the buckets, over the short ranges only).
            if route not in compared and (
                (bots, user) != (None, None) or (route == "engagement/retention" and "later" in scenario)
            ):
                continue
            rr, ref_r = r, expected_range
            if route == "engagement/retention" and r.group_by == "hour":
                rr = dataclasses.replace(r, group_by="week")
                ref_r = ref.resolve_range(now, **{**params, "group_by": "week"})
            actual = await fn(rr, Scope(bots, user), now, compare)
            expected = ref.ROUTES[route](loaded, ref_r, (bots, user), now, compare)
            assert_same(actual, expected, f"{scenario} {route} bots={bots} user={user}")


async def test_compare_scenarios_have_data_on_both_sides(loaded: ref.Reference) -> None:
    """Not 0 against 0: the comparison and the current range both hold conversations (except the
    scenario built to be empty), so the comparison test compares numbers."""
    for scenario, (params, compare, now) in COMPARE_SCENARIOS.items():
        answer = ref.ROUTES["usage"](loaded, ref.resolve_range(now, **params), (None, None), now, compare)
        previous = answer["comparison"]["total_messages"]
        if scenario.endswith("-empty"):
            assert answer["comparison"]["range"]["start"] == answer["comparison"]["range"]["end"]
        elif scenario not in ("days30-utc-previous_year", "today-utc-previous_year"):
            assert answer["total_messages"] > 0 and previous > 0, scenario


@pytest.mark.parametrize("scenario", ["days30-utc-day", "datetimes-kolkata-day"])
async def test_duration_summed_and_ranked_by_the_database_matches_the_reference(
    loaded: ref.Reference, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More durations than the process sorts itself (here: more than one) go to the database's
    totals and `ORDER BY ... OFFSET` picks: the same answer as the reference."""
    from app.analytics.answers import conversations

    monkeypatch.setattr(conversations, "MAX_DURATIONS_IN_MEMORY", 1)
    params = SCENARIOS[scenario]
    for bots, user in FILTERS:
        for now in (NOW, NOW - timedelta(minutes=40)):
            actual = await q.conversation_duration(resolve(NOW, **params), Scope(bots, user), now)
            expected = ref.ROUTES["conversations/duration"](
                loaded, ref.resolve_range(NOW, **params), (bots, user), now
            )
            assert_same(actual, expected, f"{scenario} bots={bots} user={user} now={now}")


async def test_the_dataset_exercises_the_edge_cases(loaded: ref.Reference) -> None:
    """Guard against a generator change that silently drops the cases the comparison is for."""
    convs = [c for c in loaded.convs.values() if c.bot is not None]
    statuses = {c.status(NOW, loaded.timeout) for c in convs}
    assert statuses == {"active", "resolved", "escalated", "abandoned"}
    assert any(not c.starts for c in convs)
    assert any(c.end_event and c.end_event.ts < c.last_activity_at for c in convs)
    assert any(c.end_event and c.end_event.ts < c.started_at for c in convs)
    assert any(len([e for e in c.events if e.type == "satisfaction"]) > 1 for c in convs)
    assert any(c.bot is None for c in loaded.convs.values())
    active_near_now = [c for c in convs if c.status(NOW, loaded.timeout) == "active"]
    abandoned_by_timeout = [
        c for c in convs if c.end_event is None and c.status(NOW, loaded.timeout) == "abandoned"
    ]
    assert active_near_now and abandoned_by_timeout
    assert sum(len(b) for b in DATASET.batches) > len(DATASET.events)  # duplicates were resent


@pytest.mark.parametrize("tz_name", ["UTC", "Asia/Kolkata"])
async def test_realtime_matches_the_reference(loaded: ref.Reference, tz_name: str) -> None:
    tz = ZoneInfo(tz_name)
    for bots, user in FILTERS:
        for now in (NOW, NOW - timedelta(minutes=7), NOW + timedelta(minutes=3), NOW - timedelta(days=3)):
            for window in (1, 5, 30, 60):
                scope = Scope(bots, user)
                assert_same(
                    await q.realtime(scope, now, window, tz, tz_name),
                    ref.realtime(loaded, (bots, user), now, window, tz, tz_name),
                    f"realtime {bots} {user} {now} {window}",
                )
                assert_same(
                    await q.active_sessions(scope, now, window, tz, tz_name),
                    ref.active_sessions(loaded, (bots, user), now, window, tz, tz_name),
                    f"active {bots} {user} {now} {window}",
                )


# --------------------------------------------------------------------------- small hand-built cases


class Builder:
    """Builds events for hand-computed tests."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bot = new_id()
        self.user = new_id()

    def conv(
        self,
        start: datetime | None,
        *,
        bot: str | None = None,
        user: str | None = None,
        channel: str | None = None,
        messages: list[tuple[datetime, str]] | tuple[()] = (),
        end: tuple[datetime, str] | None = None,
        ratings: list[tuple[datetime, int]] | tuple[()] = (),
        fallback: bool = False,
    ) -> str:
        conv = new_id()
        base = {"conversation_id": conv, "bot_id": bot or self.bot, "user_id": user or self.user}
        if start is not None:
            ev: dict[str, Any] = {"type": "conversation_started", "timestamp": stamp(start), **base}
            if channel:
                ev["channel"] = channel
            self.events.append(ev)
        for t, role in messages:
            self.events.append(
                {"type": "message", "role": role, "timestamp": stamp(t), "fallback": fallback, **base}
            )
        if end is not None:
            self.events.append(
                {
                    "type": "conversation_ended",
                    "timestamp": stamp(end[0]),
                    "resolution": end[1],
                    "conversation_id": conv,
                }
            )
        for t, score in ratings:
            self.events.append({"type": "satisfaction", "timestamp": stamp(t), "score": score, **base})
        return conv

    async def load(self, now: datetime) -> None:
        for e in self.events:
            e.setdefault("id", new_id())
        await ingest(self.events, now)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


EVERY = Scope(None)


def test_split_slots() -> None:
    s = SLOT_US
    split = split_slots(0, 4 * s)
    assert (split.slot_lo, split.slot_hi, split.raw) == (0, 4, ())
    split = split_slots(10, 4 * s + 7)
    assert (split.slot_lo, split.slot_hi, split.raw) == (1, 4, ((10, s), (4 * s, 4 * s + 7)))
    split = split_slots(s + 1, 2 * s - 1)
    assert (split.slot_lo, split.slot_hi, split.raw) == (0, 0, ((s + 1, 2 * s - 1),))
    split = split_slots(5, 5)
    assert split.raw == ()


async def test_empty_database_gives_zeros_and_nulls(db: str) -> None:
    now = utc(2025, 6, 15, 10)
    r = resolve(now)
    u = await q.usage(r, EVERY, now)
    assert u == {
        "range": {"start": "2025-05-17T00:00:00Z", "end": "2025-06-16T00:00:00Z", "timezone": "UTC"},
        "total_conversations": 0,
        "total_messages": 0,
        "user_messages": 0,
        "bot_messages": 0,
        "active_users": 0,
        "new_users": 0,
        "avg_messages_per_conversation": None,
        "avg_conversation_duration_seconds": None,
        "comparison": None,
        "change": None,
    }
    daily = await q.usage_daily(r, EVERY, now)
    assert len(daily["data"]) == 30
    assert daily["data"][0] == {
        "date": "2025-05-17",
        "conversations": 0,
        "messages": 0,
        "active_users": 0,
        "new_users": 0,
    }
    c = await q.conversations(r, EVERY, now)
    assert c["resolution_rate"] is None and c["fallback_rate"] is None and c["by_channel"] == []
    d = await q.conversation_duration(r, EVERY, now)
    assert d["count"] == 0 and d["median_seconds"] is None and d["p90_seconds"] is None
    assert [b["count"] for b in d["distribution"]] == [0] * 6
    e = await q.engagement(r, EVERY, now)
    assert e["avg_daily_active_users"] == 0 and e["stickiness"] is None and e["messages_per_user"] is None
    s = await q.satisfaction(r, EVERY, now)
    assert s["average_score"] is None and s["csat"] is None
    assert s["distribution"] == [{"score": k, "count": 0} for k in range(1, 6)]
    ret = await q.retention(resolve(now, default_group_by="week"), EVERY, now)
    assert ret["group_by"] == "week"
    assert ret["cohorts"][0]["retention"][0] == {"period": 0, "users": 0, "rate": None}
    rt = await q.realtime(EVERY, now, 5, UTC_ZONE, "UTC")
    assert rt == {
        "as_of": "2025-06-15T10:00:00Z",
        "window_minutes": 5,
        "active_sessions": 0,
        "active_users": 0,
        "messages_per_minute": 0.0,
        "conversations_started": 0,
    }


async def test_unaligned_datetime_bounds_count_raw_edges(db: str) -> None:
    """A datetime range cuts 15-minute slots: the partial slots are counted from raw events."""
    b = Builder()
    times = [
        utc(2025, 3, 3, 10, 0),
        utc(2025, 3, 3, 10, 7, 29),
        utc(2025, 3, 3, 10, 7, 30),
        utc(2025, 3, 3, 10, 14, 59) + timedelta(microseconds=999_999),
        utc(2025, 3, 3, 10, 15),
        utc(2025, 3, 3, 11, 0),
        utc(2025, 3, 3, 11, 30),
        utc(2025, 3, 3, 11, 40),
    ]
    b.conv(utc(2025, 3, 3, 9, 59), messages=[(t, "user") for t in times])
    now = utc(2025, 3, 4)
    await b.load(now)
    r = resolve(now, start_date="2025-03-03T10:07:30Z", end_date="2025-03-03T11:35:00Z", group_by="hour")
    vol = await q.conversation_volume(r, EVERY, now)
    # The 10:00 bucket is cut by the range: 10:07:30, 10:14:59.999999, 10:15; then 11:00, 11:30.
    assert [(x["bucket_start"], x["messages"]) for x in vol["data"]] == [
        ("2025-03-03T10:00:00Z", 3),
        ("2025-03-03T11:00:00Z", 2),
    ]
    u = await q.usage(r, EVERY, now)
    assert (u["total_messages"], u["active_users"], u["new_users"], u["total_conversations"]) == (5, 1, 0, 0)
    # A range wholly inside one slot.
    r = resolve(now, start_date="2025-03-03T10:07:30Z", end_date="2025-03-03T10:10:00Z")
    assert (await q.usage(r, EVERY, now))["total_messages"] == 1


async def test_days_and_periods(db: str) -> None:
    b = Builder()
    now = utc(2025, 6, 18, 12)  # a Wednesday
    for day in (
        datetime(2024, 12, 31, 12, tzinfo=UTC),
        utc(2025, 1, 2, 9),
        utc(2025, 6, 1, 9),
        utc(2025, 6, 16, 9),
        utc(2025, 6, 18, 9),
    ):
        b.conv(day, messages=[(day + timedelta(minutes=1), "user"), (day + timedelta(minutes=2), "bot")])
    await b.load(now)

    async def conversations_in(**params: Any) -> int:
        return int((await q.usage(resolve(now, **params), EVERY, now))["total_conversations"])

    assert await conversations_in(days=1) == 1
    assert await conversations_in(days=3) == 2
    assert await conversations_in(period="today") == 1
    assert await conversations_in(period="week") == 2
    assert await conversations_in(period="month") == 3
    assert await conversations_in(period="year") == 4
    monthly = await q.usage_monthly(resolve(now, default="months12"), EVERY, now)
    assert [m["month"] for m in monthly["data"]][:2] == ["2024-07", "2024-08"]
    assert {m["month"]: m["messages"] for m in monthly["data"]}["2025-06"] == 6
    assert {m["month"]: m["new_users"] for m in monthly["data"]}["2024-12"] == 1
    assert sum(m["new_users"] for m in monthly["data"]) == 1  # new once: at its first activity ever


async def test_new_york_across_both_dst_changes(db: str) -> None:
    b = Builder()
    # 2025-03-09 02:00 EST -> 03:00 EDT; 2025-11-02 02:00 EDT -> 01:00 EST.
    b.conv(utc(2025, 3, 9, 6, 30), messages=[(utc(2025, 3, 9, 7, 30), "user")])  # 01:30 EST, 03:30 EDT
    b.conv(
        utc(2025, 3, 10, 3, 59), messages=[(utc(2025, 3, 10, 4, 0), "user")]
    )  # 23:59 EDT Mar 9, 00:00 Mar 10
    b.conv(utc(2025, 11, 2, 5, 10), messages=[(utc(2025, 11, 2, 6, 10), "user")])  # 01:10 EDT, 01:10 EST
    now = utc(2025, 11, 10)
    await b.load(now)
    r = resolve(
        now, start_date="2025-03-09", end_date="2025-03-10", timezone="America/New_York", group_by="hour"
    )
    vol = await q.conversation_volume(r, EVERY, now)
    assert len(vol["data"]) == 23 + 24
    nonzero = [
        (x["bucket_start"], x["conversations"], x["messages"])
        for x in vol["data"]
        if x["conversations"] or x["messages"]
    ]
    assert nonzero == [
        ("2025-03-09T01:00:00-05:00", 1, 0),
        ("2025-03-09T03:00:00-04:00", 0, 1),
        ("2025-03-09T23:00:00-04:00", 1, 0),
        ("2025-03-10T00:00:00-04:00", 0, 1),
    ]
    daily = await q.usage_daily(r, EVERY, now)
    assert [
        (d["date"], d["conversations"], d["messages"], d["active_users"], d["new_users"])
        for d in daily["data"]
    ] == [
        ("2025-03-09", 2, 1, 1, 1),
        ("2025-03-10", 0, 1, 1, 0),
    ]
    r = resolve(
        now, start_date="2025-11-02", end_date="2025-11-02", timezone="America/New_York", group_by="hour"
    )
    vol = await q.conversation_volume(r, EVERY, now)
    assert len(vol["data"]) == 25
    nonzero = [
        (x["bucket_start"], x["conversations"], x["messages"])
        for x in vol["data"]
        if x["conversations"] or x["messages"]
    ]
    assert nonzero == [("2025-11-02T01:00:00-04:00", 1, 0), ("2025-11-02T01:00:00-05:00", 0, 1)]
    eng = await q.engagement(r, EVERY, now)
    assert (eng["active_users"], eng["avg_daily_active_users"], eng["stickiness"]) == (1, 1.0, 1.0)


async def test_kolkata_days_start_at_1830_utc(db: str) -> None:
    b = Builder()
    b.conv(
        utc(2025, 4, 1, 18, 29, 59),
        messages=[(utc(2025, 4, 1, 18, 30), "user"), (utc(2025, 4, 1, 18, 44, 59), "bot")],
    )
    now = utc(2025, 4, 5)
    await b.load(now)
    r = resolve(now, start_date="2025-04-01", end_date="2025-04-02", timezone="Asia/Kolkata")
    daily = await q.usage_daily(r, EVERY, now)
    assert daily["range"] == {
        "start": "2025-04-01T00:00:00+05:30",
        "end": "2025-04-03T00:00:00+05:30",
        "timezone": "Asia/Kolkata",
    }
    assert [
        (d["date"], d["conversations"], d["messages"], d["active_users"], d["new_users"])
        for d in daily["data"]
    ] == [
        ("2025-04-01", 1, 0, 1, 1),
        ("2025-04-02", 0, 2, 1, 0),
    ]
    r = resolve(
        now,
        start_date="2025-04-02T00:00:00",
        end_date="2025-04-02T01:00:00",
        timezone="Asia/Kolkata",
        group_by="hour",
    )
    vol = await q.conversation_volume(r, EVERY, now)
    assert vol["data"] == [{"bucket_start": "2025-04-02T00:00:00+05:30", "conversations": 0, "messages": 2}]


async def test_bot_scope_user_filter_and_new_users_within_scope(db: str) -> None:
    b = Builder()
    bot_a, bot_b, other_user = new_id(), new_id(), new_id()
    # The user talks to bot A on day 1 and to bot B on day 3; another user only to bot B on day 2.
    b.conv(utc(2025, 5, 1, 10), bot=bot_a, messages=[(utc(2025, 5, 1, 10, 1), "user")], channel="web")
    b.conv(utc(2025, 5, 3, 10), bot=bot_b, messages=[(utc(2025, 5, 3, 10, 1), "bot")], channel="teams")
    b.conv(utc(2025, 5, 2, 10), bot=bot_b, user=other_user, messages=[(utc(2025, 5, 2, 10, 1), "user")])
    now = utc(2025, 5, 10)
    await b.load(now)
    r = resolve(now, start_date="2025-05-01", end_date="2025-05-03")

    async def new_by_day(scope: Scope) -> list[int]:
        return [d["new_users"] for d in (await q.usage_daily(r, scope, now))["data"]]

    assert await new_by_day(EVERY) == [1, 1, 0]
    assert await new_by_day(Scope(frozenset({bot_a}))) == [1, 0, 0]
    assert await new_by_day(Scope(frozenset({bot_b}))) == [0, 1, 1]
    assert await new_by_day(Scope(frozenset({bot_a, bot_b}))) == [1, 1, 0]
    assert await new_by_day(Scope(frozenset({bot_b}), b.user)) == [0, 0, 1]
    assert await new_by_day(Scope(None, other_user)) == [0, 1, 0]
    assert await new_by_day(Scope(frozenset())) == [0, 0, 0]
    assert await new_by_day(Scope(None, UNKNOWN)) == [0, 0, 0]

    c = await q.conversations(r, Scope(frozenset({bot_a, bot_b})), now)
    assert c["by_channel"] == [
        {"channel": "web", "conversations": 2},
        {"channel": "teams", "conversations": 1},
    ]
    u = await q.usage(r, Scope(None, b.user), now)
    assert (u["total_conversations"], u["user_messages"], u["bot_messages"], u["active_users"]) == (
        2,
        1,
        1,
        1,
    )
    rt = await q.active_sessions(
        Scope(frozenset({bot_a, bot_b})), utc(2025, 5, 3, 10, 5), 10, UTC_ZONE, "UTC"
    )
    assert rt["by_bot"] == [{"bot_id": bot_b, "active_sessions": 1}]


async def test_statuses_durations_bins_and_percentiles(db: str) -> None:
    b = Builder()
    t = utc(2025, 2, 1, 12)
    for seconds, resolution in (
        (30, "resolved"),
        (60, "resolved"),
        (299, "escalated"),
        (300, "abandoned"),
        (1000, "resolved"),
        (4000, "resolved"),
    ):
        b.conv(t, end=(t + timedelta(seconds=seconds), resolution))
    b.conv(t, end=(t - timedelta(seconds=50), "escalated"))  # ended before it started: 0 s
    now = t + timedelta(hours=3)
    # Timeout: exactly 30 minutes idle is still active, one microsecond more is abandoned.
    b.conv(now - timedelta(minutes=45), messages=[(now - timedelta(minutes=30), "user")], fallback=True)
    b.conv(
        now - timedelta(minutes=45),
        messages=[(now - timedelta(minutes=30, microseconds=1), "bot")],
        fallback=True,
    )
    b.conv(now - timedelta(minutes=45), messages=[(now - timedelta(minutes=40), "bot")])
    await b.load(now)
    r = resolve(now, start_date="2025-02-01", end_date="2025-02-01")
    d = await q.conversation_duration(r, EVERY, now)
    assert d["count"] == 9
    durations = [30, 60, 299, 300, 1000, 4000, 0, 900 - 0.000001, 300]
    ordered = sorted(durations)  # 0, 30, 60, 299, 300, 300, 899.999999, 1000, 4000
    assert d["min_seconds"] == 0.0 and d["max_seconds"] == 4000.0
    assert d["median_seconds"] == 300.0  # position 4
    assert d["p90_seconds"] == pytest.approx(1000 + (4000 - 1000) * 0.2)  # position 7.2
    assert d["avg_seconds"] == pytest.approx(sum(durations) / 9)
    assert [(x["min_seconds"], x["max_seconds"], x["count"]) for x in d["distribution"]] == [
        (0.0, 60.0, 2),
        (60.0, 300.0, 2),
        (300.0, 900.0, 3),
        (900.0, 1800.0, 1),
        (1800.0, 3600.0, 0),
        (3600.0, None, 1),
    ]
    assert ordered[4] == 300
    c = await q.conversations(r, EVERY, now)
    assert (c["active"], c["resolved"], c["escalated"], c["abandoned"]) == (1, 4, 2, 3)
    assert c["resolution_rate"] == 4 / 9 and c["abandonment_rate"] == 3 / 9
    assert c["fallback_rate"] == 1 / 2  # bot messages only: one with fallback of two
    res = await q.conversation_resolution(
        resolve(now, start_date="2025-02-01", end_date="2025-02-01", group_by="hour"), EVERY, now
    )
    by_hour = {x["bucket_start"]: x for x in res["data"]}
    assert by_hour["2025-02-01T12:00:00Z"]["resolved"] == 4
    assert by_hour["2025-02-01T14:00:00Z"]["resolution_rate"] == 0.0
    assert by_hour["2025-02-01T00:00:00Z"]["resolution_rate"] is None
    d = await q.conversation_duration(r, Scope(None, UNKNOWN), now)
    assert d["count"] == 0


async def test_percentile_interpolates_between_two(db: str) -> None:
    b = Builder()
    t = utc(2025, 2, 1, 12)
    b.conv(t, end=(t + timedelta(seconds=10), "resolved"))
    b.conv(t, end=(t + timedelta(seconds=21), "resolved"))
    await b.load(t + timedelta(days=1))
    d = await q.conversation_duration(resolve(t + timedelta(days=1), days=2), EVERY, t + timedelta(days=1))
    assert (d["median_seconds"], d["p90_seconds"]) == (15.5, pytest.approx(19.9))


async def test_satisfaction_keeps_the_latest_score(db: str) -> None:
    b = Builder()
    t = utc(2025, 2, 3, 12)
    b.conv(t, ratings=[(t, 2), (t + timedelta(days=1), 5)])  # replaced: only the 5 counts, on day 2
    b.conv(t, ratings=[(t, 4)])
    conv = b.conv(t)
    b.events.append(
        {
            "id": "00000000-0000-4000-8000-00000000000a",
            "type": "satisfaction",
            "score": 1,
            "timestamp": stamp(t),
            "conversation_id": conv,
            "bot_id": b.bot,
            "user_id": b.user,
        }
    )
    b.events.append(
        {
            "id": "00000000-0000-4000-8000-00000000000b",
            "type": "satisfaction",
            "score": 3,
            "timestamp": stamp(t),
            "conversation_id": conv,
            "bot_id": b.bot,
            "user_id": b.user,
        }
    )
    now = utc(2025, 2, 10)
    await b.load(now)
    s = await q.satisfaction(resolve(now, start_date="2025-02-03", end_date="2025-02-04"), EVERY, now)
    assert (s["responses"], s["average_score"], s["csat"]) == (3, 4.0, 2 / 3)
    assert s["distribution"] == [{"score": k, "count": int(k in (3, 4, 5))} for k in range(1, 6)]
    assert [(x["responses"], x["average_score"]) for x in s["data"]] == [(2, 3.5), (1, 5.0)]
    s = await q.satisfaction(resolve(now, start_date="2025-02-03", end_date="2025-02-03"), EVERY, now)
    assert s["responses"] == 2  # the replaced 2 never counts


async def test_retention_by_week(db: str) -> None:
    b = Builder()
    u1, u2, u3 = new_id(), new_id(), new_id()
    # Weeks from Monday 2025-03-03. u1 new in week 0 and back in week 2; u2 new in week 0 only;
    # u3 new in week 1 and back in week 2 (bot messages alone do not make a user active).
    b.conv(utc(2025, 3, 4), user=u1)
    b.conv(utc(2025, 3, 18), user=u1, messages=[(utc(2025, 3, 18, 0, 1), "user")])
    b.conv(utc(2025, 3, 5), user=u2, messages=[(utc(2025, 3, 12), "bot")])
    b.conv(utc(2025, 3, 12), user=u3, messages=[(utc(2025, 3, 19), "user")])
    now = utc(2025, 3, 20)
    await b.load(now)
    r = resolve(now, start_date="2025-03-03", end_date="2025-03-19", default_group_by="week")
    ret = await q.retention(r, EVERY, now)
    assert ret["group_by"] == "week"
    assert [(c["cohort_start"], c["size"]) for c in ret["cohorts"]] == [
        ("2025-03-03T00:00:00Z", 2),
        ("2025-03-10T00:00:00Z", 1),
        ("2025-03-17T00:00:00Z", 0),
    ]
    assert ret["cohorts"][0]["retention"] == [
        {"period": 0, "users": 2, "rate": 1.0},
        {"period": 1, "users": 0, "rate": 0.0},
        {"period": 2, "users": 1, "rate": 0.5},
    ]
    assert ret["cohorts"][1]["retention"] == [
        {"period": 0, "users": 1, "rate": 1.0},
        {"period": 1, "users": 1, "rate": 1.0},
    ]
    assert ret["cohorts"][2]["retention"] == [{"period": 0, "users": 0, "rate": None}]


async def test_realtime_window_edges_and_by_bot_order(db: str) -> None:
    b = Builder()
    now = utc(2025, 7, 1, 12)
    bot_a, bot_b = "aaaaaaaa-0000-4000-8000-000000000000", "bbbbbbbb-0000-4000-8000-000000000000"
    b.conv(now - timedelta(minutes=5), bot=bot_b)  # last activity exactly now - 5 min: outside
    b.conv(now - timedelta(minutes=4), bot=bot_b, messages=[(now, "user")])  # at now: inside
    b.conv(now - timedelta(minutes=3), bot=bot_a, messages=[(now - timedelta(minutes=1), "bot")])
    b.conv(now - timedelta(minutes=2), bot=bot_a, end=(now - timedelta(minutes=1), "resolved"))  # ended
    b.conv(now + timedelta(minutes=1), bot=bot_a)  # after now: not in the window
    await b.load(now)
    rt = await q.realtime(EVERY, now, 5, NY, "America/New_York")
    assert rt == {
        "as_of": "2025-07-01T08:00:00-04:00",
        "window_minutes": 5,
        "active_sessions": 2,
        "active_users": 1,
        "messages_per_minute": 2 / 5,
        "conversations_started": 3,
    }
    act = await q.active_sessions(EVERY, now, 5, UTC_ZONE, "UTC")
    assert act["by_bot"] == [{"bot_id": bot_a, "active_sessions": 1}, {"bot_id": bot_b, "active_sessions": 1}]
    act = await q.active_sessions(Scope(frozenset({bot_b})), now, 60, UTC_ZONE, "UTC")
    assert act["active_sessions"] == 2 and act["by_bot"] == [{"bot_id": bot_b, "active_sessions": 2}]


def test_routes_table() -> None:
    assert list(q.ROUTES) == [
        "usage",
        "usage/daily",
        "usage/monthly",
        "conversations",
        "conversations/volume",
        "conversations/duration",
        "conversations/resolution",
        "engagement",
        "engagement/retention",
        "engagement/satisfaction",
        "intents",
        "performance",
        "conversations/outcomes",
    ]
