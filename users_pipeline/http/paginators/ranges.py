"""Styles that compute each request: page numbers and offsets, in dlt's vocabulary."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping

from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators.base import (
    CrawlProofs,
    Page,
    PageRequest,
    PageResponse,
    Resumable,
    optional_path,
    setting,
    stated,
    stated_bool,
    stated_int,
)
from users_pipeline.settings import (
    SettingNames,
)


class RangePaginator(Resumable):
    """A number in the query that steps by a fixed amount per page (a page number, an offset).
    The last page is the first of: an empty page (`stop_after_empty_page`), the stated total
    reached (`total_path`), the maximum reached, a false `has_more_path`. The loop guard: a page
    with the same records as an earlier one means the API ignores the number."""

    resume_fields = ("_value", "_end", "_number", "has_next_page")

    def __init__(
        self,
        names: SettingNames,
        *,
        param: str,
        start: int,
        step: int,
        total_path: str | None,
        total_counts_pages: bool,
        end_offset: int,
        maximum: tuple[str, int | None],
        stop_after_empty_page: bool,
        has_more_path: str | None,
        fixed: Mapping[str, int | str],
    ) -> None:
        maximum_key, self._maximum = maximum
        rules = (total_path, self._maximum, has_more_path, stop_after_empty_page or None)
        if all(rule is None for rule in rules):
            raise ApiError(
                f"{names('api.paginator')} {self.style} has no rule for the last page: set"
                f" total_path, {maximum_key}, has_more_path or stop_after_empty_page: true"
            )
        self._param, self._step, self._fixed = param, step, dict(fixed)
        self._start = self._value = start
        self._total_path = optional_path(total_path, names, "total_path")
        self._has_more_path = optional_path(has_more_path, names, "has_more_path")
        self._total_counts_pages = total_counts_pages
        self._end_offset = end_offset  # the value at the end of a list of `total`
        self._stop_after_empty_page = stop_after_empty_page
        self._end: int | None = None  # the value at the end of the list, once stated
        self._number = 0
        self._first_served: dict[Hashable, int] = {}  # a page's fingerprint: the value it had
        self.has_next_page = True

    def first_request(self) -> PageRequest:
        return self._request(self._value)

    def update_state(self, response: PageResponse) -> Page:
        records, value = response.records, self._value
        self._number += 1
        self._refuse_a_repeat(records, value)
        # The empty page that ends the list need not state the rest (as in dlt).
        empty_end = self._stop_after_empty_page and not records
        total = stated(self._total_path, response.body, stated_int, required=not empty_end)
        if total is not None:
            self._end = total + self._end_offset
        self._value += self._step
        ends = [end for end in (self._end, self._maximum) if end is not None]
        has_more = stated(self._has_more_path, response.body, stated_bool, not empty_end)
        is_last = empty_end or any(self._value >= end for end in ends) or has_more is False
        self.has_next_page = not is_last
        if self._total_counts_pages:
            return Page(self._number, records, is_last, page_count=self._pages(total))
        return Page(self._number, records, is_last, total=total)

    def next_request(self) -> PageRequest:
        return self._request(self._value)

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        if self._end is None or not self.has_next_page:
            return None
        end = self._end if self._maximum is None else min(self._end, self._maximum)
        return map(self._request, range(self._value, end, self._step))

    def _pages(self, total: int | None) -> int | None:
        """The pages this crawl takes, from the stated page count and its first page."""
        return None if total is None else max(0, total + self._end_offset - self._start)

    def _refuse_a_repeat(self, records: list, value: int) -> None:
        if not records:
            return
        fingerprint = (len(records), repr(records[0]), repr(records[-1]))
        first = self._first_served.setdefault(fingerprint, value)
        if first != value:
            raise ApiError(
                f"{self._param}={value} served the records of {self._param}={first} again:"
                f" the API ignores {self._param}, the pagination loops"
            )

    def _request(self, value: int) -> PageRequest:
        return PageRequest({**self._fixed, self._param: value}, f"{self._param} {value}")


class PageNumberPaginator(RangePaginator):
    """Page numbers from `page` (else `base_page`, the API's first page) in `page_param`.
    `total_path` states the number of pages, as in dlt."""

    style = "page_number"

    def __init__(
        self,
        names: SettingNames,
        *,
        base_page: int = 0,
        page: int | None = None,
        page_param: str = "page",
        total_path: str | None = "total",
        maximum_page: int | None = None,
        stop_after_empty_page: bool = True,
        has_more_path: str | None = None,
    ) -> None:
        super().__init__(
            names,
            param=page_param,
            start=base_page if page is None else page,
            step=1,
            total_path=total_path,
            total_counts_pages=True,
            end_offset=base_page,
            maximum=("maximum_page", maximum_page),
            stop_after_empty_page=stop_after_empty_page,
            has_more_path=has_more_path,
            fixed={},
        )
        counted = total_path and f"{setting(names, 'total_path')} {total_path!r}"
        self.proofs = CrawlProofs(None, page_count_from=counted)


class OffsetPaginator(RangePaginator):
    """Record offsets from `offset` in `offset_param`, `limit` records a page in `limit_param`.
    `total_path` states the number of records, so the crawl can prove it saw them all."""

    style = "offset"

    def __init__(
        self,
        names: SettingNames,
        *,
        limit: int,
        offset: int = 0,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: str | None = "total",
        maximum_offset: int | None = None,
        stop_after_empty_page: bool = True,
        has_more_path: str | None = None,
    ) -> None:
        if limit < 1:
            raise ApiError(f"{setting(names, 'limit')} must be at least 1, got {limit}")
        super().__init__(
            names,
            param=offset_param,
            start=offset,
            step=limit,
            total_path=total_path,
            total_counts_pages=False,
            end_offset=0,
            maximum=("maximum_offset", maximum_offset),
            stop_after_empty_page=stop_after_empty_page,
            has_more_path=has_more_path,
            fixed={limit_param: limit},
        )
        self.proofs = CrawlProofs(limit, states_total=total_path is not None)
