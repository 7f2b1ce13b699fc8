"""Keyset pages, one scheme for every list: `page_size` and an opaque `page_token` in, `next_page_token`
out (null on the last page). A token holds where the next page starts (the last item's sort key) and a
digest of the listing and its filters, so it is not replayed against another listing."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.gateway.domain.errors import InvalidInput
from shared.events.text import json_text_problems

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput.one("page_size", f"must be between 1 and {MAX_PAGE_SIZE}", "query")


def encode_token(data: dict[str, Any]) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, filters: str) -> dict[str, Any]:
    """The token's data, once it is known to be ours and to belong to a listing with `filters`."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        issued_for = str(data["f"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise InvalidInput.one("page_token", "is not a page token issued by this API", "query") from error
    if issued_for != filters:
        raise InvalidInput.one(
            "page_token", "belongs to a listing with other filters; start again without it", "query"
        )
    if any(json_text_problems(data)):  # forged: its key would reach the database as text
        raise InvalidInput.one("page_token", "is not a page token issued by this API", "query")
    return dict(data)


def key_time(part: str) -> datetime:
    """A timestamp part of a sort key, as the token carries it (isoformat)."""
    try:
        moment = datetime.fromisoformat(part)
        if moment.tzinfo is None:
            raise ValueError("no offset")
        # In UTC here: a forged year 1 or 9999 with an offset would overflow in the database driver.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidInput.one("page_token", "is not a page token issued by this API", "query") from error


@dataclass(frozen=True)
class PageCursor:
    """After the item whose sort key is `key` (its parts as text), in the listing's order."""

    key: tuple[str, ...]
    filters: str

    def encode(self) -> str:
        return encode_token({"k": list(self.key), "f": self.filters})

    @classmethod
    def decode(cls, token: str, filters: str, parts: int) -> PageCursor:
        key = decode_token(token, filters).get("k")
        if not isinstance(key, list) or len(key) != parts or not all(isinstance(p, str) for p in key):
            raise InvalidInput.one("page_token", "is not a page token issued by this API", "query")
        return cls(tuple(key), filters)
