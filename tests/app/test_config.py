"""Settings that refuse what they cannot use, at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_the_log_level_is_read_in_any_case() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"


def test_an_unknown_log_level_is_refused() -> None:
    with pytest.raises(ValidationError, match="log_level must be one of"):
        Settings(log_level="loud")
