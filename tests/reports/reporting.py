"""A small hand-built data set with numbers worked out by hand, and helpers to drive reports over HTTP.

Range 2025-01-06 (Monday) to 2025-01-12 (Sunday), UTC. Bot A has conversations 1 and 2, bot B has 3 and 4.

| conv | bot | user | start (UTC)      | channel  | messages (user/bot)   | end                      | rating     |
|------|-----|------|------------------|----------|-----------------------|--------------------------|------------|
| 1    | A   | u1   | Mon 06 10:00     | web      | 4 (2/2, 1 fallback)   | resolved 10:10 (600 s)   | 5 at 10:11 |
| 2    | A   | u2   | Tue 07 09:00     | whatsapp | 2 (1/1)               | escalated 09:05 (300 s)  | 2 at 09:06 |
| 3    | B   | u3   | Wed 08 12:00     | web      | 2 (1/1)               | resolved 12:02:30 (150 s)| 4 at 12:03 |
| 4    | B   | u1   | Thu 09 15:00     | web      | 1 (1/0) at 15:01      | none: abandoned (60 s)   | none       |

All bots: 4 conversations, 9 messages (5 user, 4 bot), 3 active and 3 new users, 2.25 messages per
conversation; resolved 2, escalated 1, abandoned 1 (50.0%, 25.0%, 25.0%); average duration
(600 + 300 + 150 + 60) / 4 = 277.5 s, median 225 s, p90 300 + 0.7 * 300 = 510 s; fallback rate 1/4;
3 ratings averaging 11/3 = 3.67, CSAT 2/3 = 66.7%; daily actives 1, 1, 1, 1, 0, 0, 0 over 7 days: 0.57,
stickiness 0.571 / 3 = 19.0%; 4/3 = 1.33 conversations and 5/3 = 1.67 messages per user.

Insights: intents `refund` (3 messages: 2 user, 1 bot with fallback: 100.0%) and `billing` (1 user
message: fallback rate n/a); bot latencies 400 and 600 (model m1, conv 1), 1000 (m2, conv 2), 200 (m1,
conv 3): average 550.00 ms, p50 500.00 ms, p95 600 + 0.85 * 400 = 940.00 ms, max 1000.00 ms; cost
0.5 + 0.25 + 1.0 = 1.7500, per conversation 1.75 / 4 = 0.4375, per resolved one 1.75 / 2 = 0.8750;
conversation 2's escalation reason `user_request`; both resolutions checked, none recontacted: 100.0%.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.factories import bearer

BOT_A = "aaaaaaaa-0000-4000-8000-000000000001"
BOT_B = "bbbbbbbb-0000-4000-8000-000000000002"
USERS = {
    "u1": "11111111-0000-4000-8000-000000000001",
    "u2": "22222222-0000-4000-8000-000000000002",
    "u3": "33333333-0000-4000-8000-000000000003",
}
RANGE = {"start_date": "2025-01-06", "end_date": "2025-01-12", "timezone": "UTC"}
ADMIN = bearer(["admin"])
REPORTS = "/api/v1/analytics/reports"


def _conv(n: int) -> str:
    return f"c0000000-0000-4000-8000-00000000000{n}"


def _spend(latency_ms: int, model: str, cost: float, tokens: int) -> dict[str, Any]:
    return {"latency_ms": latency_ms, "model": model, "cost": cost, "tokens": tokens}


def dataset() -> list[dict[str, Any]]:
    """The events of the table in this module's docstring."""
    out: list[dict[str, Any]] = []

    def ev(n: int, bot: str, user: str, kind: str, ts: str, **extra: Any) -> None:
        out.append(
            {
                "type": kind,
                "timestamp": f"2025-01-{ts}Z",
                "conversation_id": _conv(n),
                "bot_id": bot,
                "user_id": USERS[user],
                **extra,
            }
        )

    ev(1, BOT_A, "u1", "conversation_started", "06T10:00:00", channel="web")
    ev(1, BOT_A, "u1", "message", "06T10:01:00", role="user", intent="refund")
    ev(
        1,
        BOT_A,
        "u1",
        "message",
        "06T10:02:00",
        role="bot",
        fallback=True,
        intent="refund",
        **_spend(400, "m1", 0.5, 100),
    )
    ev(1, BOT_A, "u1", "message", "06T10:03:00", role="user", intent="refund")
    ev(1, BOT_A, "u1", "message", "06T10:04:00", role="bot", **_spend(600, "m1", 0.25, 50))
    ev(1, BOT_A, "u1", "conversation_ended", "06T10:10:00", resolution="resolved")
    ev(1, BOT_A, "u1", "satisfaction", "06T10:11:00", score=5)
    ev(2, BOT_A, "u2", "conversation_started", "07T09:00:00", channel="whatsapp")
    ev(2, BOT_A, "u2", "message", "07T09:01:00", role="user", intent="billing")
    ev(2, BOT_A, "u2", "message", "07T09:02:00", role="bot", **_spend(1000, "m2", 1.0, 200))
    ev(2, BOT_A, "u2", "conversation_ended", "07T09:05:00", resolution="escalated", reason="user_request")
    ev(2, BOT_A, "u2", "satisfaction", "07T09:06:00", score=2)
    ev(3, BOT_B, "u3", "conversation_started", "08T12:00:00", channel="web")
    ev(3, BOT_B, "u3", "message", "08T12:01:00", role="user")
    ev(3, BOT_B, "u3", "message", "08T12:02:00", role="bot", latency_ms=200, model="m1", tokens=10)
    ev(3, BOT_B, "u3", "conversation_ended", "08T12:02:30", resolution="resolved")
    ev(3, BOT_B, "u3", "satisfaction", "08T12:03:00", score=4)
    ev(4, BOT_B, "u1", "conversation_started", "09T15:00:00", channel="web")
    ev(4, BOT_B, "u1", "message", "09T15:01:00", role="user")
    return out


def files(directory: Path) -> list[Path]:
    """The files in a directory (a plain function: tests are async)."""
    return sorted(directory.iterdir())


async def create(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] = ADMIN
) -> dict[str, Any]:
    r = await client.post(REPORTS, json=body, headers=headers)
    assert r.status_code == 202, r.text
    report: dict[str, Any] = r.json()
    return report


async def wait_done(
    client: httpx.AsyncClient, report_id: str, headers: dict[str, str] = ADMIN, seconds: float = 30.0
) -> dict[str, Any]:
    """Poll the report until it is completed or failed."""
    async with asyncio.timeout(seconds):
        while True:
            r = await client.get(f"{REPORTS}/{report_id}", headers=headers)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            if body["status"] in ("completed", "failed"):
                return body
            await asyncio.sleep(0.05)
