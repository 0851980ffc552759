"""A JWT is verified once per process and kept (app/auth.py): what a caller notices is only that
a kept token still expires on time, and is judged again when the settings that judged it change."""

from __future__ import annotations

import types

import pytest

import app.auth
from app.auth import authenticate
from app.config import get_settings
from app.errors import InvalidToken
from tests.factories import token_for


async def test_a_kept_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = token_for(["analytics_viewer"])
    settings = get_settings()
    first = await authenticate(None, f"Bearer {token}", settings)
    assert await authenticate(None, f"Bearer {token}", settings) == first
    assert first.expires_at is not None
    expires_at = first.expires_at
    monkeypatch.setattr(app.auth, "time", types.SimpleNamespace(time=lambda: expires_at))
    with pytest.raises(InvalidToken, match="expired"):
        await authenticate(None, f"Bearer {token}", settings)


async def test_a_kept_token_is_judged_again_under_other_settings() -> None:
    token = token_for(["analytics_viewer"])
    settings = get_settings()
    await authenticate(None, f"Bearer {token}", settings)
    rotated = settings.model_copy(update={"jwt_secret": "another-secret-" + "y" * 40})
    with pytest.raises(InvalidToken):
        await authenticate(None, f"Bearer {token}", rotated)
    other_audience = settings.model_copy(update={"jwt_audience": "someone-else"})
    with pytest.raises(InvalidToken, match="audience"):
        await authenticate(None, f"Bearer {token}", other_audience)
