"""A live server with demo data (app/demo.py, a smaller cut) and Debian's Chromium driven by Playwright.

No browser is downloaded: Chromium is /usr/bin/chromium (`.ci/run` installs the `chromium` package
when it is missing). Without it the browser tests are skipped, except under CI=true, where they fail.
Every console error or uncaught exception of a page fails the test that opened it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from app.demo import DEMO_BOTS, demo_events
from tests.factories import token_for
from tests.live_server import LiveServer, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
A = "/api/v1/analytics"
SUPPORT_BOT = DEMO_BOTS["support-bot"]


@dataclass
class Dashboard:
    server: LiveServer
    loaded_at: datetime

    @property
    def base_url(self) -> str:
        return f"http://{self.server.address}"

    def rest(self, path: str, params: dict[str, str], credential: str) -> Any:
        headers = (
            {"X-API-Key": credential}
            if credential.startswith("ba_")
            else {"Authorization": f"Bearer {credential}"}
        )
        r = httpx.get(self.base_url + A + path, params=params, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def ingest(self, events: list[dict[str, Any]]) -> None:
        headers = {"Authorization": "Bearer " + token_for(["admin"])}
        for i in range(0, len(events), 1000):
            r = httpx.post(
                self.base_url + A + "/events",
                json={"events": events[i : i + 1000]},
                headers=headers,
                timeout=60,
            )
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with live_server(Path(tmp_path_factory.mktemp("dashboard"))) as server:
        running = Dashboard(server, datetime.now(UTC))
        # The demo data of `bot-analytics dev`, cut to ~12,000 events: 90 days, four bots.
        running.ingest(list(demo_events(now=running.loaded_at, days=90, users=150, per_day=15)))
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Console:
    errors: list[str] = field(default_factory=list)

    def __call__(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} ({message.location})")


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    """`open_page(width=1280, height=800)`: a fresh context (own session storage) in Europe/Berlin."""
    pages: list[tuple[Page, Console]] = []

    def make(width: int = 1280, height: int = 800, timezone: str = "Europe/Berlin") -> Page:
        context = browser.new_context(viewport={"width": width, "height": height}, timezone_id=timezone)
        page = context.new_page()
        console = Console()
        page.on("console", console)
        page.on("pageerror", lambda error: console.errors.append(f"uncaught: {error}"))
        pages.append((page, console))
        return page

    yield make
    errors = [e for _page, console in pages for e in console.errors]
    for page, _console in pages:
        page.context.close()
    assert errors == [], "\n".join(errors)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
