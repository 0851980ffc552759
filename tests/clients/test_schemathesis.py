"""Schemathesis 4 against the live server's /openapi.json, with an admin token: every operation with
every check (positive and negative data), then the stateful phase along the spec's links (a report
created, read, downloaded, deleted). Zero failures.

A few rules of API.md cannot be written in OpenAPI: the range parameters exclude each other, the
range must be forward and hold at most 10,000 buckets, a zone must exist in the IANA database, and an
event may not be stamped more than 24 hours ahead nor move a conversation to another bot. The hooks
below keep generated requests that are *valid* inside those rules (so "schema-valid request
rejected" means what it says); negative requests are left as generated.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

import schemathesis
from schemathesis import GenerationMode
from schemathesis.engine import Status, events, from_schema

from tests.clients.conftest import Live

A = "/api/v1/analytics"
STREAM = A + "/realtime/stream"
ZONES = sorted(available_timezones())
MAX_EXAMPLES = 12
"""Per operation and phase: the client suites stay within their time budget on 2 cores."""


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def range_is_valid(params: dict[str, Any], path: str) -> bool:
    """API.md 3: one kind of range, forward, and at most 10,000 buckets (with a margin of a day for
    zones and datetimes)."""
    kinds = [k for k in ("days", "period") if params.get(k) is not None]
    if params.get("start_date") is not None or params.get("end_date") is not None:
        kinds.append("dates")
    if len(kinds) > 1:
        return False
    start, end = _day(params.get("start_date")), _day(params.get("end_date"))
    if (params.get("start_date") is not None and start is None) or (
        params.get("end_date") is not None and end is None
    ):
        return True  # not a valid value: a negative case
    today = datetime.now(UTC).date()
    if start is not None and end is None:
        end = today
    if end is not None and start is None:
        start = end - timedelta(days=30)
        if start.year < 1971 or end.year >= 9999:
            return False
    if start is not None and end is not None:
        if (end - start).days < 2:
            return False
        span = (end - start).days + 2
    elif str(params.get("days", "")).isdigit():
        span = int(params["days"])
    else:
        span = 400
    per_bucket = {"hour": 1 / 24, "day": 1, "week": 7, "month": 28}.get(params.get("group_by") or "day", 1)
    if path.endswith("/usage/daily"):
        per_bucket = 1
    # A report of these types has a retention section (`hour` becomes `week` there).
    with_retention = path.endswith("/reports") and params.get("type") in ("retention", "engagement", "full")
    if path.endswith("/retention") or with_retention:  # at most 100 cohorts, weeks by default
        per_bucket = {"day": 1, "month": 28}.get(params.get("group_by") or "week", 7)
        return span / per_bucket < 95
    return span / per_bucket < 9_900


def _known_zone(params: dict[str, Any]) -> dict[str, Any]:
    zone = params.get("timezone")
    if isinstance(zone, str) and zone not in ZONES:
        params["timezone"] = ZONES[zlib.crc32(zone.encode()) % len(ZONES)]
    return params


def _recent(stamp: Any, now: datetime) -> Any:
    """An event more than 24 hours ahead is a 400 (API.md 4): such a stamp moves to a day ago."""
    try:
        parsed = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return stamp
    if parsed.tzinfo is not None and parsed - now > timedelta(hours=23):
        return (now - timedelta(days=1)).isoformat()
    return stamp


def _events_within_rules(body: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    for event in body.get("events") or []:
        if not isinstance(event, dict):
            continue
        event["timestamp"] = _recent(event.get("timestamp"), now)
        owner = f"{event.get('conversation_id')}|{event.get('bot_id')}|{event.get('user_id')}"
        # A conversation belongs to the bot and user of its first event: one id per owner.
        event["conversation_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, owner))


def _positive(case: schemathesis.Case[Any]) -> bool:
    return case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> bool:
    """Positive cases only within the cross-parameter rules of ranges (negative ones as generated)."""
    if not _positive(case):
        return True
    path = case.operation.path
    if case.method.upper() == "POST" and path.endswith("/reports") and isinstance(case.body, dict):
        # Reports with retention cohorts (engagement, retention, full) are bound as /retention is.
        cohorts = case.body.get("type") in {"engagement", "retention", "full"}
        return range_is_valid(case.body, path + "/retention" if cohorts else path)
    if case.query and "/reports" not in path:
        return range_is_valid(dict(case.query), path)
    return True


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    if not _positive(case):
        return case
    if case.query:
        _known_zone(case.query)
    if isinstance(case.body, dict):
        if case.operation.path.endswith("/events"):
            _events_within_rules(case.body)
        elif case.operation.path.endswith("/reports"):
            _known_zone(case.body)
    return case


def run_schemathesis(
    live: Live, phases: list[str], select: Callable[[Any], Any] = lambda schema: schema
) -> tuple[list[str], set[str], set[str]]:
    """Run Schemathesis' engine (what `schemathesis run` runs) over the live spec: its failures, the
    answers it saw (`METHOD path status`) and the checks it ran."""
    config = schemathesis.Config()
    loaded = schemathesis.openapi.from_url(live.base_url + "/openapi.json", config=config)
    loaded.config.update(base_url=live.base_url, headers=live.headers(), request_timeout=30)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
    )
    loaded.config.phases.update(phases=phases)
    loaded = select(loaded)
    failures: list[str] = []
    operations: set[str] = set()
    checks: set[str] = set()
    for event in from_schema(loaded).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, case_node in event.recorder.cases.items():
                interaction = event.recorder.interactions.get(case_id)
                status = interaction.response.status_code if interaction and interaction.response else None
                operations.add(f"{case_node.value.method.upper()} {case_node.value.operation.path} {status}")
            for case_id, nodes in event.recorder.checks.items():
                for node in nodes:
                    checks.add(node.name)
                    if node.status == Status.FAILURE and node.failure_info is not None:
                        failure = node.failure_info.failure
                        failures.append(
                            f"{event.phase} {event.recorder.label} {case_id}: {failure.title}: "
                            f"{failure.message}\n  {node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            failures.append(f"error in {event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
    return failures, operations, checks


def test_every_operation_passes_every_check(live: Live, spec: dict[str, Any]) -> None:
    # The event stream never ends while its credential holds: Schemathesis would wait for its body
    # forever. tests/http/test_realtime_stream.py reads it, and its 400s, with a plain client.
    failures, operations, checks = run_schemathesis(
        live, ["examples", "coverage", "fuzzing"], lambda schema: schema.exclude(path=STREAM)
    )
    assert not failures, "\n\n".join(failures)
    documented = {f"{m.upper()} {p}" for p, ms in spec["paths"].items() for m in ms if p != STREAM}
    assert documented <= {answer.rsplit(" ", 1)[0] for answer in operations}
    assert {"not_a_server_error", "response_schema_conformance", "positive_data_acceptance"} <= checks
    assert {"negative_data_rejection", "status_code_conformance", "content_type_conformance"} <= checks


def test_stateful_phase_follows_the_report_links(live: Live) -> None:
    # The report operations only: with `GET /reports` in, Schemathesis starts every scenario there
    # (a `POST` whose body names a bot is not a "reliable" start), and never creates a report.
    failures, answers, _checks = run_schemathesis(
        live,
        ["stateful"],
        lambda schema: schema.include(path_regex="/reports").exclude(method="GET", path=A + "/reports"),
    )
    assert not failures, "\n\n".join(failures)
    one = A + "/reports/{report_id}"
    # Along the links: a report created, then read, downloaded (or 409 before it is ready), deleted.
    assert f"POST {A}/reports 202" in answers
    assert f"GET {one} 200" in answers
    assert {f"GET {one}/download 200", f"GET {one}/download 409"} & answers
    assert f"DELETE {one} 204" in answers
