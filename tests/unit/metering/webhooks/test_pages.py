"""Cursors of the delivery log (domain/pages.py): they round trip, and anything forged is InvalidCursor
(never a value that would overflow in the database driver)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.metering.webhooks.domain.pages import DeliveryKey, InvalidCursor, decode_cursor, encode_cursor


def forged(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_in_utc() -> None:
    key = DeliveryKey(datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), 42)
    assert decode_cursor(encode_cursor(key)) == key
    shifted = DeliveryKey(datetime(2026, 3, 1, 14, tzinfo=timezone(timedelta(hours=2))), 7)
    assert decode_cursor(encode_cursor(shifted)) == DeliveryKey(datetime(2026, 3, 1, 12, tzinfo=UTC), 7)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "",
        forged(["2026-01-01T00:00:00+00:00"]),
        forged(["2026-01-01T00:00:00+00:00", "7"]),
        forged(["2026-01-01T00:00:00+00:00", True]),
        forged(["2026-01-01T00:00:00+00:00", 0]),
        forged(["2026-01-01T00:00:00+00:00", 2**63]),
        forged(["2026-01-01T00:00:00", 7]),  # no offset
        forged(["0001-01-01T00:00:00+05:00", 7]),  # before year 1 in UTC
        forged(["soon", 7]),
        forged({"c": "2026-01-01T00:00:00+00:00", "d": 7}),
        forged([[[[]]], 7]),
    ],
)
def test_a_forged_cursor_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
