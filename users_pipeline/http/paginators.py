"""Pagination styles, one small class each: how a crawl asks for its pages and knows the last.

The page loop (`client.RestClient`) knows no style. It asks the paginator for the first request,
lets each response update the paginator's state, in page order, and asks for the next request
while the paginator has a next page; a style that knows every later request from the first
response (`requests_ahead`) lets the loop fetch them concurrently. The shape is dlt's
(`rest_client/paginators.py`); the loop guard is the Singer SDK's `BaseAPIPaginator.advance`.
Each style also says what it lets the crawl audit prove (`CrawlProofs`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from users_pipeline.http.errors import ApiError
from users_pipeline.http.transport import int_header
from users_pipeline.settings import GOREST_DEFAULT_PAGE_SIZE, GOREST_MAX_PAGE_SIZE, SettingNames


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What one request asks: its query parameters, and how messages name it ("page 17")."""

    params: dict[str, int | str]
    label: str


@dataclass(frozen=True, slots=True)
class PageResponse:
    """A page's response as a paginator reads it: its headers and the records of its body."""

    headers: Mapping[str, str]
    records: list


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, with what the API stated about it, as its style reads them."""

    number: int  # its place in the crawl, from 1
    records: list[dict]
    is_last: bool  # the style's one rule for the end of the list
    total: int | None = None  # records in the whole list, where the API states it
    page_count: int | None = None  # pages in the whole list, where the API states it
    served_page_size: int | None = None  # the page size the API says it served


@dataclass(frozen=True)
class CrawlProofs:
    """What a style lets the crawl audit prove, besides the totals its pages state."""

    # The records asked for per page: every page but the last is full, none larger. None when
    # the API chooses.
    page_size: int | None
    # Where the API states the page size it served, for messages ("X-Pagination-Limit").
    served_page_size_from: str | None = None


class Paginator(Protocol):
    """One crawl's pagination state. A client walks a fresh copy for each crawl."""

    proofs: CrawlProofs

    @property
    def has_next_page(self) -> bool: ...

    def first_request(self) -> PageRequest: ...

    def update_state(self, response: PageResponse) -> Page:
        """The next page of the crawl, from its response; ApiError for a loop."""
        ...

    def next_request(self) -> PageRequest: ...

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        """Every later page's request, when the responses so far tell them all; else None."""
        ...


class LoopGuard:
    """Refuses a page token the API already served in this crawl: an API that serves the same
    page again would otherwise be crawled forever."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._seen: set[Hashable] = set()

    def advance(self, token: Hashable) -> None:
        if token in self._seen:
            raise ApiError(f"{self.name} {token!r} came twice: the pagination loops")
        self._seen.add(token)


class GoRestPaginator:
    """GoRest's page numbers: `page` from 1 and `per_page` (1..GOREST_MAX_PAGE_SIZE; above it
    GoRest silently serves GOREST_DEFAULT_PAGE_SIZE), with the list's facts in `X-Pagination-*`
    headers. The last page is the one numbered `X-Pagination-Pages`; without that header, a
    short page (fewer records than the limit it was served with)."""

    style = "gorest"

    def __init__(self, page_size: int, names: SettingNames) -> None:
        if not 1 <= page_size <= GOREST_MAX_PAGE_SIZE:
            raise ApiError(
                f"{names('api.page_size')} must be between 1 and {GOREST_MAX_PAGE_SIZE}, got"
                f" {page_size} (GoRest silently serves {GOREST_DEFAULT_PAGE_SIZE} records per"
                f" page above {GOREST_MAX_PAGE_SIZE})"
            )
        self.page_size = page_size
        self.proofs = CrawlProofs(page_size, served_page_size_from="X-Pagination-Limit")
        self.has_next_page = True
        self._number = 0  # the last page whose response was read
        self._page_count: int | None = None
        self._served = LoopGuard("X-Pagination-Page")

    def first_request(self) -> PageRequest:
        return self._request(1)

    def update_state(self, response: PageResponse) -> Page:
        headers, records = response.headers, response.records
        self._number += 1
        served = int_header(headers, "X-Pagination-Page")
        if served is not None:
            self._served.advance(served)
        self._page_count = int_header(headers, "X-Pagination-Pages")
        limit = int_header(headers, "X-Pagination-Limit")
        if self._page_count is not None:
            is_last = self._number >= self._page_count
        else:
            is_last = len(records) < (limit or self.page_size)
        self.has_next_page = not is_last
        total = int_header(headers, "X-Pagination-Total")
        return Page(self._number, records, is_last, total, self._page_count, limit)

    def next_request(self) -> PageRequest:
        return self._request(self._number + 1)

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        if self._page_count is None:
            return None
        return map(self._request, range(self._number + 1, self._page_count + 1))

    def _request(self, number: int) -> PageRequest:
        return PageRequest({"page": number, "per_page": self.page_size}, f"page {number}")


# The styles a source can name in its settings, each made from the page size and the names.
PAGINATORS: dict[str, Callable[[int, SettingNames], Paginator]] = {
    GoRestPaginator.style: GoRestPaginator
}


def make_paginator(style: str, page_size: int, names: SettingNames) -> Paginator:
    """The paginator of `style`, by its name in a source's settings."""
    try:
        paginator_class = PAGINATORS[style]
    except KeyError:
        known = ", ".join(sorted(PAGINATORS))
        raise ApiError(
            f"{names('api.paginator')} {style!r} is not a pagination style (known: {known})"
        ) from None
    return paginator_class(page_size, names)
