"""Every bound on the size and work of one request or connection, in one table.

The README's "Limits" table (Security section) is `markdown_table()` of `LIMITS` (a test compares
them), and `tests/http/test_limits.py` runs one test per row: its own probe, or the test the row
names. A new limit is a row here, its enforcement where the value is checked, and its test.
Values are read from the constants and settings that enforce them, so the table cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.analytics.ranges import MAX_BUCKETS, MAX_COHORTS, MAX_YEAR, MIN_YEAR
from app.config import Settings
from app.ingest.parse import MAX_BATCH, MAX_CHANNEL, MAX_COMMENT, MAX_COST, MAX_INTENT, MAX_MODEL, MAX_REASON
from app.reports.store import MAX_TITLE, REPORT_ID_LENGTH
from app.vocabulary import DAYS, INTENTS_LIMIT, REPORT_LIMIT, WINDOW_MINUTES

__all__ = ["LIMITS", "MAX_INTERVAL_SECONDS", "MAX_QUERY_TOKENS", "Limit", "markdown_table"]

MAX_QUERY_TOKENS = 5000
"""Tokens per GraphQL document (graphql_schema/schema.py, server/graphql.py)."""
MAX_INTERVAL_SECONDS = 3600
"""The longest `intervalSeconds` of the realtime subscription."""


def _default(name: str) -> object:
    return Settings.model_fields[name].default


def _n(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass(frozen=True)
class Limit:
    """One bound: what it bounds, its value, the setting that changes it, what passing it gets,
    and the test that passes it (`path::function`)."""

    key: str
    what: str
    value: str
    setting: str
    over: str
    test: str


_LIMITS = "tests/http/test_limits.py"
_HARDENING = "tests/http/test_hardening.py"
_SERVER = "tests/http/test_hardening_server.py"

LIMITS: tuple[Limit, ...] = (
    Limit(
        "days",
        "`days`",
        f"{DAYS.minimum} to {_n(DAYS.maximum)}",
        "",
        "400 `invalid_parameter` (`days`)",
        f"{_LIMITS}::test_days_over_the_limit_is_400",
    ),
    Limit(
        "years",
        "`start_date` / `end_date`",
        f"years {MIN_YEAR} to {MAX_YEAR}",
        "",
        "400 `invalid_parameter` naming the parameter",
        f"{_HARDENING}::test_years_outside_1970_to_9999_are_400_naming_the_parameter",
    ),
    Limit(
        "buckets",
        "buckets of a series",
        _n(MAX_BUCKETS),
        "",
        "400 `invalid_parameter` (`group_by`; `end_date` on `/usage/daily`, `/usage/monthly`)",
        f"{_LIMITS}::test_a_series_over_the_bucket_limit_is_400",
    ),
    Limit(
        "cohorts",
        "retention cohorts",
        f"{MAX_COHORTS} ({_n(MAX_COHORTS * (MAX_COHORTS + 1) // 2)} cohort x period cells)",
        "",
        "400 `invalid_parameter` (`group_by`), also at `POST /reports`",
        f"{_HARDENING}::test_retention_answers_100_cohorts_and_refuses_101",
    ),
    Limit(
        "query_cost",
        "cost of a GraphQL document: buckets (retention: cells; intents, outcomes, performance: the "
        "days they read) of every field, each alias counted, twice with `compare`",
        _n(_default("max_query_cost")),
        "`ANALYTICS_MAX_QUERY_COST`",
        "`BAD_USER_INPUT` before it runs (REST: 400 `invalid_parameter`)",
        f"{_LIMITS}::test_hundreds_of_aliases_of_the_widest_range_are_refused_before_they_run",
    ),
    Limit(
        "depth",
        "GraphQL document depth",
        _n(_default("max_query_depth")),
        "`ANALYTICS_MAX_QUERY_DEPTH`",
        "`BAD_USER_INPUT`",
        "tests/http/test_query_depth.py::test_a_document_deeper_than_the_setting_is_refused",
    ),
    Limit(
        "tokens",
        "GraphQL document tokens",
        _n(MAX_QUERY_TOKENS),
        "",
        "`BAD_USER_INPUT`",
        f"{_LIMITS}::test_a_document_over_the_token_limit_is_refused",
    ),
    Limit(
        "body",
        "request body (also one WebSocket message)",
        f"{_n(_default('max_body_bytes'))} bytes (1 MiB)",
        "`ANALYTICS_MAX_BODY_BYTES`",
        "413 `payload_too_large`",
        "tests/http/test_boundaries.py::test_a_body_of_exactly_one_mebibyte_is_accepted_one_byte_more_is_413",
    ),
    Limit(
        "batch",
        "events per batch",
        _n(MAX_BATCH),
        "",
        "400 `invalid_body` (`events`)",
        f"{_LIMITS}::test_a_batch_over_the_limit_is_400",
    ),
    Limit(
        "event_strings",
        "`intent` / `channel` / `comment` / `model` / `reason` of an event",
        f"{MAX_INTENT} / {MAX_CHANNEL} / {_n(MAX_COMMENT)} / {MAX_MODEL} / {MAX_REASON} characters",
        "",
        "400 `invalid_body` naming the field",
        f"{_LIMITS}::test_event_strings_over_their_limit_are_400",
    ),
    Limit(
        "event_cost",
        "`cost` of a message",
        f"0 to {_n(MAX_COST)}",
        "",
        "400 `invalid_body` naming `cost`",
        f"{_LIMITS}::test_a_cost_over_the_limit_is_400_and_the_largest_sums_stay_finite",
    ),
    Limit(
        "intents",
        "entries of `/intents`",
        f"`limit` {INTENTS_LIMIT.minimum} to {INTENTS_LIMIT.maximum}, default {INTENTS_LIMIT.default}",
        "",
        "400 `invalid_parameter` (`limit`)",
        "tests/http/test_bad_parameters_are_400.py::test_graphql_intents_limit_out_of_range_is_bad_user_input",
    ),
    Limit(
        "report_rows",
        "reports per page (`limit`)",
        f"{REPORT_LIMIT.minimum} to {REPORT_LIMIT.maximum}",
        "",
        "400 `invalid_parameter` (`limit`)",
        f"{_LIMITS}::test_a_report_page_over_the_limit_is_400",
    ),
    Limit(
        "report_title",
        "report `title`; report id",
        f"{MAX_TITLE} characters; {REPORT_ID_LENGTH} characters",
        "",
        "400 `invalid_body` (`title`); 404 `not_found`",
        f"{_LIMITS}::test_a_report_title_over_the_limit_is_400",
    ),
    Limit(
        "window",
        "`window_minutes` / subscription `intervalSeconds`",
        f"{WINDOW_MINUTES.minimum} to {WINDOW_MINUTES.maximum} / 1 to {_n(MAX_INTERVAL_SECONDS)}",
        "",
        "400 `invalid_parameter` / `BAD_USER_INPUT`",
        f"{_LIMITS}::test_a_window_over_the_limit_is_400",
    ),
    Limit(
        "subscriptions_per_connection",
        "subscriptions per WebSocket",
        _n(_default("ws_max_subscriptions_per_connection")),
        "`ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION`",
        "an `error` message (`BAD_USER_INPUT`), the socket stays open",
        f"{_SERVER}::test_subscriptions_per_connection_are_capped",
    ),
    Limit(
        "subscriptions_per_credential",
        "subscriptions per credential (per process)",
        _n(_default("ws_max_subscriptions_per_credential")),
        "`ANALYTICS_WS_MAX_SUBSCRIPTIONS_PER_CREDENTIAL`",
        "an `error` message (`BAD_USER_INPUT`)",
        f"{_SERVER}::test_subscriptions_per_credential_are_capped_across_connections",
    ),
    Limit(
        "slow_consumer",
        "time a push may wait for a client that does not read",
        f"{_n(_default('ws_send_timeout_seconds'))} s",
        "`ANALYTICS_WS_SEND_TIMEOUT_SECONDS`",
        "the socket is closed (1008)",
        f"{_SERVER}::test_a_client_that_does_not_read_is_closed",
    ),
    Limit(
        "header_lines",
        "header lines of a request",
        _n(_default("http_max_headers")),
        "`ANALYTICS_HTTP_MAX_HEADERS`",
        "431",
        f"{_SERVER}::test_too_many_header_lines_are_431",
    ),
    Limit(
        "header_bytes",
        "request line and headers",
        f"{_n(_default('http_max_header_bytes'))} bytes",
        "`ANALYTICS_HTTP_MAX_HEADER_BYTES`",
        "431, before the rest is read",
        f"{_SERVER}::test_a_header_larger_than_the_limit_is_431",
    ),
    Limit(
        "header_time",
        "time to send a request head",
        f"{_n(_default('http_header_timeout_seconds'))} s",
        "`ANALYTICS_HTTP_HEADER_TIMEOUT_SECONDS`",
        "the connection is closed",
        f"{_SERVER}::test_a_head_that_never_ends_is_closed",
    ),
    Limit(
        "rate",
        "requests per minute per address / per credential; per second (burst)",
        (
            f"{_n(_default('rate_limit_per_address_per_minute'))} / "
            f"{_n(_default('rate_limit_per_credential_per_minute'))}; "
            f"{_n(_default('rate_limit_burst_per_second'))}"
        ),
        "`ANALYTICS_RATE_LIMIT_*` (on in production)",
        "429 `rate_limited` with `Retry-After`",
        "tests/http/test_rate_limits.py::test_an_address_over_its_limit_gets_429_and_another_address_is_counted_apart",
    ),
)


def markdown_table() -> str:
    """The README's Limits table."""
    lines = ["| limit | value | setting | over the limit |", "|---|---|---|---|"]
    lines += [f"| {x.what} | {x.value} | {x.setting or 'fixed'} | {x.over} |" for x in LIMITS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m app.limits` prints the README table
    print(markdown_table(), end="")
