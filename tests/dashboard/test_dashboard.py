"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a live server with
demo data: what the page shows equals the REST answers for the same range, time zone and bot; every
view follows the controls; the live tile follows ingestion; credentials that expire, are revoked or
are scoped behave as a person expects; a phone-width page does not scroll sideways. Console errors
fail every test (conftest.py). Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, WebSocketRoute

from graphql_schema.schema import schema
from tests.dashboard.conftest import SUPPORT_BOT, Dashboard, screenshot
from tests.factories import iso, token_for

RANGES: dict[str, tuple[dict[str, str], str, str]] = {
    # picker value: (REST range parameters, series bucket, retention bucket)
    "today": ({"period": "today"}, "hour", "day"),
    "7d": ({"days": "7"}, "day", "day"),
    "30d": ({"days": "30"}, "day", "week"),
    "90d": ({"days": "90"}, "day", "week"),
    "month": ({"period": "month"}, "day", "week"),
}
LOADED = 'body[data-loaded]:not([data-loaded="false"])'
assert schema._schema.query_type is not None
QUERY_FIELDS = set(schema._schema.query_type.fields)
FILTER_FIELDS = set(schema._schema.type_map["AnalyticsFilter"].fields)  # type: ignore[attr-defined]
"""The server runs this schema: a view whose field it has must show data, one without says so."""


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def money(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"


def view_state(page: Page, view: str) -> str:
    return str(page.get_attribute(f"[data-view='{view}']", "data-state"))


def open_signed_in(page: Page, dashboard: Dashboard, credential: str, query: str = "") -> None:
    page.goto(f"{dashboard.base_url}/dashboard{query}#token={credential}")
    page.wait_for_selector(LOADED, state="attached", timeout=30_000)


def settle(page: Page) -> None:
    """Wait until every view has answered for the controls' current state."""
    generation = page.evaluate("document.body.dataset.generation")
    page.wait_for_selector(f'body[data-loaded="{generation}"]', state="attached", timeout=30_000)


def choose(
    page: Page, range_: str | None = None, timezone: str | None = None, bot: str | None = None
) -> None:
    if timezone is not None:
        page.select_option("#timezone", timezone)
    if bot is not None:
        page.select_option("#bot", bot)
    if range_ is not None:
        page.select_option("#range", range_)
    settle(page)


def figures(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => [...document.querySelectorAll('.figure')].map(
                f => [f.id.replace('figure-', ''), f.querySelector('.figure-value').textContent])"""
        )
    )


def rows(page: Page, view: str) -> list[list[str]]:
    return list(
        page.evaluate(
            """(view) => [...document.querySelectorAll(`[data-view='${view}'] tbody tr`)].map(
                tr => [...tr.children].map(cell => cell.textContent))""",
            view,
        )
    )


def expected_figures(dashboard: Dashboard, params: dict[str, str], credential: str) -> dict[str, str]:
    usage = dashboard.rest("/usage", params, credential)
    conversations = dashboard.rest("/conversations", params, credential)
    satisfaction = dashboard.rest("/engagement/satisfaction", params, credential)
    return {
        "conversations": str(usage["total_conversations"]),
        "active-users": str(usage["active_users"]),
        "resolution-rate": pct(conversations["resolution_rate"]),
        "escalation-rate": pct(conversations["escalation_rate"]),
        "fallback-rate": pct(conversations["fallback_rate"]),
        "csat": pct(satisfaction["csat"]),
    }


def assert_every_view_matches(
    page: Page, dashboard: Dashboard, range_: str, timezone: str, bot: str | None, credential: str
) -> None:
    """Each view of the page against the REST answer for the same question."""
    range_params, bucket, cohort_bucket = RANGES[range_]
    params = {**range_params, "timezone": timezone, **({"bot_id": bot} if bot else {})}
    shown = figures(page)
    assert {k: shown[k] for k in expected_figures(dashboard, params, credential)} == expected_figures(
        dashboard, params, credential
    )
    volume = dashboard.rest("/conversations/volume", {**params, "group_by": bucket}, credential)["data"]
    any_volume = any(v["conversations"] + v["messages"] for v in volume)
    assert [r[1:] for r in rows(page, "volume")] == [
        [str(v["conversations"]), str(v["messages"])] for v in volume if any_volume
    ]
    outcomes = dashboard.rest("/conversations/resolution", {**params, "group_by": bucket}, credential)["data"]
    closed = any(o["resolved"] + o["escalated"] + o["abandoned"] for o in outcomes)
    assert [r[1:] for r in rows(page, "outcomes")] == [
        [str(o["resolved"]), str(o["escalated"]), str(o["abandoned"]), pct(o["resolution_rate"])]
        for o in outcomes
        if closed
    ]
    satisfaction = dashboard.rest("/engagement/satisfaction", params, credential)
    bars = page.locator("[data-view='satisfaction'] .hbar-value").all_text_contents()
    if satisfaction["responses"]:
        assert bars == [
            f"{d['count']} ({pct(d['count'] / satisfaction['responses'])})"
            for d in reversed(satisfaction["distribution"])
        ]
    else:
        assert bars == []
    cohorts = dashboard.rest("/engagement/retention", {**params, "group_by": cohort_bucket}, credential)[
        "cohorts"
    ]
    shown_cohorts = rows(page, "retention")
    if any(c["size"] for c in cohorts):
        latest = cohorts[-12:]
        assert [r[1] for r in shown_cohorts] == [str(c["size"]) for c in latest]
        assert [r[2] for r in shown_cohorts] == [pct(c["retention"][0]["rate"]) for c in latest]
    else:
        assert shown_cohorts == []


def assert_insights_match(page: Page, dashboard: Dashboard, params: dict[str, str], credential: str) -> None:
    """The insight views (API.md section 9) against REST, or "not available" where the schema lacks them."""
    shown = figures(page)
    if "intents" in QUERY_FIELDS:
        intents = dashboard.rest("/intents", {**params, "limit": "10"}, credential)["data"]
        assert rows(page, "intents") == [
            [
                i["intent"],
                str(i["messages"]),
                pct(i["fallback_rate"]),
                pct(i["escalation_rate"]),
            ]
            for i in intents
        ]
    else:
        assert view_state(page, "intents") == "unavailable"
    if "performance" in QUERY_FIELDS:
        performance = dashboard.rest("/performance", params, credential)
        assert shown["p95-latency"] == ms(performance["p95_latency_ms"])
        assert shown["cost-per-resolved"] == money(performance["cost_per_resolved_conversation"])
        latency = performance["data"] if performance["latency_count"] else []
        assert [r[1:] for r in rows(page, "latency")] == [
            [ms(d["p50_latency_ms"]), ms(d["p95_latency_ms"])] for d in latency
        ]
        models = page.locator("[data-view='models'] .hbar-label").all_text_contents()
        assert models == [m["model"] for m in performance["by_model"]]
    else:
        assert (view_state(page, "latency"), view_state(page, "models")) == ("unavailable", "unavailable")
        assert (shown["p95-latency"], shown["cost-per-resolved"]) == ("—", "—")
    if "conversationOutcomes" in QUERY_FIELDS:
        outcomes = dashboard.rest("/conversations/outcomes", params, credential)
        assert shown["durable-resolution-rate"] == pct(outcomes["durable_resolution_rate"])
    else:
        assert shown["durable-resolution-rate"] == "—"


def test_key_figures_equal_the_rest_answers(dashboard: Dashboard, open_page: Any) -> None:
    viewer = token_for(["analytics_viewer"])
    page = open_page()
    open_signed_in(page, dashboard, viewer)
    weight = page.evaluate(
        """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
            .map(e => [e.name, e.transferSize])"""
    )
    static = sum(size for name, size in weight if not name.endswith("/graphql"))
    total = sum(size for _name, size in weight)
    shown_after = page.evaluate("performance.getEntriesByName('key-figures')[0].startTime")
    print(
        f"\ndashboard first load: {static} bytes of page files (gzip), {total} bytes with the data; "
        f"key figures shown {shown_after:.0f} ms after navigation start (target: < 300 KB, < 1 s)"
    )
    assert_every_view_matches(page, dashboard, "7d", "Europe/Berlin", None, viewer)
    choose(page, range_="30d", timezone="America/Sao_Paulo", bot=SUPPORT_BOT)
    assert figures(page) | expected_figures(
        dashboard, {"days": "30", "timezone": "America/Sao_Paulo", "bot_id": SUPPORT_BOT}, viewer
    ) == figures(page)
    screenshot(page, "dashboard-30-days-one-bot")


def test_switching_range_and_bot_updates_every_view(dashboard: Dashboard, open_page: Any) -> None:
    viewer = token_for(["analytics_viewer"])
    page = open_page()
    open_signed_in(page, dashboard, viewer)
    before = figures(page)
    choose(page, range_="90d")
    assert figures(page) != before
    assert_every_view_matches(page, dashboard, "90d", "Europe/Berlin", None, viewer)
    choose(page, bot=SUPPORT_BOT)
    assert_every_view_matches(page, dashboard, "90d", "Europe/Berlin", SUPPORT_BOT, viewer)
    choose(page, range_="today")
    assert len(rows(page, "volume")) in (0, 23, 24, 25)  # hour buckets (a DST day has 23 or 25)
    assert_every_view_matches(page, dashboard, "today", "Europe/Berlin", SUPPORT_BOT, viewer)
    choose(page, range_="month", timezone="Asia/Tokyo", bot="")
    assert_every_view_matches(page, dashboard, "month", "Asia/Tokyo", None, viewer)
    screenshot(page, "dashboard-month-tokyo")


def test_a_custom_range_buckets_by_its_length_and_an_empty_one_says_so(
    dashboard: Dashboard, open_page: Any
) -> None:
    viewer = token_for(["analytics_viewer"])
    page = open_page()
    open_signed_in(page, dashboard, viewer)
    page.select_option("#range", "custom")
    start = (dashboard.loaded_at - timedelta(days=119)).date().isoformat()
    end = dashboard.loaded_at.date().isoformat()
    page.fill("#start-date", start)
    page.fill("#end-date", end)
    settle(page)
    params = {"start_date": start, "end_date": end, "timezone": "Europe/Berlin", "group_by": "week"}
    weeks = dashboard.rest("/conversations/volume", params, viewer)["data"]
    assert [r[1:] for r in rows(page, "volume")] == [
        [str(w["conversations"]), str(w["messages"])] for w in weeks
    ]
    assert page.locator("#empty-range").is_hidden()
    page.fill("#start-date", "2001-01-01")
    page.fill("#end-date", "2001-01-31")
    settle(page)
    assert page.locator("#empty-range").is_visible()
    assert figures(page)["conversations"] == "0"
    assert page.locator("[data-view='volume'] .empty").text_content() == "No data in this range."
    screenshot(page, "dashboard-empty-range")


def change_text(fraction: float | None) -> str:
    if fraction is None:
        return "no comparison"
    shown = f"{fraction * 100:.1f}"
    if float(shown) == 0:
        return "= 0.0% vs previous period"
    return f"▲ +{shown}% vs previous period" if fraction > 0 else f"▼ {shown}% vs previous period"


def test_the_compare_toggle_shows_each_key_figures_change(dashboard: Dashboard, open_page: Any) -> None:
    viewer = token_for(["analytics_viewer"])
    page = open_page()
    open_signed_in(page, dashboard, viewer)
    if "compare" not in FILTER_FIELDS:  # a server without comparisons (API.md section 9) says so
        assert page.locator("#compare").is_disabled()
        assert page.locator("#compare-note").is_visible()
        return
    page.check("#compare")
    settle(page)
    params = {"days": "7", "timezone": "Europe/Berlin", "compare": "previous_period"}
    changes = {
        "conversations": dashboard.rest("/usage", params, viewer)["change"]["total_conversations"],
        "active-users": dashboard.rest("/usage", params, viewer)["change"]["active_users"],
        "resolution-rate": dashboard.rest("/conversations", params, viewer)["change"]["resolution_rate"],
        "escalation-rate": dashboard.rest("/conversations", params, viewer)["change"]["escalation_rate"],
        "fallback-rate": dashboard.rest("/conversations", params, viewer)["change"]["fallback_rate"],
        "csat": dashboard.rest("/engagement/satisfaction", params, viewer)["change"]["csat"],
    }
    if "performance" in QUERY_FIELDS:
        performance = dashboard.rest("/performance", params, viewer)["change"]
        changes["p95-latency"] = performance["p95_latency_ms"]
        changes["cost-per-resolved"] = performance["cost_per_resolved_conversation"]
    shown = dict(
        page.evaluate(
            """() => [...document.querySelectorAll('.figure')].map(
                f => [f.id.replace('figure-', ''), f.querySelector('.figure-change').textContent])"""
        )
    )
    assert {key: shown[key] for key in changes} == {key: change_text(value) for key, value in changes.items()}
    screenshot(page, "dashboard-compare")


def _conversation_now(bot: str, at: datetime, ended: bool = False) -> list[dict[str, Any]]:
    conv, user = str(uuid.uuid4()), str(uuid.uuid4())
    base = {"conversation_id": conv, "bot_id": bot, "user_id": user}
    events: list[dict[str, Any]] = [
        {"id": str(uuid.uuid4()), "type": "conversation_started", "timestamp": iso(at), **base},
        {"id": str(uuid.uuid4()), "type": "message", "role": "user", "timestamp": iso(at), **base},
    ]
    if ended:
        end = {
            "type": "conversation_ended",
            "resolution": "resolved",
            "timestamp": iso(at + timedelta(seconds=5)),
        }
        events.append({"id": str(uuid.uuid4()), **end, **base})
    return events


def test_events_ingested_raise_the_live_tile_within_two_pushes(dashboard: Dashboard, open_page: Any) -> None:
    bot = str(uuid.uuid4())
    now = datetime.now(UTC)
    dashboard.ingest(
        _conversation_now(bot, now - timedelta(hours=2), ended=True)
    )  # the bot is in the selector
    page = open_page()
    open_signed_in(page, dashboard, token_for(["analytics_viewer"]), "?interval=1")
    choose(page, bot=bot)
    page.wait_for_selector("#card-live[data-state='live']", state="attached")
    page.locator("#live-sessions").filter(has_text="0").wait_for()
    dashboard.ingest([e for _ in range(3) for e in _conversation_now(bot, datetime.now(UTC))])
    pushes = int(page.evaluate("document.getElementById('card-live').dataset.pushes"))
    page.wait_for_selector(
        f"#card-live:not([data-pushes='{pushes}']):not([data-pushes='{pushes + 1}'])", state="attached"
    )
    assert page.locator("#live-sessions").text_content() == "3"
    assert page.locator("#live-started").text_content() == "3"
    assert page.locator("#live-status").text_content() == "Live"


def test_a_lost_websocket_shows_reconnecting_and_comes_back(dashboard: Dashboard, open_page: Any) -> None:
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()  # the page's socket, passed through to the real server
        sockets.append(socket)

    page = open_page()
    page.route_web_socket(re.compile(r".*/graphql$"), through)
    open_signed_in(page, dashboard, token_for(["analytics_viewer"]), "?interval=1")
    page.wait_for_selector("#card-live[data-state='live']", state="attached")
    sockets[0].close(code=1011, reason="lost")  # as a network loss or a restart looks to the page
    page.wait_for_selector("#card-live[data-state='reconnecting']", state="attached")
    assert (page.locator("#live-status").text_content() or "").startswith("Reconnecting")
    screenshot(page, "dashboard-reconnecting")
    page.wait_for_selector("#card-live[data-state='live']", state="attached")
    assert len(sockets) == 2


def test_an_expired_token_shows_the_sign_in_message(dashboard: Dashboard, open_page: Any) -> None:
    expired = token_for(
        ["analytics_viewer"],
        iat=datetime.now(UTC) - timedelta(hours=1),
        exp=datetime.now(UTC) - timedelta(minutes=1),
    )
    page = open_page()
    page.goto(f"{dashboard.base_url}/dashboard#token={expired}")
    message = page.locator("#signin-message")
    message.wait_for()
    assert "expired" in (message.text_content() or "")
    assert page.locator("#credential").is_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert "#" not in page.url and expired not in page.url
    screenshot(page, "dashboard-expired")


def test_a_revoked_key_signs_the_page_out(dashboard: Dashboard, open_page: Any) -> None:
    key = dashboard.server.cli("apikey", "create", "--name", "revoked", "--role", "analytics_viewer").split()[
        -1
    ]
    key_id = dashboard.server.cli("apikey", "list").splitlines()[-1].split("\t")[0]
    page = open_page()
    page.goto(f"{dashboard.base_url}/dashboard?interval=1")
    page.fill("#credential", key)  # signed in by pasting the key
    page.press("#credential", "Enter")
    page.wait_for_selector(LOADED, state="attached")
    dashboard.server.cli("apikey", "revoke", key_id)
    message = page.locator("#signin-message")
    message.wait_for()  # the live feed's next push is refused (4401): no click needed
    assert "revoked" in (message.text_content() or "")


def test_a_bot_scoped_key_sees_only_its_bot(dashboard: Dashboard, open_page: Any) -> None:
    created = dashboard.server.cli(
        "apikey", "create", "--name", "support only", "--role", "analytics_viewer", "--bot", SUPPORT_BOT
    )
    key = created.split()[-1]
    page = open_page()
    page.goto(f"{dashboard.base_url}/dashboard")
    page.fill("#credential", key)
    page.click("button[type=submit]")
    page.wait_for_selector(LOADED, state="attached")
    options = page.evaluate("[...document.querySelectorAll('#bot option')].map(o => o.value)")
    assert options == ["", SUPPORT_BOT]
    assert_every_view_matches(page, dashboard, "7d", "Europe/Berlin", None, key)
    assert key not in page.url


def test_the_sign_in_link_of_the_cli_signs_in_and_leaves_the_address_bar(
    dashboard: Dashboard, open_page: Any
) -> None:
    link = dashboard.server.cli("token", "--dashboard").strip()
    token = link.split("#token=", 1)[1]
    page = open_page()
    page.goto(link)
    page.wait_for_selector(LOADED, state="attached")
    assert page.url == f"{dashboard.base_url}/dashboard"
    assert page.evaluate("sessionStorage.getItem('bot-analytics.credential')") == token
    page.wait_for_selector("#card-live[data-state='live']", state="attached")
    screenshot(page, "dashboard-desktop")


def test_a_phone_width_page_has_no_horizontal_scroll(dashboard: Dashboard, open_page: Any) -> None:
    page = open_page(width=390, height=844)
    open_signed_in(page, dashboard, token_for(["analytics_viewer"]))
    for range_ in ("7d", "90d"):
        choose(page, range_=range_)
        for details in page.locator("details.as-table").all():
            details.locator("summary").click()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "dashboard-phone")


def test_every_control_is_reachable_by_keyboard(dashboard: Dashboard, open_page: Any) -> None:
    page = open_page()
    open_signed_in(page, dashboard, token_for(["analytics_viewer"]))
    reached: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    controls = {"range", "timezone", "bot", "sign-out"}
    if page.locator("#compare").is_enabled():  # disabled where the server cannot compare
        controls.add("compare")
    assert controls <= set(reached)
    page.focus("#range")
    page.keyboard.press("ArrowUp")  # from "Last 7 days" to "Today", without a pointer
    settle(page)
    assert len(rows(page, "volume")) in (0, 23, 24, 25)
