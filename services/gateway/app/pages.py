"""Pages of a list use case (the scheme: services/gateway/domain/pages.py): one more row than asked is
read, which tells whether another page follows without counting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.gateway.domain.pages import DEFAULT_PAGE_SIZE, PageCursor, check_page_size

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    page_size: int = DEFAULT_PAGE_SIZE
    page_token: str | None = None

    def start(self, filters: str, parts: int) -> tuple[str, ...] | None:
        """The sort key the page starts after (None: the first page); InvalidInput for a bad request."""
        check_page_size(self.page_size)
        if self.page_token is None:
            return None
        return PageCursor.decode(self.page_token, filters, parts).key

    @property
    def limit(self) -> int:
        return self.page_size + 1


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None


def page_of(
    rows: list[T], request: PageRequest, filters: str, key: Callable[[T], tuple[str, ...]]
) -> Page[T]:
    """The page of `rows` (read with request.limit) and the token of the next one."""
    items = rows[: request.page_size]
    if len(rows) <= request.page_size:
        return Page(items, None)
    return Page(items, PageCursor(key(items[-1]), filters).encode())
