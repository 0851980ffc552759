"""`outcome_days` and the recontact flags of `conversations` (API.md section 9's outcomes), kept by a
group's transaction.

A conversation adds to the row of its start day (its outcome, and whether a resolved one was
recontacted) and, once rated, to the row of its kept rating's day. Its old contribution (as loaded)
is taken away and its new one added, like `conv_slots`.

The recontact flag of a conversation depends on the other conversations of its user and bot: it is
recomputed by one statement for every conversation of the users whose conversations started, ended,
moved their start or got their user or bot in this group (so the flag is right whatever order the
events arrive in: a later conversation before the earlier one's end, a start moved by a late
`conversation_started`). The rows whose flag flips come back and move their rollup counts.
"""

from __future__ import annotations

from typing import Any

from app.ingest.fold import Conv
from app.ingest.steps import Query, Rows, Steps, add_rows, chunks, marks
from app.models import DAY_US, OUTCOME_COLUMNS, RECONTACT_US

__all__ = ["affects_recontacts", "apply_outcome_days", "outcome_contribution"]

_KEY = ("day", "bot_id", "channel", "reason")
_Contribution = list[tuple[tuple[int, int, str, str], list[int]]]
_STATE = (0, 1, 2, 8)
"""Positions in `statements.CONV_NAMES` of what a recontact flag depends on: bot, user, start, end."""


def _outcome_values(resolution: str | None, recontacted: int) -> list[int]:
    """A conversation's columns of `outcome_days` (`OUTCOME_COLUMNS` order, ratings 0)."""
    resolved = resolution == "resolved"
    return [
        1,
        int(resolved),
        int(resolution == "escalated"),
        int(resolution == "abandoned"),
        int(resolution is None),
        int(resolved and recontacted == 1),
        0,
        0,
        0,
    ]


def outcome_contribution(c: Conv, bot_id: int | None) -> _Contribution:
    """What a conversation adds to `outcome_days`: its start day's row and its kept rating's day's row."""
    if bot_id is None:
        return []
    resolution = c.resolution if c.end_us is not None else None
    reason = (c.reason or "") if resolution == "escalated" else ""
    out: _Contribution = [
        ((c.started_us // DAY_US, bot_id, c.channel, reason), _outcome_values(resolution, c.recontacted))
    ]
    if c.rating_us is not None and c.rating_score is not None:
        score = c.rating_score
        out.append(((c.rating_us // DAY_US, bot_id, c.channel, ""), [0] * 6 + [1, score, int(score >= 4)]))
    return out


def affects_recontacts(values: list[Any], stored: tuple[Any, ...]) -> bool:
    """Whether a conversation's new row (`statements.CONV_NAMES` order) can change recontact flags:
    its bot, user, start or end changed (a new conversation has no stored row)."""
    return not stored or any(values[i] != stored[i] for i in _STATE)


def _add(deltas: dict[tuple[int, int, str, str], list[int]], contribution: _Contribution, sign: int) -> None:
    for key, values in contribution:
        acc = deltas.setdefault(key, [0] * len(OUTCOME_COLUMNS))
        for i, v in enumerate(values):
            acc[i] += sign * v


def apply_outcome_days(touched: list[Conv], bot_ids: dict[str, int], users: list[int]) -> Steps[Rows | None]:
    """Recompute the recontact flags of `users`' conversations (after `conversations` is written);
    return the upsert that adds to `outcome_days` the touched conversations' moves and the flags
    that flipped (for the caller to send with other writes)."""
    deltas: dict[tuple[int, int, str, str], list[int]] = {}
    for c in touched:
        _add(deltas, c.stored_outcomes, -1)
        _add(deltas, outcome_contribution(c, bot_ids[c.bot] if c.bot else None), 1)
    if users:
        # Only rows whose flag changes are written; their new flag and rollup key come back. The
        # touched ones above carried their flag as loaded, so a flip is a move of one count.
        flipped = yield from _recompute_flags(users)
        for r in flipped:
            if r["resolution"] == "resolved":
                key = (int(r["started_us"]) // DAY_US, int(r["bot_id"]), str(r["channel"]), "")
                sign = 1 if int(r["recontacted"]) == 1 else -1
                _add(deltas, [(key, [0, 0, 0, 0, 0, 1, 0, 0, 0])], sign)
    rows = [[*key, *values] for key, values in sorted(deltas.items()) if any(values)]
    return add_rows("outcome_days", _KEY, OUTCOME_COLUMNS, rows) if rows else None


_AGAIN = (
    "CASE WHEN end_us IS NOT NULL AND EXISTS (SELECT 1 FROM conversations d "
    "WHERE d.user_id = conversations.user_id AND d.bot_id = conversations.bot_id "
    "AND d.id <> conversations.id AND d.started_us > conversations.end_us "
    f"AND d.started_us <= conversations.end_us + {RECONTACT_US}) THEN 1 ELSE 0 END"
)
"""A conversation's recontact flag as it should be (API.md section 9), from its user's conversations."""


def _recompute_flags(users: list[int]) -> Steps[list[dict[str, Any]]]:
    """Set every flag of these users' conversations right; the rows that changed come back."""
    out: list[dict[str, Any]] = []
    for chunk in chunks(users):
        rows = yield Query(
            "UPDATE conversations SET recontacted = 1 - recontacted WHERE bot_id IS NOT NULL "
            f"AND user_id IN ({marks(len(chunk))}) AND recontacted <> ({_AGAIN}) "
            "RETURNING started_us, bot_id, channel, resolution, recontacted",
            list(chunk),
        )
        out += rows or []
    return out
