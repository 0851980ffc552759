"""The core's one UUID normalisation and its integer bounds."""

from __future__ import annotations

import pytest

from app.errors import InvalidParameter
from app.vocabulary import DAYS, REPORT_LIMIT, WINDOW_MINUTES, normalise_uuid

CANONICAL = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    "given",
    [
        CANONICAL,
        CANONICAL.upper(),
        "{" + CANONICAL + "}",
        CANONICAL.replace("-", ""),
        "urn:uuid:" + CANONICAL,
    ],
)
def test_every_spelling_of_a_uuid_becomes_the_canonical_one(given: str) -> None:
    assert normalise_uuid(given, "bot_id") == CANONICAL


@pytest.mark.parametrize("given", ["", "zzz", CANONICAL + "0", CANONICAL[:-1]])
def test_anything_else_is_a_400_naming_the_field(given: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        normalise_uuid(given, "user_id")
    assert info.value.details == [{"field": "user_id"}]
    assert info.value.message == "user_id must be a UUID"


def test_bounds_accept_their_ends_and_reject_beyond_them() -> None:
    assert (DAYS.check(1), DAYS.check(3660)) == (1, 3660)
    assert WINDOW_MINUTES.check(None) == 5
    assert REPORT_LIMIT.check(None) == 20
    for bounds, bad in ((DAYS, 0), (DAYS, 3661), (WINDOW_MINUTES, 61), (REPORT_LIMIT, 101), (DAYS, True)):
        with pytest.raises(InvalidParameter) as info:
            bounds.check(bad)
        assert info.value.details == [{"field": bounds.field}]
    with pytest.raises(InvalidParameter, match="days must be an integer from 1 to 3660"):
        DAYS.check(None)
