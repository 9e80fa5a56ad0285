"""GoRest's page numbers and `X-Pagination-*` headers: the default style."""

from __future__ import annotations

from collections.abc import Iterator

from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators.base import (
    CrawlProofs,
    LoopGuard,
    Page,
    PageRequest,
    PageResponse,
    Resumable,
)
from users_pipeline.http.transport import int_header
from users_pipeline.settings import (
    GOREST_DEFAULT_PAGE_SIZE,
    GOREST_MAX_PAGE_SIZE,
    SettingNames,
)


class GoRestPaginator(Resumable):
    """GoRest's page numbers: `page` from 1 and `per_page` (1..GOREST_MAX_PAGE_SIZE; above it
    GoRest silently serves GOREST_DEFAULT_PAGE_SIZE), with the list's facts in `X-Pagination-*`
    headers. The last page is the one numbered `X-Pagination-Pages`; without that header, a
    short page (fewer records than the limit it was served with)."""

    style = "gorest"
    resume_fields = ("_number", "_page_count", "has_next_page")

    def __init__(self, page_size: int, names: SettingNames) -> None:
        if not 1 <= page_size <= GOREST_MAX_PAGE_SIZE:
            raise ApiError(
                f"{names('api.page_size')} must be between 1 and {GOREST_MAX_PAGE_SIZE}, got"
                f" {page_size} (GoRest silently serves {GOREST_DEFAULT_PAGE_SIZE} records per"
                f" page above {GOREST_MAX_PAGE_SIZE})"
            )
        self.page_size = page_size
        self.proofs = CrawlProofs(
            page_size, served_page_size_from="X-Pagination-Limit", states_total=True
        )
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
