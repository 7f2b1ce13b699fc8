"""Pages of a tenant's delivery log: newest first (created_at, then delivery_id, both descending), each
page starting after the last delivery of the one before it, which an opaque cursor names.

A cursor is only a place in that order: the log it is used on is always the asking tenant's, so a
cursor carried over from another tenant (or forged) shows nothing but the asker's own deliveries.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from services.metering.domain.errors import RejectedInput

_MAX_DELIVERY_ID = 2**63 - 1  # bigserial


class InvalidCursor(RejectedInput):
    code = "invalid_cursor"


@dataclass(frozen=True)
class DeliveryKey:
    """Where a delivery sits in the log's order."""

    created_at: datetime
    delivery_id: int


def encode_cursor(key: DeliveryKey) -> str:
    raw = json.dumps([key.created_at.isoformat(), key.delivery_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> DeliveryKey:
    """The key a cursor of encode_cursor names; InvalidCursor for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, delivery_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(moment, str) or type(delivery_id) is not int:
            raise ValueError("not [timestamp, delivery id]")
        if not 1 <= delivery_id <= _MAX_DELIVERY_ID:
            raise ValueError("delivery id out of range")
        created_at = datetime.fromisoformat(moment)
        if created_at.tzinfo is None:
            raise ValueError("no offset")
        # In UTC here: a forged year 1 or 9999 with an offset would overflow in the database driver.
        return DeliveryKey(created_at.astimezone(UTC), delivery_id)
    except (binascii.Error, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise InvalidCursor("is not a cursor of this delivery log") from error
