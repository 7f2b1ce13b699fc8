"""Page tokens: round trip, bound to their listing, and a forged key never reaches the store."""

from __future__ import annotations

import base64
import json

import pytest

from services.gateway.domain.errors import InvalidInput
from services.gateway.domain.pages import PageCursor, key_time
from services.gateway.domain.requests import JobPageCursor, listing_filters


def forged(data: dict[str, object]) -> str:
    """A token as a client could make one: JSON (lone surrogates escaped) in unpadded base64url."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_within_its_listing() -> None:
    filters = listing_filters("invoices", "tnt_a", None)
    cursor = PageCursor(("2026-01", "tnt_a", "inv_1"), filters)
    assert PageCursor.decode(cursor.encode(), filters, 3) == cursor
    with pytest.raises(InvalidInput):
        PageCursor.decode(cursor.encode(), listing_filters("nodes"), 3)


@pytest.mark.parametrize("key", [["a\x00"], ["\ud800"], [1], ["a", "b"]])
def test_a_forged_key_is_refused_as_a_bad_page_token(key: list[object]) -> None:
    filters = listing_filters("nodes")
    with pytest.raises(InvalidInput) as caught:
        PageCursor.decode(forged({"k": key, "f": filters}), filters, 1)
    assert caught.value.errors[0].field == "page_token"


def test_a_forged_job_token_with_a_nul_is_refused() -> None:
    filters = listing_filters(None, None, None)
    token = forged({"c": "2026-01-01T00:00:00+00:00", "j": "job\x00", "f": filters})
    with pytest.raises(InvalidInput):
        JobPageCursor.decode(token, filters)


@pytest.mark.parametrize("part", ["0001-01-01T00:00:00+05:00", "2026-01-01T00:00:00", "soon"])
def test_a_forged_timestamp_is_a_bad_page_token_not_a_driver_overflow(part: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        key_time(part)
    assert caught.value.errors[0].field == "page_token"


def test_an_issued_timestamp_reads_back_in_utc() -> None:
    assert key_time("2026-03-01T12:00:00+02:00").isoformat() == "2026-03-01T10:00:00+00:00"
