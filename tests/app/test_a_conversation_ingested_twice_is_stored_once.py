"""One conversation ingested, then its start again: the events are stored once and folded into one row."""

import uuid
from datetime import UTC, datetime

from app.auth import Principal
from app.db import connection
from app.ingest import ingest_events

ADMIN = Principal(subject="t", roles=frozenset({"admin"}))


async def test_smoke(db: str) -> None:
    b, u, c = (str(uuid.uuid4()) for _ in range(3))
    evs = [
        {
            "id": str(uuid.uuid4()),
            "type": "conversation_started",
            "timestamp": "2025-01-01T10:00:00Z",
            "conversation_id": c,
            "bot_id": b,
            "user_id": u,
        },
        {
            "type": "message",
            "role": "user",
            "timestamp": "2025-01-01T10:01:00Z",
            "conversation_id": c,
            "bot_id": b,
            "user_id": u,
        },
        {
            "type": "conversation_ended",
            "resolution": "resolved",
            "timestamp": "2025-01-01T10:05:00Z",
            "conversation_id": c,
        },
    ]
    r = await ingest_events(evs, ADMIN, now=datetime(2025, 1, 2, tzinfo=UTC))
    assert (r.accepted, r.duplicates) == (3, 0)
    r = await ingest_events(evs[:1], ADMIN, now=datetime(2025, 1, 2, tzinfo=UTC))
    assert (r.accepted, r.duplicates) == (0, 1)
    rows = await connection().execute_query_dict("select * from conversations")
    assert rows[0]["messages"] == 1 and rows[0]["resolution"] == "resolved"
